"""One rule for "answer in JSON?" (app/json_errors.py), followed by every error answer."""

from __future__ import annotations

import pytest
from flask import Flask

from app.json_errors import wants_json

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("path, headers, json_body, expected", [
    ("/api/v1/problems", {}, False, True),  # the API, whatever it is asked
    ("/api/v1/problems", {"Accept": BROWSER}, False, True),
    ("/api/no-such-thing", {}, False, True),
    ("/suggest", {"Accept": "application/json"}, False, True),
    ("/suggest", {"Accept": "application/json, text/plain, */*"}, False, True),  # fetch, HTTP libraries
    ("/suggest", {"Accept": "text/html;q=0.5, application/json"}, False, True),
    ("/hooks/zendesk", {}, True, True),  # a caller that sent JSON
    ("/", {}, False, False),  # no Accept header: a page
    ("/", {"Accept": "*/*"}, False, False),  # curl
    ("/", {"Accept": BROWSER}, False, False),
    ("/", {"Accept": "text/html, application/json"}, False, False),
    ("/", {"Accept": "application/json;q=0.5, text/html"}, False, False),
    ("/apiary", {}, False, False),  # not the API: only /api/ is
])
def test_wants_json(path, headers, json_body, expected):
    app = Flask(__name__)
    kwargs = {"json": {"a": 1}} if json_body else {}
    with app.test_request_context(path, method="POST" if json_body else "GET", headers=headers, **kwargs):
        assert wants_json() is expected
