"""The core names no importer: every imported report has the channel "import" and its source,
and people see the source's title (from its plugin), or its name when the plugin is not loaded."""

from __future__ import annotations

import pytest

from app import create_app, services
from app.extensions import db
from app.imports.importer import import_from_source
from app.models import REPORT_FILED, ApiScope, Channel, Event, Report, Role
from app.plugin_api import Ticket, TicketPage, TicketSource, hookimpl
from app.plugins.manager import PluginError
from app.services.api_tokens import create_token
from app.services.errors import ServiceError

TITLE = "Help Desk Pro"


@pytest.fixture
def helpdesk(register_source, app_ctx):
    """A third importer, unknown to the core."""

    def fetch(settings, cursor):
        yield TicketPage(tickets=[Ticket(external_id="7", text="The ramp at the side door is blocked every morning.",
                                         requester_name="Ana Silva", requester_email="ana@example.net")],
                         cursor="1", done=True)

    return register_source(TicketSource(name="helpdesk", title=TITLE, settings=(), fetch=fetch))


def test_a_third_importers_reports_are_imports_shown_by_the_sources_title(helpdesk, client, auth, make_user):
    assert import_from_source("helpdesk").created == 1
    report = db.session.scalar(db.select(Report))
    assert (report.channel, report.source, report.origin) == ("import", "helpdesk", "helpdesk")
    assert db.session.scalar(db.select(Report.origin)) == "helpdesk"  # the same rule in SQL
    filed = db.session.scalar(db.select(Event).where(Event.verb == REPORT_FILED))
    assert filed.details == {"channel": "import", "source": "helpdesk"}
    problem_id = report.problem_id

    auth.login(make_user(Role.LEADER))
    page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert f"via {TITLE}" in page
    assert f"Report #{report.id} came in through {TITLE}" in page
    backlog = client.get("/backlog").get_data(as_text=True)
    assert f'<option value="helpdesk">{TITLE}</option>' in backlog
    assert f"<td>{TITLE}</td>" in backlog
    assert f"/problems/{problem_id}" in client.get("/backlog?channel=helpdesk").get_data(as_text=True)
    assert f"/problems/{problem_id}" not in client.get("/backlog?channel=web").get_data(as_text=True)
    assert TITLE in client.get("/dashboard/channels.csv").get_data(as_text=True)

    secret = create_token(name="Reader", scope=ApiScope.READ, actor=None).secret
    db.session.commit()
    listed = client.get("/api/v1/reports?channel=import", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert [(r["channel"], r["source"]) for r in listed["data"]] == [("import", "helpdesk")]


def test_without_its_plugin_an_import_is_shown_by_its_sources_name(helpdesk, app_ctx, client, auth, make_user):
    import_from_source("helpdesk")
    problem_id = db.session.scalar(db.select(Report.problem_id))
    app_ctx.extensions["careloop.sources"].pop("helpdesk")  # CARELOOP_PLUGINS left it out
    auth.login(make_user(Role.LEADER))
    page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert "via helpdesk" in page and TITLE not in page
    # reports imported before still get a filter, by their source's name
    assert '<option value="helpdesk">helpdesk</option>' in client.get("/backlog").get_data(as_text=True)


def test_an_import_needs_its_source(app_ctx):
    with pytest.raises(ServiceError, match="source"):
        services.file_report(text="No source given.", reporter=services.new_reporter(), channel=Channel.IMPORT)


@pytest.mark.parametrize("name", ["import", "web"])
def test_a_ticket_source_named_like_a_channel_stops_start_up(app, name):
    class Clash:
        @hookimpl
        def register_ticket_sources(self, app):
            return [TicketSource(name=name, title="Clash", settings=(), fetch=lambda s, c: iter(()))]

    with pytest.raises(PluginError, match=f"'{name}'.*channel"):
        create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Clash()]})


def test_safe_mode_loads_no_plugin_and_imports_keep_their_source(helpdesk, app, app_ctx, make_user):
    """CARELOOP_PLUGINS="" is safe mode (docs/plugins.md): no plugin, built-in parts only; what
    was imported stays readable, shown by its source's name."""
    import_from_source("helpdesk")
    problem_id = db.session.scalar(db.select(Report.problem_id))
    leader = make_user(Role.LEADER)
    safe = create_app({**app.config, "CARELOOP_PLUGINS": ""})
    from app.plugins.manager import plugin_manager, ticket_sources

    assert ticket_sources(safe) == {}
    assert {name for name, _ in plugin_manager(safe).list_name_plugin()} == {"careloop.grouping"}
    client = safe.test_client()
    client.post("/login", data={"email": leader.email, "password": "correct horse battery"})
    page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert "via helpdesk" in page
