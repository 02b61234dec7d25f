"""Links that leave the app come from the route table, with or without a request."""

from __future__ import annotations

import re
from pathlib import Path

from app.urls import external_url

APP = Path(__file__).resolve().parents[2] / "app"


def test_links_follow_the_base_url_and_its_path_without_a_request(app_ctx):
    saved = app_ctx.config["CARELOOP_BASE_URL"]
    app_ctx.config["CARELOOP_BASE_URL"] = "https://example.org/careloop/"
    try:
        assert external_url("public.my_report", token="abc") == "https://example.org/careloop/r/abc"
        assert external_url("leaders.problem", problem_id=7, _anchor="change") == \
            "https://example.org/careloop/problems/7#change"
    finally:
        app_ctx.config["CARELOOP_BASE_URL"] = saved


def test_no_module_builds_a_link_by_hand_from_the_base_url():
    """CARELOOP_BASE_URL is read to build links in one place (app/urls.py), so a renamed route
    cannot silently break a link in an email, a webhook or a feed. (The security headers read
    it only to know whether the site is served over HTTPS.)"""
    allowed = {"urls.py", "security/headers.py"}
    offenders = [str(p.relative_to(APP)) for p in APP.rglob("*.py")
                 if str(p.relative_to(APP)) not in allowed and re.search(r"config\[.CARELOOP_BASE_URL.\]", p.read_text())]
    assert offenders == []
