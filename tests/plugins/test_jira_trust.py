"""Jira imports and linked work a support desk can trust (issue 16), against a fake Jira on
a real loopback HTTP server, through the core: recent edits (Cloud and Data Center), the
released-versus-done rule, Careloop's own issues never coming back as reports, linked work
done before anyone owns the problem, "Import now" checking linked work, links as links,
and every setting documented. Run on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from app import services
from app.extensions import db
from app.imports.importer import import_from_source
from app.imports.linked_work import check_linked_work, create_work, link_work
from app.models import Message, MessageKind, ProblemLink, Role
from plugins.jira import client as jira_client
from plugins.jira import source as jira_source
from plugins.zendesk import source as zendesk_source
from tests.plugins.fixtures.jira.fake_jira import FakeJira
from tests.plugins.test_jira import clock, cloud_settings, configure, dc_settings, stored  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["cloud", "datacenter"])
def deployment(request):
    return request.param


@pytest.fixture
def jira(httpserver, clock, configure, deployment):
    fake = FakeJira(httpserver, deployment=deployment, clock=clock)
    settings = cloud_settings if deployment == "cloud" else dc_settings
    configure(settings(fake, **{jira_client.PROJECT: "OPS"}))
    return fake


def watermark() -> int:
    db.session.expire_all()
    from app.models import SourceState

    return json.loads(db.session.get(SourceState, "jira").cursor)["updated"]


# -- 4. recent edits arrive -----------------------------------------------------------------


def test_an_edit_a_minute_before_the_run_arrives(jira, clock):
    assert import_from_source("jira").created == 5
    clock.now = watermark() / 1000 + 3600  # an hour later...
    jira.touch("SUP-2", at=int((clock.now - 60) * 1000), summary="Parking page",
               description=None, description_wiki="Now it shows a blank page after paying.")
    if jira.deployment == "cloud":
        jira.issues["SUP-2"]["description"] = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Now it shows a blank page after paying."}]}]}

    result = import_from_source("jira")  # ...a minute after the edit

    assert result.ok and result.updated == 1
    assert stored()["SUP-2"].text.endswith("Now it shows a blank page after paying.")


def test_an_edit_with_the_watermarks_exact_time_arrives(jira):
    assert import_from_source("jira").created == 5
    edge = watermark()
    newest = max(jira.issues.values(), key=lambda i: i["updated"] if i["matches"] else 0)
    assert newest["updated"] == edge
    wiki = "The gate stays shut for wheelchair users, every evening."
    jira.touch(newest["key"], at=edge, description_wiki=wiki,  # same millisecond as the watermark
               description={"type": "doc", "version": 1, "content": [
                   {"type": "paragraph", "content": [{"type": "text", "text": wiki}]}]})

    result = import_from_source("jira")

    assert result.ok and result.updated == 1
    assert stored()[newest["key"]].text.endswith(wiki)
    assert import_from_source("jira").updated == 0  # and only once


# -- 7. "done" is not "released" --------------------------------------------------------------


@pytest.fixture
def owned(make_user, make_report):
    owner = make_user(Role.LEADER, name="Dana Okafor")
    report = make_report(text="The rota app logs everyone out at the start of each shift.")
    services.assign_owner(report.problem, owner, owner)
    db.session.commit()
    return owner, report.problem


def work_done_messages() -> list[Message]:
    return db.session.scalars(db.select(Message).filter_by(kind=MessageKind.WORK_DONE)).all()


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_by_default_the_owner_is_asked_when_the_fix_version_is_released_not_when_done(jira, owned):
    owner, problem = owned
    jira.add("OPS-8", "Fix session length", updated="2026-01-02T10:00:00.000+0000", status="indeterminate")
    link_work(problem, owner, "jira", "OPS-8")
    db.session.commit()

    jira.touch("OPS-8", status="done", fix_versions=[{"name": "2.4", "released": False}])
    assert check_linked_work("jira") == (1, 0)
    link = db.session.scalar(db.select(ProblemLink))
    assert link.status_category == "done_unreleased" and work_done_messages() == []

    jira.touch("OPS-8", fix_versions=[{"name": "2.4", "released": True}])
    assert check_linked_work("jira") == (1, 1)
    assert [m.to_address for m in work_done_messages()] == [owner.email]


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_an_organisation_can_choose_done(jira, owned, configure):
    configure(cloud_settings(jira, **{jira_client.PROJECT: "OPS", jira_client.DONE_WHEN: "done"}))
    owner, problem = owned
    jira.add("OPS-9", "Fix session length", updated="2026-01-02T10:00:00.000+0000", status="indeterminate")
    link_work(problem, owner, "jira", "OPS-9")
    db.session.commit()
    jira.touch("OPS-9", status="done")  # no fix version at all
    assert check_linked_work("jira") == (1, 1)
    assert [m.to_address for m in work_done_messages()] == [owner.email]


def test_a_mistyped_rule_stops_start_up_with_a_clear_line(app):
    from app import create_app
    from app.plugins.manager import PluginError

    with pytest.raises(PluginError, match="CARELOOP_JIRA_DONE_WHEN must be 'released' or 'done', not 'shipped'"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x",
                    "CARELOOP_JIRA_DONE_WHEN": "shipped"})


# -- 8. Careloop's own issues are never reports ------------------------------------------------


def test_an_issue_careloop_created_is_not_imported_back(jira, owned):
    owner, problem = owned
    link = create_work(problem, owner, "jira")
    db.session.commit()
    created = jira.issues[link.external_key]
    created["matches"] = True  # its project is inside the import's JQL
    created["reporter"] = {"accountId": "bot", "displayName": "Careloop bot"}

    result = import_from_source("jira")

    assert result.ok and result.skipped == 1
    assert link.external_key not in stored() and len(stored()) == 5
    assert db.session.scalar(db.select(ProblemLink)).created_here is True


# -- 9. linked work at the edges -----------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_work_done_before_anyone_owns_the_problem_asks_the_first_owner(jira, make_user, make_report):
    admin = make_user(Role.ADMIN, name="Ari Admin")
    problem = make_report(text="Night buses skip the hospital stop.").problem
    jira.add("OPS-11", "Stop list", updated="2026-01-02T10:00:00.000+0000", status="indeterminate")
    link_work(problem, admin, "jira", "OPS-11")
    db.session.commit()
    jira.touch("OPS-11", status="done", fix_versions=[{"name": "7", "released": True}])
    assert check_linked_work("jira") == (1, 1)
    assert work_done_messages() == []  # nobody to ask yet

    owner = make_user(Role.LEADER, name="Olu Owner")
    services.assign_owner(problem, owner, owner)
    db.session.commit()

    asked = work_done_messages()
    assert [m.to_address for m in asked] == [owner.email] and "OPS-11" in asked[0].body_text
    handed = make_user(Role.LEADER, name="Second Owner")
    services.assign_owner(problem, owner, handed, reason="Holiday")
    db.session.commit()
    assert len(work_done_messages()) == 1  # asked once, not again at each handover


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_import_now_on_the_sources_page_checks_linked_work(jira, owned, client, auth, make_user):
    owner, problem = owned
    jira.add("OPS-12", "Fix it", updated="2026-01-02T10:00:00.000+0000", status="indeterminate", matches=False)
    link_work(problem, owner, "jira", "OPS-12")
    db.session.commit()
    jira.touch("OPS-12", status="done", fix_versions=[{"name": "3", "released": True}])
    auth.login(make_user(Role.ADMIN))

    assert client.post("/admin/sources/jira/run").status_code == 302
    for thread in [t for t in threading.enumerate() if t.name == "import-jira"]:
        thread.join(120)

    db.session.expire_all()
    assert db.session.scalar(db.select(ProblemLink)).done_at is not None
    assert [m.to_address for m in work_done_messages()] == [owner.email]
    assert len(stored()) == 5  # and the import itself ran


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_a_linked_issue_shows_as_a_link(jira, owned, client, auth):
    owner, problem = owned
    jira.add("OPS-7", "Fix session length", updated="2026-01-02T10:00:00.000+0000")
    link_work(problem, owner, "jira", "OPS-7")
    db.session.commit()
    auth.login(owner)
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert f'<a href="{jira.base_url}/browse/OPS-7" rel="noopener noreferrer">OPS-7</a>' in page


@pytest.mark.parametrize("plugin, readme", [(jira_source, "plugins/jira/README.md"),
                                            (zendesk_source, "plugins/zendesk/README.md")])
def test_every_setting_is_documented(plugin, readme):
    text = (ROOT / readme).read_text()
    documented = set(re.findall(r"`(CARELOOP_[A-Z_]+)`", text))
    missing = sorted({s.name for s in plugin.SETTINGS} - documented)
    assert not missing, f"{readme} does not document {missing}"


@pytest.mark.parametrize("deployment", ["cloud"], indirect=True)
def test_nor_by_webhook(jira, owned, configure, client):
    from tests.plugins.test_jira import WEBHOOK_SECRET, signed, webhook_body

    configure(cloud_settings(jira, **{jira_client.PROJECT: "OPS", jira_client.WEBHOOK_SECRET: WEBHOOK_SECRET}))
    owner, problem = owned
    link = create_work(problem, owner, "jira")
    db.session.commit()
    jira.issues[link.external_key]["matches"] = True

    body = webhook_body("jira:issue_created", link.external_key)
    response = client.post("/hooks/jira", data=body, headers=signed(body))

    assert response.status_code == 200 and response.get_json()["created"] == 0
    assert link.external_key not in stored()
