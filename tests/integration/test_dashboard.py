"""The leaders' dashboard, backlog, per-leader page and weekly digest, on a small world
whose every figure is worked out by hand below (the numbers must be exactly right).

The world, on 15 June 2026 at noon (NOW); "d-40" means 40 days before NOW:

  P1 Refunds take weeks        Billing        Maria web d-40, Tom by staff d-30, Maria web d-20
                               Alice owns d-38, due d-5 set d-37 (overdue)          open
  P2 Phone line drops calls    Phone line     Hana web d-100, Omar api d-90, Hana "still happening" d-1
                               Bruno owns d-96; handed over d-80 (to Alice), d-70 (to Bruno),
                               d-60 (to Alice); Alice records the change d-45, publishes d-44
  P3 Password reset never arrives  Website    Ben web d-10, Jo web d-3 (no email)   no owner
  P4 Ramp blocked by deliveries    Accessibility  Nina by staff d-2 (no email)      no owner
  P5 Letters to an old address     Billing    Sean web d-200; Chen owns d-190, records the
                               change d-150, never publishes
  P6 Open on Sundays           Branch visit   Ivy web d-60; Bruno declines d-50 (so owns it)
  P7 Lift out of order         Accessibility  Lee web d-30 (no email, says "wheelchair");
                               Alice owns d-25, nothing since                       open

Notices: every message went out, except Tom's "owned" (failed), Omar's "changed" (still
pending) and Ivy's "declined" (bounced).
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app import services
from app.extensions import db
from app.messaging.compose import still_happening
from app.messaging.digest import write_digests
from app.messaging.mail import deliver_due
from app.models import Channel, Message, MessageKind, MessageStatus, Role, User, clock_at
from app.queries import dashboard as q

NOW = datetime(2026, 6, 15, 12, 0)


@contextmanager
def ago(days: float):
    """Run services as if it were ``days`` before NOW (events are flushed inside)."""
    with clock_at(NOW - timedelta(days=days)):
        yield
        db.session.flush()


@contextmanager
def now():
    with clock_at(NOW):
        yield


def _report(text, name, email, days, *, problem=None, channel=Channel.WEB, location=None, filed_by=None):
    with ago(days):
        reporter = services.new_reporter(name=name, email=email, contact_ok=bool(email))
        return services.file_report(text=text, reporter=reporter, channel=channel, problem=problem,
                                    location=location, filed_by=filed_by)


@pytest.fixture
def world(make_user):
    ada = make_user(Role.ADMIN, name="Ada Admin", email="ada@example.org")
    alice = make_user(Role.LEADER, name="Alice Owner", email="alice@example.org")
    bruno = make_user(Role.LEADER, name="Bruno Owner", email="bruno@example.org")
    chen = make_user(Role.LEADER, name="Chen Owner", email="chen@example.org")
    sid = make_user(Role.STAFF, name="Sid Staff", email="sid@example.org")

    r = _report("Refunds take weeks to reach my card.", "Maria Lopez", "maria@example.net", 40, location="Billing")
    p1 = r.problem
    p1.title = "Refunds take weeks"
    _report("Customer waited a month for a refund.", "Tom Becker", "tom@example.net", 30, problem=p1,
            channel=Channel.STAFF, filed_by=sid)
    with ago(20):
        services.file_report(text="Still no refund, second time I write.", reporter=r.reporter, problem=p1)
    with ago(38):
        services.assign_owner(p1, alice, alice)
    with ago(37):
        services.edit_problem(p1, alice, title=p1.title, area="Billing", due_on=(NOW - timedelta(days=5)).date())

    hana = _report("The phone line drops my call after 20 minutes on hold.", "Hana Webb", "hana@example.net",
                   100, location="Phone line")
    p2 = hana.problem
    p2.title = "Phone line drops calls"
    _report("Cut off after twenty minutes, three days running.", "Omar Farouk", "omar@example.net", 90,
            problem=p2, channel=Channel.API)
    with ago(96):
        services.assign_owner(p2, bruno, bruno)
    with ago(80):
        services.assign_owner(p2, bruno, alice, "Alice runs the telephony contract.")
    with ago(70):
        services.assign_owner(p2, alice, bruno, "It is a queue setting after all.")
    with ago(60):
        services.assign_owner(p2, bruno, alice, "Back to the contract owner.")
    with ago(45):
        services.record_change(p2, alice, since=(NOW - timedelta(days=46)).date(),
                               what="Calls on hold are no longer cut off after twenty minutes; the queue limit was removed.")
    with ago(44):
        services.publish(p2, alice, public_title="No more cut-off calls", public_summary="The limit is gone.")

    p3 = _report("The password reset email never arrives.", "Ben Carter", "ben@example.net", 10,
                 location="Website").problem
    p3.title = "Password reset never arrives"
    _report("No reset email, not even in spam.", "Jo Adams", None, 3, problem=p3)

    p4 = _report("Delivery cages block the ramp every Tuesday.", "Nina Brooks", None, 2, channel=Channel.STAFF,
                 filed_by=sid, location="Accessibility").problem
    p4.title = "Ramp blocked by deliveries"

    p5 = _report("My letters still go to my old address.", "Sean Murphy", "sean@example.net", 200,
                 location="Billing").problem
    p5.title = "Letters to an old address"
    with ago(190):
        services.assign_owner(p5, chen, chen)
    with ago(150):
        services.record_change(p5, chen, since=(NOW - timedelta(days=151)).date(),
                               what="Address changes made at a branch now update the letters system the same day.")

    ivy = _report("Please open the branch on Sundays.", "Ivy Turner", "ivy@example.net", 60, location="Branch visit")
    p6 = ivy.problem
    p6.title = "Open on Sundays"
    with ago(50):
        services.decline(p6, bruno, "We cannot staff Sundays safely this year; video appointments run until 8pm instead.")

    p7 = _report("The lift is out of order and I use a wheelchair.", "Lee Grant", None, 30,
                 location="Accessibility").problem
    p7.title = "Lift out of order"
    with ago(25):
        services.assign_owner(p7, alice, alice)

    with ago(1):
        still_happening(hana.reporter, hana, "Cut off again yesterday.")

    for message in db.session.scalars(select(Message)):
        message.status = MessageStatus.SENT
        message.sent_at = message.created_at
    for kind, to, status in ((MessageKind.OWNED, "tom@example.net", MessageStatus.FAILED),
                             (MessageKind.CHANGED, "omar@example.net", MessageStatus.PENDING),
                             (MessageKind.DECLINED, "ivy@example.net", MessageStatus.BOUNCED)):
        message = db.session.scalar(select(Message).where(Message.kind == kind, Message.to_address == to))
        message.status, message.sent_at = status, None
    db.session.commit()
    return SimpleNamespace(ada=ada, alice=alice, bruno=bruno, chen=chen, sid=sid,
                           p1=p1, p2=p2, p3=p3, p4=p4, p5=p5, p6=p6, p7=p7)


def _months(**found) -> list:
    """The last 12 months up to June 2026, with the given values and zeros elsewhere."""
    labels = ["Jul 2025", "Aug 2025", "Sep 2025", "Oct 2025", "Nov 2025", "Dec 2025", "Jan 2026",
              "Feb 2026", "Mar 2026", "Apr 2026", "May 2026", "Jun 2026"]
    return [(label, found.get(label.replace(" ", "_"), 0)) for label in labels]


# --- every figure, exactly ---------------------------------------------------------------


def test_headline(world):
    head = q.headline(NOW)
    assert (head.open_problems, head.overdue) == (4, 1)


def test_open_problems_per_owner_marks_overdue(world):
    f = q.open_per_owner(NOW)
    assert f.rows == [("Alice Owner", 2, 1, 1), ("Ada Admin", 0, 0, 0), ("Bruno Owner", 0, 0, 0),
                      ("Chen Owner", 0, 0, 0)]
    assert f.extra["user_ids"] == [world.alice.id, world.ada.id, world.bruno.id, world.chen.id]
    assert f.takeaway == "1 owned problem is overdue; Alice Owner has the most (1)."


def test_a_deactivated_owner_still_shows_with_what_they_hold(world):
    world.alice.active = False
    db.session.commit()
    f = q.open_per_owner(NOW)
    assert ("Alice Owner (account deactivated)", 2, 1, 1) in f.rows
    # ... and their open problems now wait for an owner, as on the Triage page
    assert q.waiting_for_owner(NOW).extra["total"] == 4


def test_problems_waiting_for_an_owner_and_how_long(world):
    f = q.waiting_for_owner(NOW)
    assert f.rows == [("Under a week", 1), ("1 to 4 weeks", 1), ("1 to 3 months", 0), ("Over 3 months", 0)]
    assert f.extra["total"] == 2
    assert f.extra["longest_days"] == 10
    assert f.takeaway == "2 problems wait for an owner; the longest for 10 days."


def test_time_to_an_owner_and_to_a_change_median_and_90th_percentile_by_month(world):
    f = q.time_to_owner_and_change(NOW)
    owner = {month: rest for measure, month, *rest in f.rows if measure == "To an owner"}
    change = {month: rest for measure, month, *rest in f.rows if measure == "To a change"}
    assert list(owner) == [label for label, _ in _months()]
    assert {m: v for m, v in owner.items() if v[0]} == {
        "Dec 2025": [1, 10.0, 10.0],  # P5: 10 days
        "Mar 2026": [1, 4.0, 4.0],  # P2: 4 days
        "Apr 2026": [1, 10.0, 10.0],  # P6: declined 10 days after the report, by its first owner
        "May 2026": [2, 3.5, 4.7],  # P1 2 days, P7 5 days: median 3.5, p90 2 + 0.9 * 3
    }
    assert owner["Jun 2026"] == [0, None, None]
    assert {m: v for m, v in change.items() if v[0]} == {"Jan 2026": [1, 50.0, 50.0], "May 2026": [1, 55.0, 55.0]}
    # Over the 12 months: owners [2, 4, 5, 10, 10]; changes [50, 55]
    assert f.extra["overall"] == {"owner": (5, 5.0, 10.0), "change": (2, 52.5, 54.5)}
    assert f.takeaway.startswith("Over the last 12 months, half of problems got an owner within 5 days "
                                 "(90% within 10 days); half were changed within 52.5 days")
    assert f.takeaway.endswith("In May 2026 the median time to a change was 55 days.")


def test_time_figures_leave_out_what_happened_before_the_12_months(world):
    later = NOW + timedelta(days=365)
    f = q.time_to_owner_and_change(later)
    assert f.extra["overall"] == {"owner": (0, None, None), "change": (0, None, None)}
    assert f.takeaway == "No owners or changes in the last 12 months."


def test_people_waiting_to_hear_back(world):
    f = q.people_waiting()
    assert f.rows == [
        ("Problem still open", 6),  # Maria, Tom (P1), Ben, Jo (P3), Nina (P4), Lee (P7); Maria once
        ("Changed, not published yet", 1),  # Sean (P5)
        ("Message waiting to go out", 1),  # Omar
        ("Message failed or bounced", 2),  # Tom (failed), Ivy (bounced)
    ]
    assert f.extra["total"] == 9  # Tom counted once
    assert f.takeaway == "9 people are waiting to hear back; 2 of them could not be reached (failed or bounced)."


def test_a_person_who_filed_twice_waits_once(world):
    # Ben files again from the public form (a new reporter row, the same address), on an open
    # problem; Jo, who left no address, files again too and cannot be recognised as the same person.
    _report("Still no reset email a week later.", "Ben Carter", "BEN@example.net", 1)
    _report("Reset email still missing.", "Jo Adams", None, 1)
    db.session.commit()
    f = q.people_waiting()
    assert dict(f.rows)["Problem still open"] == 7  # Ben once, Jo's two rows twice
    assert f.extra["total"] == 10


def test_a_failed_notice_stops_counting_once_a_later_one_is_sent(world):
    db.session.execute(db.update(Message).where(Message.to_address == "ivy@example.net",
                                                 Message.kind == MessageKind.DECLINED)
                       .values(status=MessageStatus.UNREACHABLE))
    db.session.commit()
    f = q.people_waiting()
    assert dict(f.rows)["Message failed or bounced"] == 1
    assert f.extra["total"] == 8


def test_handoffs_per_problem_more_than_twice_stands_out(world):
    f = q.handoffs_per_problem()
    assert f.rows == [("Never", 4), ("Once", 0), ("Twice", 0), ("3 times or more", 1)]
    assert [(p.title, n) for p, n in f.extra["standouts"]] == [("Phone line drops calls", 3)]
    assert f.takeaway == "1 problem was passed along more than twice."


def test_changes_made_per_month(world):
    f = q.changes_per_month(NOW)
    assert f.rows == _months(Jan_2026=1, May_2026=1)
    assert f.takeaway == "2 changes made in the last 12 months, 0 so far this month."


def test_reports_per_channel(world):
    f = q.reports_per_channel()
    assert f.rows == [("Web page", 9), ("Filed by staff", 2), ("API", 1)]
    assert f.takeaway == "12 reports in all; most came through Web page (75%)."


def test_figures_on_an_empty_database(app_ctx):
    for build in q.FIGURES.values():
        figure = build()
        assert figure.rows is not None and figure.takeaway
    assert q.people_waiting().extra["total"] == 0


# --- the pages ----------------------------------------------------------------------------


@pytest.fixture
def leader_client(world, client, auth):
    auth.login(world.alice)
    return client


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_leaders_land_on_the_dashboard(world, client, auth):
    response = auth.login(world.bruno)
    assert response.headers["Location"].endswith("/dashboard")


def test_the_dashboard_draws_every_chart_with_its_numbers_as_a_table(leader_client):
    with now():
        html = _page(leader_client.get("/dashboard"))
    assert "style=" not in html  # the CSP allows no inline style
    assert "<script" not in html
    assert html.count('role="img"') == 2 * 8  # 8 charts, each drawn wide and narrow
    assert html[html.index('<main'):].count("<details") == 7  # the header's menus are details too
    for key in q.FIGURES:
        assert f'href="/dashboard/{key}.csv"' in html
    # the tiles: open, overdue, waiting for an owner, people waiting, median days to a change
    for number, words in (("4", "open problems"), ("1", "overdue"), ("2", "waiting for an owner"),
                          ("9", "people waiting to hear back"), ("52.5", "from first report to a change (median, 12 months)")):
        assert f'<span class="tile-number">{number}' in html and words in html
    assert "Phone line drops calls" in html  # the problem handed over 3 times is named
    assert '<th scope="row"><a href="/dashboard/leaders/' in html  # owners link to their page
    assert "1 open, 1 overdue" not in html and "2 open, 1 overdue" in html
    assert '<span class="tile-note">May 2026: 55 days</span>' in html


def test_a_figure_as_csv(leader_client):
    with now():
        response = leader_client.get("/dashboard/owners.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'attachment; filename="careloop-owners-2026-06-15.csv"' == response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [["Owner", "Open problems", "Overdue", "Not overdue"], ["Alice Owner", "2", "1", "1"],
                    ["Ada Admin", "0", "0", "0"], ["Bruno Owner", "0", "0", "0"], ["Chen Owner", "0", "0", "0"]]


@pytest.mark.parametrize("key", list(q.FIGURES))
def test_every_figures_csv_has_the_rows_of_its_table(leader_client, key):
    with now():
        text = leader_client.get(f"/dashboard/{key}.csv").get_data(as_text=True)
        figure = q.FIGURES[key]()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == figure.columns
    assert rows[1:] == [["" if v is None else str(v) for v in row] for row in figure.rows]


def test_an_unknown_figure_is_not_found(leader_client):
    assert leader_client.get("/dashboard/nothing.csv").status_code == 404


def test_the_leader_page(world, leader_client):
    with now():
        record = q.leader_record(world.alice, NOW)
        html = _page(leader_client.get(f"/dashboard/leaders/{world.alice.id}"))
    assert [r.Problem.title for r in record.owned] == ["Refunds take weeks", "Lift out of order"]
    assert [r.Problem.title for r in record.overdue] == ["Refunds take weeks"]
    assert [r.Problem.title for r in record.not_closed_out] == ["Phone line drops calls"]  # Omar not told yet
    assert (record.changes_made, record.median_days_to_change, record.people_told) == (1, 55.0, 2)  # Maria, Hana
    assert "Your page" in html and "Lift out of order" in html and "Phone line drops calls" in html
    with now():
        bruno = q.leader_record(world.bruno, NOW)
    # Bruno's own actions told Hana and Omar (he owned P2 first) and Ivy (owned by declining);
    # Ivy's decline bounced, but her "owned" message arrived.
    assert (bruno.changes_made, bruno.median_days_to_change, bruno.people_told) == (0, None, 3)
    assert bruno.owned == []
    assert [r.Problem.title for r in bruno.not_closed_out] == ["Open on Sundays"]  # Ivy's decline bounced


def test_an_unknown_leader_is_not_found(leader_client):
    assert leader_client.get("/dashboard/leaders/9999").status_code == 404


# --- the backlog: filters, sorting, paging, CSV ----------------------------------------------


def _titles(client, query: str = "") -> list[str]:
    with now():
        rows = _csv_rows(client, query)
    return [row["Title"] for row in rows]


def _csv_rows(client, query: str = "") -> list[dict]:
    response = client.get("/backlog.csv" + (f"?{query}" if query else ""))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize("query, titles", [
    # people affected, most first; ties newest problem first
    ("", ["Password reset never arrives", "Refunds take weeks", "Lift out of order", "Ramp blocked by deliveries"]),
    ("order=asc", ["Ramp blocked by deliveries", "Lift out of order", "Refunds take weeks", "Password reset never arrives"]),
    ("sort=age", ["Refunds take weeks", "Lift out of order", "Password reset never arrives", "Ramp blocked by deliveries"]),
    ("sort=age&order=asc", ["Ramp blocked by deliveries", "Password reset never arrives", "Lift out of order", "Refunds take weeks"]),
    # last action: P1 edited d-37, P7 owned d-25, P3 and P4 never acted on (their first report)
    ("sort=idle", ["Refunds take weeks", "Lift out of order", "Password reset never arrives", "Ramp blocked by deliveries"]),
    ("sort=due", ["Refunds take weeks", "Password reset never arrives", "Ramp blocked by deliveries", "Lift out of order"]),
    ("sort=owner", ["Refunds take weeks", "Lift out of order", "Password reset never arrives", "Ramp blocked by deliveries"]),
    ("sort=area", ["Ramp blocked by deliveries", "Lift out of order", "Refunds take weeks", "Password reset never arrives"]),
    ("sort=status", ["Password reset never arrives", "Ramp blocked by deliveries", "Refunds take weeks", "Lift out of order"]),
    ("sort=channel", ["Ramp blocked by deliveries", "Refunds take weeks", "Password reset never arrives", "Lift out of order"]),
])
def test_backlog_sorting(leader_client, query, titles):
    assert _titles(leader_client, query) == titles


@pytest.mark.parametrize("query, titles", [
    ("owner=none", {"Password reset never arrives", "Ramp blocked by deliveries"}),
    ("area=Billing", {"Refunds take weeks"}),
    ("area=none", set()),
    ("status=new", {"Password reset never arrives", "Ramp blocked by deliveries"}),
    ("channel=staff", {"Refunds take weeks", "Ramp blocked by deliveries"}),
    ("channel=api", set()),  # P2 came in through the API, but it is changed: not in the backlog
    ("due=overdue", {"Refunds take weeks"}),
    ("due=none", {"Password reset never arrives", "Ramp blocked by deliveries", "Lift out of order"}),
    ("due=week", set()),
    ("people=2", {"Refunds take weeks", "Password reset never arrives"}),
    ("age=30", {"Refunds take weeks", "Lift out of order"}),
    ("idle=14", {"Refunds take weeks", "Lift out of order"}),
    ("idle=30", {"Refunds take weeks"}),
    ("q=refund", {"Refunds take weeks"}),
    ("q=REFUNDS+weeks", {"Refunds take weeks"}),
    ("q=wheelchair", {"Lift out of order"}),  # a word in a report, not in the title
    ("q=refund+wheelchair", set()),  # every word must match
    ("q=100%25", set()),  # % and _ are plain characters
    ("q=cut+off", set()),  # P2 matches, but is not open
    ("owner=none&channel=staff", {"Ramp blocked by deliveries"}),
])
def test_backlog_filters(world, leader_client, query, titles):
    assert set(_titles(leader_client, query)) == titles


def test_backlog_filter_by_owner(world, leader_client):
    assert set(_titles(leader_client, f"owner={world.alice.id}")) == {"Refunds take weeks", "Lift out of order"}
    assert _titles(leader_client, f"owner={world.bruno.id}") == []


def test_backlog_page_shows_the_filtered_problems_and_keeps_the_view_in_links(world, leader_client):
    with now():
        html = _page(leader_client.get(f"/backlog?owner={world.alice.id}&sort=due"))
    assert "Showing 1–2 of 2 open problems that match." in html
    assert "Refunds take weeks" in html and "Lift out of order" in html and "Password reset" not in html
    assert '<option selected value="' + str(world.alice.id) + '">Alice Owner</option>' in html
    assert f'href="/backlog.csv?owner={world.alice.id}&amp;sort=due"' in html
    # a column heading sorts by it, keeping the filter; the current one flips the order
    assert f'href="/backlog?owner={world.alice.id}&amp;sort=people"' not in html
    assert f'href="/backlog?owner={world.alice.id}"' in html  # people is the default sort
    assert f'href="/backlog?owner={world.alice.id}&amp;sort=due&amp;order=desc"' in html
    assert 'aria-sort="ascending"' in html
    assert "overdue" in html


def test_backlog_pages(world, leader_client, monkeypatch):
    monkeypatch.setattr("app.dashboard.routes.PER_PAGE", 3)
    with now():
        first = _page(leader_client.get("/backlog?sort=age"))
        second = _page(leader_client.get("/backlog?sort=age&page=2"))
        assert leader_client.get("/backlog?sort=age&page=3").status_code == 404
        assert leader_client.get("/backlog?page=0").status_code == 404
    assert "Showing 1–3 of 4" in first and 'href="/backlog?sort=age&amp;page=2"' in first
    assert "Showing 4–4 of 4" in second and "Ramp blocked by deliveries" in second
    assert "Refunds take weeks" not in second


def test_backlog_with_bad_values_shows_everything_and_says_why(leader_client):
    with now():
        html = _page(leader_client.get("/backlog?owner=999&due=someday&people=lots&sort=nonsense"))
    assert html.count('class="error"') >= 3
    assert "Showing 1–4 of 4 open problems" in html


def test_backlog_csv_columns_and_values(world, leader_client):
    with now():
        rows = _csv_rows(leader_client, "sort=age")
    first = rows[0]
    assert first["Title"] == "Refunds take weeks"
    assert (first["Area"], first["Status"], first["Owner"]) == ("Billing", "owned", "Alice Owner")
    assert (first["People affected"], first["Reports"], first["Handoffs"]) == ("2", "3", "0")
    assert first["First reported (UTC)"] == "2026-05-06 12:00"
    assert first["Days since first report"] == "40.0"
    assert (first["Last action (UTC)"], first["Days since last action"]) == ("2026-05-09 12:00", "37.0")
    assert (first["Due"], first["Overdue"]) == ("2026-06-10", "yes")
    assert first["Channels"] == "web:2 staff:1"
    assert first["Link"] == f"http://careloop.test/problems/{world.p1.id}"
    assert rows[-1]["Owner"] == "" and rows[-1]["Overdue"] == "no"


def test_backlog_csv_does_not_let_a_title_run_as_a_formula(world, leader_client):
    world.p7.title = "=HYPERLINK(\"http://evil.example\")"
    db.session.commit()
    rows = _csv_rows(leader_client, "q=wheelchair")
    assert rows[0]["Title"] == "'=HYPERLINK(\"http://evil.example\")"


# --- the weekly digest ---------------------------------------------------------------------


def _digests() -> dict[str, Message]:
    return {m.to_address: m for m in db.session.scalars(
        select(Message).where(Message.kind == MessageKind.DIGEST).order_by(Message.id))}


def test_digest_content_for_each_leader(world):
    content = q.digest_for(world.alice, NOW)
    assert [r.Problem.title for r in content.overdue] == ["Refunds take weeks"]
    assert [r.Problem.title for r in content.stale] == ["Lift out of order"]  # overdue ones are listed once
    assert content.areas == ["Accessibility", "Billing", "Phone line"]  # owns P1, P7; was handed P2
    assert [r.Problem.title for r in content.new_in_areas] == ["Ramp blocked by deliveries"]
    assert [(p.title, times) for p, times, _ in content.recurrences] == [("Phone line drops calls", 1)]
    bruno = q.digest_for(world.bruno, NOW)
    assert bruno.areas == ["Branch visit", "Phone line"]  # P2 and P6, which he owned
    assert bruno.empty


def test_careloop_digest_writes_one_message_per_active_leader_to_the_outbox(world, runner):
    chen = world.chen
    chen.active = False
    db.session.commit()
    with now():
        result = runner.invoke(args=["digest"])
    assert result.exit_code == 0, result.output
    assert "Wrote 3 digests to the outbox" in result.output
    digests = _digests()
    assert set(digests) == {"ada@example.org", "alice@example.org", "bruno@example.org"}
    alice = digests["alice@example.org"]
    assert alice.user_id == world.alice.id and alice.reporter_id is None and alice.problem_id is None
    assert alice.status == MessageStatus.PENDING
    assert alice.subject == "Your week in Careloop: 1 overdue, 1 stale, 1 new in your areas, 1 still happening"
    text = alice.body_text
    assert "Your week in Careloop, 8 June 2026 to 15 June 2026." in text
    for section, title in (("OVERDUE (1)", "Refunds take weeks"), ("NO ACTION FOR 14 DAYS OR MORE (1)", "Lift out of order"),
                           ("NEW IN YOUR AREAS (Accessibility, Billing, Phone line) (1)", "Ramp blocked by deliveries"),
                           ("STILL HAPPENING (1)", "Phone line drops calls")):
        assert section in text
        assert text.index(section) < text.index(title)
    assert "due 10 June 2026, 2 people affected" in text
    assert f"http://careloop.test/problems/{world.p1.id}" in text
    assert "1 time this week someone said it is still happening (latest 14 June 2026); it is changed" in text
    assert "Refunds take weeks" in alice.body_html and "<script" not in alice.body_html
    bruno = digests["bruno@example.org"].body_text
    assert "Nothing of yours is overdue." in bruno and "No new problems in your areas this week." in bruno


def test_running_the_digest_twice_in_a_week_does_not_send_twice(world):
    with clock_at(NOW):
        assert write_digests().written == 4
    with clock_at(NOW + timedelta(days=2)):
        again = write_digests()
    assert (again.written, again.skipped) == (0, 4)
    with clock_at(NOW + timedelta(days=2)):
        assert write_digests(force=True).written == 4
    with clock_at(NOW + timedelta(days=9)):  # a week after the forced ones
        assert write_digests().written == 4
    db.session.commit()
    assert len(db.session.scalars(select(Message).where(Message.kind == MessageKind.DIGEST)).all()) == 12


def test_the_digest_goes_out_through_the_outbox(world, smtp):
    with clock_at(NOW):
        write_digests()
        db.session.commit()
        before = {m.id for m in db.session.scalars(select(Message).where(Message.status == MessageStatus.PENDING))}
        result = deliver_due()
    digest_ids = {m.id for m in _digests().values()}
    assert digest_ids <= before
    assert result.sent == len(before)
    mail, = smtp.inbox.to("alice@example.org")
    assert mail["Subject"].startswith("Your week in Careloop: 1 overdue")
    assert mail["List-Unsubscribe"] is None  # staff mail, not a reporter's
    assert "Refunds take weeks" in mail.get_body(("plain",)).get_content()
    assert "Refunds take weeks" in mail.get_body(("html",)).get_content()
    db.session.expire_all()
    assert {m.status for m in _digests().values()} == {MessageStatus.SENT}


def test_staff_cannot_see_the_dashboard(world, client, auth):
    auth.login(world.sid)
    for url in ("/dashboard", "/backlog", "/backlog.csv", "/dashboard/owners.csv",
                f"/dashboard/leaders/{world.alice.id}"):
        assert client.get(url).status_code == 403, url
    assert db.session.scalar(select(User.id).where(User.email == "sid@example.org"))
