"""The plugin system: loading, the documented hooks, and the event hooks' timing."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from app import create_app, services
from app.extensions import db
from app.models import Role
from app.plugin_api import Setting, TicketSource, hookimpl
from app.plugins import hookspecs
from app.plugins.manager import PluginError, plugin_manager, ticket_sources

TESTS = Path(__file__).resolve().parent.parent
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "careloop_spec")]


def test_there_are_hooks():
    assert {"register_ticket_sources", "report_filed", "problem_status_changed", "change_published"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert len(doc) > 200, f"{name} needs a full docstring"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param}"
    assert ":return:" in doc


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_tested(name):
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    assert f"def test_hook_{name}" in sources, f"write test_hook_{name}"


def test_installed_plugins_load_through_entry_points(app):
    names = {name for name, _ in plugin_manager(app).list_name_plugin()}
    assert {"zendesk", "jira"} <= names


def test_plugins_can_be_limited_by_name(app):
    limited = create_app({**app.config, "CARELOOP_PLUGINS": ["jira"]})
    names = {name for name, _ in plugin_manager(limited).list_name_plugin()}
    assert "jira" in names and "zendesk" not in names


def test_naming_a_plugin_that_is_not_installed_stops_start_up(app):
    with pytest.raises(PluginError, match="nosuchplugin, which is not installed"):
        create_app({**app.config, "CARELOOP_PLUGINS": ["jira", "nosuchplugin"]})


def test_a_misspelt_hook_stops_start_up(app):
    class Typo:
        @hookimpl
        def report_filled(self, report):  # not a hook
            pass

    with pytest.raises(Exception, match="report_filled"):
        create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Typo()]})


def _source(name):
    return TicketSource(name=name, title=name.title(), settings=(Setting("X", "x"),), fetch=lambda s, c: iter(()))


def test_hook_register_ticket_sources(app):
    class Extra:
        @hookimpl
        def register_ticket_sources(self, app):
            return [_source("helpdesk")]

    extended = create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Extra()]})
    assert "helpdesk" in ticket_sources(extended)
    assert {"zendesk", "jira"} <= set(ticket_sources(extended))


def test_two_sources_with_one_name_stop_start_up(app):
    class Twice:
        @hookimpl
        def register_ticket_sources(self, app):
            return [_source("dup"), _source("dup")]

    with pytest.raises(PluginError, match="'dup'"):
        create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Twice()]})


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def report_filed(self, report):
        self.calls.append(("report_filed", report))

    @hookimpl
    def problem_status_changed(self, problem, before, after):
        self.calls.append(("problem_status_changed", problem, before, after))

    @hookimpl
    def change_published(self, problem, reports):
        self.calls.append(("change_published", problem, reports))


def test_hook_report_filed(plugin, make_report):
    recorder = plugin(Recorder())
    report = make_report(text="The self-checkout freezes on coupons.")
    (name, info), = recorder.calls
    assert name == "report_filed"
    assert info.id == report.id and info.text == "The self-checkout freezes on coupons."
    assert info.reporter_email == "maria@example.net" and info.channel == "web"


def test_event_hooks_are_not_called_for_rolled_back_work(plugin, app_ctx):
    recorder = plugin(Recorder())
    reporter = services.new_reporter(name="Ana")
    services.file_report(text="This will be rolled back.", reporter=reporter)
    db.session.rollback()
    db.session.commit()
    assert recorder.calls == []


def test_a_failing_plugin_does_not_undo_the_report(plugin, make_report):
    class Broken:
        @hookimpl
        def report_filed(self, report):
            raise RuntimeError("plugin bug")

    plugin(Broken())
    report = make_report(text="Still saved even though a plugin failed.")
    db.session.expire_all()
    assert db.session.get(type(report), report.id).text == "Still saved even though a plugin failed."


def test_hook_problem_status_changed(plugin, make_user, make_report):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    report = make_report()
    recorder = plugin(Recorder())
    services.assign_owner(report.problem, leader, leader)
    db.session.commit()
    (name, problem, before, after), = recorder.calls
    assert (name, before, after) == ("problem_status_changed", "new", "owned")
    assert problem.owner_name == "Dana Okafor" and problem.id == report.problem_id


def test_hook_change_published(plugin, make_user, make_report, app_ctx):
    leader = make_user(Role.LEADER)
    first = make_report(text="Refund never arrived.")
    second = make_report(text="Refund took five weeks.", problem=first.problem)
    problem = first.problem
    services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, what="Refunds now go back to the card within three working days, every day.",
                           since=problem.created_at.date())
    db.session.commit()
    recorder = plugin(Recorder())
    services.publish(problem, leader, public_title="Faster refunds", public_summary="Refunds are daily now.")
    db.session.commit()
    (name, info, reports), = recorder.calls
    assert name == "change_published"
    assert info.public_title == "Faster refunds"
    assert info.url == f"{app_ctx.config['CARELOOP_BASE_URL']}/changes/{problem.id}"
    assert sorted(r.id for r in reports) == sorted([first.id, second.id])


def test_plugins_command_lists_plugins_versions_and_hooks(runner):
    result = runner.invoke(args=["plugins"])
    assert result.exit_code == 0
    assert "zendesk (careloop " in result.output and "register_ticket_sources" in result.output
    assert "Ticket sources:" in result.output
