"""Grouping actions follow the same ownership rule as moving a report by hand (issue 15):
a leader cannot take reports out of another leader's problem by undoing an automatic join
or answering a grouping question, nor move a report into another leader's closed problem
(whose reporters would be emailed)."""

from __future__ import annotations

import pytest

from app import services
from app.extensions import db
from app.models import GroupingReview, Message, MessageKind, Report, Role, utcnow

CARD = "The card reader at the front desk rejects every contactless payment since Monday."
CARD_AGAIN = "The card reader at the front desk rejects every contactless payment since Monday!"
LIFT = "The lift to the second floor has been stuck for three days and nobody has come."


@pytest.fixture
def sam_and_dana(make_user):
    return make_user(Role.LEADER, name="Sam Owner"), make_user(Role.LEADER, name="Dana Other")


def test_undoing_an_automatic_join_in_someone_elses_problem_is_refused(
        make_report, client, auth, thresholds, sam_and_dana):
    sam, dana = sam_and_dana
    thresholds(0.9, 0.6)
    first = make_report(text=CARD)
    second = make_report(text=CARD_AGAIN)
    assert second.grouping == "auto"
    services.assign_owner(first.problem, sam, sam)
    db.session.commit()
    auth.login(dana)
    assert client.post(f"/reports/{second.id}/move", data={"target": ""}).status_code in (403, 422)
    assert client.post(f"/reports/{second.id}/undo-grouping").status_code == 403
    db.session.expire_all()
    assert db.session.get(Report, second.id).problem_id == first.problem_id
    auth.logout()
    auth.login(sam)
    assert client.post(f"/reports/{second.id}/undo-grouping").status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, second.id).problem_id != first.problem_id


@pytest.mark.parametrize("answer", ["confirm", "reject"])
def test_answering_a_grouping_question_about_someone_elses_problem_is_refused(
        make_report, client, auth, thresholds, sam_and_dana, answer):
    sam, dana = sam_and_dana
    thresholds(1.01, 0.5)
    candidate = make_report(text=CARD)
    second = make_report(text=CARD_AGAIN)
    services.assign_owner(second.problem, sam, sam)  # Sam owns the problem the report would leave
    db.session.commit()
    review = db.session.scalar(db.select(GroupingReview))
    auth.login(dana)
    assert client.post(f"/grouping-reviews/{review.id}/{answer}").status_code == 403
    db.session.expire_all()
    assert db.session.get(GroupingReview, review.id).status == "pending"
    assert db.session.get(Report, second.id).problem_id != candidate.problem_id
    auth.logout()
    auth.login(sam)
    assert client.post(f"/grouping-reviews/{review.id}/{answer}").status_code == 302
    db.session.expire_all()
    assert db.session.get(GroupingReview, review.id).status == ("confirmed" if answer == "confirm" else "rejected")


def test_moving_a_report_into_someone_elses_closed_problem_is_refused_and_nobody_is_emailed(
        make_report, client, auth, sam_and_dana):
    sam, dana = sam_and_dana
    closed = make_report(text=CARD).problem
    services.assign_owner(closed, sam, sam)
    services.record_change(closed, sam, since=utcnow().date(), what="Every front desk now has a new card reader that accepts contactless payments again.")
    db.session.commit()
    mine = make_report(text=LIFT, name="Cleo", email="cleo@example.net")  # unowned: any leader may move it
    moved_messages = db.select(db.func.count(Message.id)).where(Message.kind == MessageKind.MOVED)
    auth.login(dana)
    assert client.post(f"/reports/{mine.id}/move", data={"target": closed.id}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Report, mine.id).problem_id != closed.id
    assert db.session.scalar(moved_messages) == 0
    auth.logout()
    auth.login(sam)  # the closed problem's owner may (and the reporter is told)
    assert client.post(f"/reports/{mine.id}/move", data={"target": closed.id}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, mine.id).problem_id == closed.id
    assert db.session.scalar(moved_messages) == 1
