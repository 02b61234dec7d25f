"""Choosing Zendesk tickets by a view or a search query (issue 16, point 5), against the
fake Zendesk on a real loopback HTTP server: the view's tickets and the search export are
paginated by cursor as Zendesk does, and the search compares ``updated>``/``updated<``
with each ticket. Through the core, the command's --dry-run and the Sources page's dry
run. Run on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import SourceState
from tests.plugins.test_zendesk import (  # noqa: F401 - fixtures
    START_EPOCH,
    configure,
    export_page,
    fake,
    fake_time,
    report,
    reports,
    saved_cursor,
    zd,
    zendesk,
    zticket,
)

FIRST = f"start:{START_EPOCH}"
QUERY = "tags:bug -tags:password_reset"


def ticket(ticket_id: int, description: str, updated_at: str = "2024-04-01T10:00:00Z", **fields) -> dict:
    return {**zticket(ticket_id, description, updated_at=updated_at), **fields}


def test_only_tickets_in_the_view_become_reports_and_one_that_leaves_it_says_why(zd, configure, client, auth,
                                                                                  make_user):
    configure(view="360001")
    crash = ticket(501, "The app crashes when I open my tickets.")
    how_to = ticket(502, "How do I change my password?")
    lift = ticket(503, "The lift at platform 2 is stuck again.")
    zd.views["360001"] = ("Faults to triage", [crash, lift])
    zd.view_page_max = 1  # the view's list comes in pages; every page is read
    zd.on_export(FIRST, export_page([crash, how_to, lift], "v1", True))

    result = import_from_source("zendesk")

    assert result.ok and (result.created, result.excluded) == (2, 1)
    assert [r.external_id for r in reports()] == ["501", "503"]
    listed = [e for e in zd.log if e["path"] == "/api/v2/views/360001/tickets.json"]
    assert len(listed) == 2 and listed[1]["args"]["page[after]"]  # followed the cursor

    # 501 leaves the view (an agent re-tags it): its report stays and says why.
    zd.views["360001"] = ("Faults to triage", [lift])
    zd.on_export("cursor:v1", export_page([ticket(501, "The app crashes when I open my tickets.",
                                                  updated_at="2024-04-02T10:00:00Z")], "v2", True))
    result = import_from_source("zendesk")
    assert result.ok and result.excluded == 1 and result.removed == 0
    kept = report("501")
    assert kept.removed_at is None and kept.text.endswith("The app crashes when I open my tickets.")
    assert kept.import_note == 'It is not in the Zendesk view "Faults to triage" (CARELOOP_ZENDESK_VIEW=360001).'
    auth.login(make_user("leader"))
    page = client.get(f"/problems/{kept.problem_id}").get_data(as_text=True)
    assert "No longer imported as a report" in page and "Faults to triage" in page


def test_only_tickets_matching_the_search_become_reports_asked_page_by_page(zd, configure):
    configure(search=QUERY)
    early = ticket(601, "Card reader refuses contactless.", updated_at="2024-04-01T10:00:00Z")
    question = ticket(602, "Where is my invoice?", updated_at="2024-04-01T10:05:00Z")
    late = ticket(603, "Card reader at till 4 refuses contactless.", updated_at="2024-04-01T11:00:00Z")
    # 604 matches the query but is not in these pages: it must not come in from the search.
    outside = ticket(604, "Ticket machine eats coins.", updated_at="2024-04-03T09:00:00Z")
    zd.search_index[QUERY] = [early, late, outside]
    zd.search_page_max = 1
    zd.on_export(FIRST, export_page([early, question], "s1", False))
    zd.on_export("cursor:s1", export_page([late], "s2", True))

    result = import_from_source("zendesk")

    assert result.ok and (result.created, result.excluded) == (2, 1)
    assert [r.external_id for r in reports()] == ["601", "603"]
    queries = [e["args"] for e in zd.searches()]
    assert all(q["filter[type]"] == "ticket" for q in queries)
    # Each export page asks once, narrowed to that page's updated_at range (one second wider).
    assert queries[0]["query"] == f"{QUERY} updated>2024-04-01T09:59:59Z updated<2024-04-01T10:05:01Z"
    assert queries[-1]["query"] == f"{QUERY} updated>2024-04-01T10:59:59Z updated<2024-04-01T11:00:01Z"
    assert len(queries) == 2


def test_a_ticket_that_stops_matching_the_search_keeps_its_report_and_says_why(zd, configure):
    configure(search=QUERY)
    bug = ticket(611, "The booking page times out on step 3.")
    zd.search_index[QUERY] = [bug]
    zd.on_export(FIRST, export_page([bug], "m1", True))
    assert import_from_source("zendesk").created == 1

    retagged = ticket(611, "The booking page times out on step 3.", updated_at="2024-04-02T08:00:00Z",
                      tags=["how_to"])
    zd.search_index[QUERY] = []  # no longer tagged bug
    zd.on_export("cursor:m1", export_page([retagged], "m2", True))
    result = import_from_source("zendesk")

    assert result.ok and result.excluded == 1
    kept = report("611")
    assert kept.removed_at is None
    assert kept.import_note == f"It does not match the Zendesk search CARELOOP_ZENDESK_SEARCH ({QUERY})."

    zd.search_index[QUERY] = [ticket(611, "The booking page times out on step 3.",
                                     updated_at="2024-04-03T08:00:00Z")]
    zd.on_export("cursor:m2", export_page(zd.search_index[QUERY], "m3", True))
    assert import_from_source("zendesk").ok and report("611").import_note is None  # matches again


def test_view_and_search_together_and_with_the_field_filters(zd, configure):
    configure(view="77", search=QUERY, exclude_tags="vip")
    a = ticket(621, "Lift out of order at the town hall.")
    b = ticket(622, "Lift out of order at the museum.")  # in the view, not in the search
    c = ticket(623, "Lift out of order at the clinic.")  # in the search, not in the view
    d = ticket(624, "Lift out of order at the college.", tags=["vip"])  # left out by the tag filter
    zd.views["77"] = ("Lifts", [a, b, d])
    zd.search_index[QUERY] = [a, c, d]
    zd.on_export(FIRST, export_page([a, b, c, d], "t1", True))

    result = import_from_source("zendesk")

    assert result.ok and (result.created, result.excluded) == (1, 3)
    assert [r.external_id for r in reports()] == ["621"]


def test_the_dry_run_honours_the_view_and_stores_nothing(zd, configure, runner):
    configure(view="360001")
    crash = ticket(631, "The app crashes when I open my tickets.")
    zd.views["360001"] = ("Faults", [crash])
    zd.on_export(FIRST, export_page([crash, ticket(632, "Please reset my password.")], "d1", True))

    outcome = runner.invoke(args=["import", "zendesk", "--dry-run"])

    assert outcome.exit_code == 0, outcome.output
    assert "1 would become reports, 1 do not match the filter, 0 deleted" in outcome.output
    assert "would import 631" in outcome.output
    assert 'would leave out 632: It is not in the Zendesk view "Faults"' in outcome.output
    assert reports() == [] and saved_cursor() is None
    assert db.session.get(SourceState, "zendesk") is None


def test_the_sources_page_dry_run_honours_the_search(zd, configure, client, auth, make_user):
    configure(search=QUERY)
    bug = ticket(641, "Card reader refuses contactless.")
    zd.search_index[QUERY] = [bug]
    zd.on_export(FIRST, export_page([bug, ticket(642, "How do I print a receipt?")], "p1", True))
    auth.login(make_user("admin"))

    page = client.post("/admin/sources/zendesk/preview").get_data(as_text=True)

    assert "1 would become reports, 1 do not match the filter, 0 deleted" in page
    assert "#641" in page and "It does not match the Zendesk search" in page
    assert reports() == [] and saved_cursor() is None


def test_mistyped_view_or_search_is_refused_with_a_clear_line(zd, configure):
    configure(view="faults")
    result = import_from_source("zendesk")
    assert not result.ok and "CARELOOP_ZENDESK_VIEW takes the numeric id of a Zendesk view" in result.error_message

    configure(search="type:ticket tags:bug")
    result = import_from_source("zendesk")
    assert not result.ok and "CARELOOP_ZENDESK_SEARCH must not contain type:" in result.error_message
    assert reports() == [] and zd.log == []  # refused before asking Zendesk anything

    configure(search="ticket_type:incident tags:bug")  # a ticket field, not the record type
    zd.on_export(FIRST, export_page([], "e1", True))
    assert import_from_source("zendesk").ok


def test_a_view_zendesk_does_not_know_stops_the_run_where_it_was(zd, configure):
    configure(view="999")
    zd.on_export(FIRST, export_page([ticket(651, "The lift is stuck.")], "n1", True))

    result = import_from_source("zendesk")

    assert not result.ok and "Zendesk has no view 999" in result.error_message
    assert reports() == [] and saved_cursor() is None  # the next run reads the page again


def test_a_webhook_for_a_ticket_outside_the_search_is_not_a_report(zd, configure, client):
    import json

    from tests.plugins.test_zendesk import show_ticket, signed

    configure(search=QUERY)
    zd.search_index[QUERY] = []
    show_ticket(zd, ticket(661, "How do I change my address?"))
    body = json.dumps({"ticket_id": "661"}).encode()

    answer = client.post("/hooks/zendesk", data=body, headers=signed(body), content_type="application/json")

    assert answer.status_code < 300, answer.get_data(as_text=True)
    assert reports() == []
    assert zd.searches()[0]["args"]["query"].startswith(QUERY + " updated>")
