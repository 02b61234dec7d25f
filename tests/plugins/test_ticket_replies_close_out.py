"""Close-out counts replies on imported tickets (issue 16, point 9): a person whom Careloop
cannot email but answers on their Zendesk ticket is told when the reply is posted; a reply
still waiting, or refused while the person was told no other way, keeps the problem from
being closed out until it is posted or the person is marked unreachable; a withdrawn reply
(write-back switched off) holds nothing. The fake Zendesk runs on a real loopback HTTP
server; SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from app.extensions import db
from app.messaging.compose import mark_unreachable, notice_states
from app.messaging.mail import deliver_due
from app.models import Problem
from app.queries import is_closed_out
from app.queries.dashboard import leader_record
from tests.plugins.test_zendesk import (  # noqa: F401 - fixtures
    configure,
    export_page,
    fake,
    fake_time,
    json_response,
    report,
    zd,
    zendesk,
    zticket,
    zuser,
)
from tests.plugins.test_zendesk_trust import published_with_replies

WORDS = "Card reader refuses contactless payments."


def ticket_only_people(zd, make_user) -> Problem:
    """Two tickets whose requesters gave Zendesk no email: only their tickets can tell them."""
    tickets = [zticket(n, WORDS, subject="Card reader", requester_id=n + 9000) for n in (801, 802)]
    zd.on_export("start:1704067200", export_page(tickets, "c1", True,
                                                 users=[zuser(n + 9000, f"Person {n}", None) for n in (801, 802)]))
    return published_with_replies(zd, make_user, tickets)


def states(problem: Problem) -> dict[str, str]:
    db.session.expire_all()
    return {n.reports[0].external_id: n.state for n in notice_states(db.session.get(Problem, problem.id))}


def closed_out(problem: Problem) -> bool:
    db.session.expire_all()
    return is_closed_out(db.session.get(Problem, problem.id))


def test_waiting_and_refused_ticket_replies_hold_close_out_and_posted_ones_count_as_told(
        zd, make_user, client, auth):
    problem = ticket_only_people(zd, make_user)
    owner = problem.owner

    # Published: both replies wait; nobody is told yet, so the problem is not closed out.
    assert states(problem) == {"801": "waiting", "802": "waiting"}
    assert not closed_out(problem)
    assert problem in [row.Problem for row in leader_record(owner).not_closed_out]

    zd.put_responses = [json_response({"ticket": {"id": 801}}),
                        json_response({"error": "RecordNotFound", "description": "Not found"}, 404)]
    deliver_due()

    # One posted (told on the ticket), one refused for good: still not closed out.
    assert states(problem) == {"801": "told", "802": "failed"}
    assert not closed_out(problem)
    record = leader_record(owner)
    assert record.people_told == 1  # the posted reply told one person
    auth.login(owner)
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "Not closed out yet" in page and "1 posted, 0 waiting, 1 failed, 0 withdrawn." in page

    # The owner marks the person whose ticket is gone as unreachable: closed out.
    refused = report("802").reporter
    mark_unreachable(db.session.get(Problem, problem.id), refused, owner, "Their ticket was deleted.")
    db.session.commit()
    assert states(problem)["802"] == "unreachable"
    assert closed_out(problem)
    assert problem not in [row.Problem for row in leader_record(owner).not_closed_out]
    page = client.get(f"/problems/{problem.id}").get_data(as_text=True)
    assert "Closed out:" in page


def test_all_replies_posted_closes_out(zd, make_user):
    problem = ticket_only_people(zd, make_user)
    assert not closed_out(problem)

    deliver_due()  # the fake Zendesk accepts both

    assert states(problem) == {"801": "told", "802": "told"}
    assert closed_out(problem)
    assert leader_record(problem.owner).people_told == 2


def test_withdrawn_replies_hold_nothing(zd, configure, make_user):
    problem = ticket_only_people(zd, make_user)
    configure(write_back="off")

    deliver_due()  # withdrawn, never posted

    assert closed_out(problem)  # nobody can be told: nothing left to do
    assert set(states(problem).values()) == {"no contact given"}
    assert leader_record(problem.owner).people_told == 0
