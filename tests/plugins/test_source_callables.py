"""Each of ``TicketSource``'s callables, driven through the core's own entry point with an
in-process source (the Datasette habit: tests/unit/test_docs.py fails without a
``test_source_<callable>`` here, as it does for hooks)."""

from __future__ import annotations

import pytest

from app import create_app, services
from app.extensions import db
from app.imports.importer import import_from_source
from app.imports.importer import test_source_connection as try_connection  # not a test
from app.imports.linked_work import check_linked_work, create_work, link_work
from app.messaging.mail import deliver_due
from app.models import Message, MessageKind, MessageStatus, ProblemLink, Report, Role, utcnow
from app.plugin_api import (
    AuthenticationFailed,
    Setting,
    Ticket,
    TicketPage,
    TicketSource,
    WebhookRejected,
    WebhookResult,
    hookimpl,
)
from app.plugins.manager import PluginError
from app.services.errors import ServiceError

CHANGE = "The side door ramp is now kept clear: deliveries use the yard gate from this week."


class Desk:
    """A remote help desk that also tracks work, recording what the core asks of it."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.status = "new"
        self.replies_on = True
        self.token = "good"

    def fetch(self, settings, cursor):
        self.calls.append(("fetch", cursor))
        if cursor is None:
            yield TicketPage(tickets=[Ticket(external_id="7", text="The ramp at the side door is blocked.",
                                             requester_name="Ana Silva", requester_email="ana@example.net")],
                             cursor="after-7", done=True)

    def write_back(self, settings, external_id, body):
        self.calls.append(("write_back", external_id, body))

    def write_back_enabled(self, settings):
        return self.replies_on

    def handle_webhook(self, settings, headers, body):
        if headers.get("X-Desk-Token") != settings["DESK_TOKEN"]:
            raise WebhookRejected("wrong token")
        return WebhookResult(invocation_id=headers["X-Desk-Id"],
                             tickets=[Ticket(external_id=body.decode(), text="The lift is out of order again.")])

    def check(self, settings):
        return [] if settings.get("DESK_TOKEN") else ["set DESK_TOKEN (or sign in with DESK_OAUTH)"]

    def create_work_item(self, settings, summary, description):
        self.calls.append(("create_work_item", summary))
        return "OPS-1", "https://desk.example/browse/OPS-1"

    def link_back(self, settings, key, url, title):
        self.calls.append(("link_back", key, url))

    def work_status(self, settings, key):
        self.calls.append(("work_status", key))
        return self.status

    def item_url(self, settings, key):
        return f"https://desk.example/browse/{key}"

    def validate(self, settings):
        mode = settings.get("DESK_MODE", "replies")
        return [] if mode in ("replies", "silent") else [f"DESK_MODE must be replies or silent, not {mode!r}"]

    def test_connection(self, settings):
        if settings.get("DESK_TOKEN") != self.token:
            raise AuthenticationFailed("401 from the desk: the token was refused")
        return "Signed in as the Careloop robot"

    def source(self) -> TicketSource:
        return TicketSource(
            name="desk", title="Desk", settings=(Setting("DESK_TOKEN", "token", secret=True),
                                                 Setting("DESK_MODE", "replies or silent")),
            fetch=self.fetch, write_back=self.write_back, write_back_enabled=self.write_back_enabled,
            handle_webhook=self.handle_webhook, check=self.check, create_work_item=self.create_work_item,
            link_back=self.link_back, work_status=self.work_status, item_url=self.item_url,
            validate=self.validate, test_connection=self.test_connection)


@pytest.fixture
def desk(register_source, app_ctx):
    desk = Desk()
    register_source(desk.source())
    app_ctx.config["DESK_TOKEN"] = "good"
    yield desk
    app_ctx.config.pop("DESK_TOKEN", None)


def _imported_problem(desk):
    assert import_from_source("desk").created == 1
    return db.session.scalar(db.select(Report).filter_by(source="desk")).problem


def test_source_fetch(desk):
    result = import_from_source("desk")
    assert (result.ok, result.created) == (True, 1)
    report = db.session.scalar(db.select(Report))
    assert (report.source, report.external_id, report.reporter.display_name) == ("desk", "7", "Ana Silva")
    import_from_source("desk")  # the next run resumes from the stored cursor
    assert [c for c in desk.calls if c[0] == "fetch"] == [("fetch", None), ("fetch", "after-7")]


def test_source_check(desk, app_ctx):
    app_ctx.config["DESK_TOKEN"] = ""
    result = import_from_source("desk")
    assert not result.ok and result.created == 0 and "DESK_OAUTH" in result.error_message
    assert not [c for c in desk.calls if c[0] == "fetch"]  # nothing is asked of an unconfigured source


def test_source_validate(app):
    desk = Desk()

    class Plugin:
        @hookimpl
        def register_ticket_sources(self, app):
            return [desk.source()]

    with pytest.raises(PluginError, match="DESK_MODE must be replies or silent, not 'loud'"):
        create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Plugin()], "DESK_MODE": "loud"})


def test_source_test_connection(desk):
    assert try_connection("desk") == (True, "Signed in as the Careloop robot")
    desk.token = "rotated"
    worked, said = try_connection("desk")
    assert not worked and "the token was refused" in said


def test_source_handle_webhook(desk, client):
    good = {"X-Desk-Token": "good", "X-Desk-Id": "call-1"}
    assert client.post("/hooks/desk", data="9", headers=good).status_code == 200
    assert db.session.scalar(db.select(Report.text).filter_by(source="desk", external_id="9")) == (
        "The lift is out of order again.")
    assert client.post("/hooks/desk", data="9", headers={**good, "X-Desk-Token": "bad"}).status_code == 401


def test_source_write_back(desk, make_user):
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER, name="Dana Okafor")
    services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, since=utcnow().date(), what=CHANGE)
    services.publish(problem, leader, public_title="The ramp is clear", public_summary="Deliveries use the yard.")
    db.session.commit()
    reply = db.session.scalar(db.select(Message).filter_by(kind=MessageKind.WRITE_BACK))
    assert reply.to_address == "desk:7" and not [c for c in desk.calls if c[0] == "write_back"]  # after commit
    deliver_due()
    (posted,) = [c for c in desk.calls if c[0] == "write_back"]
    assert posted[1] == "7" and CHANGE in posted[2]
    db.session.expire_all()
    assert db.session.get(Message, reply.id).status == MessageStatus.SENT


def test_source_write_back_enabled(desk, make_user):
    desk.replies_on = False
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER)
    services.decline(problem, leader, "The ramp belongs to the landlord; we have asked them to keep it clear.")
    db.session.commit()
    assert db.session.scalars(db.select(Message).filter_by(kind=MessageKind.WRITE_BACK)).all() == []


def test_source_create_work_item(desk, make_user):
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER)
    services.assign_owner(problem, leader, leader)
    link = create_work(problem, leader, "desk")
    assert (link.external_key, link.url, link.created_here) == ("OPS-1", "https://desk.example/browse/OPS-1", True)
    assert ("create_work_item", problem.title) in desk.calls


def test_source_link_back(desk, make_user):
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER)
    services.assign_owner(problem, leader, leader)
    link_work(problem, leader, "desk", "ops-2")
    (back,) = [c for c in desk.calls if c[0] == "link_back"]
    assert back[1] == "OPS-2" and back[2].endswith(f"/problems/{problem.id}")


def test_source_item_url(desk, make_user):
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER)
    services.assign_owner(problem, leader, leader)
    assert link_work(problem, leader, "desk", "OPS-3").url == "https://desk.example/browse/OPS-3"


def test_source_work_status(desk, make_user):
    problem = _imported_problem(desk)
    leader = make_user(Role.LEADER, name="Dana Okafor")
    services.assign_owner(problem, leader, leader)
    link_work(problem, leader, "desk", "OPS-4")
    db.session.commit()
    assert check_linked_work("desk") == (1, 0)
    desk.status = "done"
    assert check_linked_work("desk") == (1, 1)
    assert db.session.scalar(db.select(ProblemLink.done_at)) is not None
    asked = db.session.scalar(db.select(Message).filter_by(kind=MessageKind.WORK_DONE))
    assert asked.to_address == leader.email  # the owner is asked to record the change; nobody else yet


def test_a_source_without_a_callable_is_refused_where_it_is_needed(register_source, app_ctx, make_user):
    register_source(TicketSource(name="plain", title="Plain", settings=(), fetch=lambda s, c: iter(())))
    problem = services.file_report(text="The ramp is blocked.", reporter=services.new_reporter()).problem
    leader = make_user(Role.ADMIN)
    with pytest.raises(ServiceError, match="cannot carry work"):
        create_work(problem, leader, "plain")
    assert try_connection("plain") == (False, "Plain cannot test its connection.")
