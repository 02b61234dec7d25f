"""Linking a problem's fix to a Jira issue: link or create, link back, and when the issue
is done the owner (and nobody else) is asked to record the change."""

from __future__ import annotations

import pytest

from app import services
from app.extensions import db
from app.imports.linked_work import check_linked_work, create_work, link_work
from app.models import LINKED_WORK_DONE, Event, Message, MessageKind, ProblemLink, Role
from plugins.jira import client as jira_client
from tests.plugins.fixtures.jira.fake_jira import FakeJira
from tests.plugins.test_jira import clock, cloud_settings, configure  # noqa: F401 - fixtures


@pytest.fixture
def jira(httpserver, clock, configure):
    fake = FakeJira(httpserver, deployment="cloud", clock=clock)
    configure(cloud_settings(fake, **{jira_client.PROJECT: "OPS"}))
    return fake


@pytest.fixture
def owned(make_user, make_report):
    owner = make_user(Role.LEADER, name="Dana Okafor")
    report = make_report(text="The rota app logs everyone out at the start of each shift.")
    services.assign_owner(report.problem, owner, owner)
    db.session.commit()
    return owner, report.problem


def test_linking_an_existing_issue_checks_it_and_links_back(jira, owned, app_ctx):
    owner, problem = owned
    jira.add("OPS-7", "Fix session length", updated="2026-01-02T10:00:00.000+0000", status="indeterminate")
    link = link_work(problem, owner, "jira", "ops-7")
    db.session.commit()
    assert (link.external_key, link.status_category) == ("OPS-7", "indeterminate")
    (slot, remote), = jira.remote_links.items()
    assert slot[0] == "OPS-7"
    assert remote["body"]["object"]["url"] == f"{app_ctx.config['CARELOOP_BASE_URL']}/problems/{problem.id}"
    assert db.session.scalar(db.select(Event).filter_by(verb="linked")).details["key"] == "OPS-7"


def test_creating_an_issue_from_the_problem(jira, owned):
    owner, problem = owned
    link = create_work(problem, owner, "jira")
    db.session.commit()
    created, = jira.created
    assert created["fields"]["project"] == {"key": "OPS"}
    assert created["fields"]["summary"] == problem.title
    assert link.external_key == "OPS-100" and link.url.endswith("/browse/OPS-100")
    assert [slot[0] for slot in jira.remote_links] == ["OPS-100"]


@pytest.mark.parametrize("key, message", [("not a key", "Give an issue key"), ("OPS-404", "Jira said")])
def test_a_bad_or_unknown_key_is_refused_and_nothing_is_saved(jira, owned, key, message):
    owner, problem = owned
    with pytest.raises(services.ServiceError, match=message) as error:
        link_work(problem, owner, "jira", key)
    assert error.value.field == "key"
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count(ProblemLink.id))) == 0


def test_only_the_owner_or_an_admin_links_work(jira, owned, make_user):
    _, problem = owned
    with pytest.raises(services.PermissionDenied):
        link_work(problem, make_user(Role.LEADER), "jira", "OPS-1")


def test_done_work_asks_the_owner_and_tells_nobody_else(jira, owned, client, auth):
    owner, problem = owned
    jira.add("OPS-8", "Fix session length", updated="2026-01-02T10:00:00.000+0000", status="indeterminate")
    link_work(problem, owner, "jira", "OPS-8")
    db.session.commit()
    assert check_linked_work("jira") == (1, 0)
    jira.touch("OPS-8", status="done", fix_versions=[{"name": "2.4", "released": True}])
    before = {m.id for m in db.session.scalars(db.select(Message))}
    assert check_linked_work("jira") == (1, 1)
    new = [m for m in db.session.scalars(db.select(Message)) if m.id not in before]
    assert [(m.kind, m.to_address) for m in new] == [(MessageKind.WORK_DONE, owner.email)]
    assert "OPS-8" in new[0].body_text and "Nobody who reported it has been told" in new[0].body_text
    assert db.session.scalar(db.select(Event).filter_by(verb=LINKED_WORK_DONE)) is not None
    assert problem.status == "owned"  # a closed ticket is not a change
    assert check_linked_work("jira") == (0, 0)  # asked once
    auth.login(owner)
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "The linked work is done" in page and "OPS-8" in page


def test_linking_from_the_problem_page(jira, owned, client, auth):
    owner, problem = owned
    jira.add("OPS-9", "Fix it", updated="2026-01-02T10:00:00.000+0000")
    auth.login(owner)
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "Linked work" in page and "Create a new issue from this problem" in page
    response = client.post(f"/problems/{problem.id}/work", data={"source": "jira", "key": "OPS-9", "link": "1"})
    assert response.status_code == 302
    bad = client.post(f"/problems/{problem.id}/work", data={"source": "jira", "key": "nonsense", "link": "1"})
    assert bad.status_code == 422 and "Give an issue key" in bad.get_data(as_text=True)
    assert "OPS-9" in client.get(f"/problems/{problem.id}").get_data(as_text=True)
