"""Grouping in the care loop: automatic joins (and undo), the review band, recurrence,
merge with redirect, split, the suggestion endpoint and the "me too" choice."""

from __future__ import annotations

from app import services
from app.extensions import db
from app.models import (
    DUPLICATE_CONFIRMED,
    GROUPED_AUTOMATICALLY,
    GROUPING_UNDONE,
    MERGED,
    Event,
    GroupingReview,
    Message,
    MessageKind,
    Problem,
    Report,
    Role,
    utcnow,
)
from app.services import grouping
from config import Config

CARD = "The card reader at the front desk rejects every contactless payment since Monday."
CARD_AGAIN = "The card reader at the front desk rejects every contactless payment since Monday!"
PARKING = "The car park barrier stays shut even after I pay at the machine."


def verbs(problem_id=None):
    query = db.select(Event.verb).order_by(Event.id)
    if problem_id is not None:
        query = query.where(Event.problem_id == problem_id)
    return db.session.scalars(query).all()


def test_a_near_identical_report_joins_automatically_and_can_be_undone(make_report, make_user, client, auth, thresholds):
    thresholds(0.9, 0.6)
    first = make_report(text=CARD, name="Ana", email="ana@example.net")
    second = make_report(text=CARD_AGAIN, name="Ben", email="ben@example.net")
    assert second.problem_id == first.problem_id
    assert second.grouping == "auto" and second.grouping_score >= 0.9
    event = db.session.scalar(db.select(Event).filter_by(verb=GROUPED_AUTOMATICALLY))
    assert event.report_id == second.id and event.details["score"] >= 0.9
    assert first.problem.people_affected == 2

    leader = make_user(Role.LEADER)
    auth.login(leader)
    page = client.get(f"/problems/{first.problem_id}").get_data(as_text=True)
    assert "Grouped automatically (score" in page
    assert client.post(f"/reports/{second.id}/undo-grouping").status_code == 302
    db.session.expire_all()
    moved = db.session.get(Report, second.id)
    assert moved.problem_id != first.problem_id and moved.grouping is None
    assert GROUPING_UNDONE in verbs(moved.problem_id)
    assert db.session.get(Problem, first.problem_id).people_affected == 1


def test_an_unrelated_report_starts_a_new_problem(make_report, thresholds):
    thresholds(0.9, 0.6)
    first = make_report(text=CARD)
    other = make_report(text=PARKING)
    assert other.problem_id != first.problem_id and other.grouping is None
    assert db.session.scalars(db.select(GroupingReview)).all() == []


def test_the_review_band_asks_a_leader_who_confirms(make_report, make_user, client, auth, thresholds):
    thresholds(1.01, 0.5)  # never automatic: every close match is a question
    first = make_report(text=CARD)
    second = make_report(text=CARD_AGAIN)
    assert second.problem_id != first.problem_id
    review = db.session.scalar(db.select(GroupingReview))
    assert (review.kind, review.report_id, review.candidate_problem_id) == ("duplicate", second.id, first.problem_id)
    leader = make_user(Role.LEADER)
    auth.login(leader)
    triage = client.get("/triage").get_data(as_text=True)
    assert "Possible duplicate" in triage and "may be problem" in triage
    emptied = second.problem_id
    response = client.post(f"/grouping-reviews/{review.id}/confirm")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, second.id).problem_id == first.problem_id
    assert db.session.get(Report, second.id).grouping == "confirmed"
    assert DUPLICATE_CONFIRMED in verbs(first.problem_id)
    # The emptied problem was merged away, and its old address leads to the right place.
    assert db.session.get(Problem, emptied).merged_into_id == first.problem_id
    assert client.get(f"/problems/{emptied}").headers["Location"].endswith(f"/problems/{first.problem_id}")
    assert client.post(f"/grouping-reviews/{review.id}/confirm").status_code == 302  # answered once only
    assert db.session.get(GroupingReview, review.id).status == "confirmed"


def test_the_review_band_rejected_keeps_them_apart(make_report, make_user, thresholds):
    thresholds(1.01, 0.5)
    first = make_report(text=CARD)
    second = make_report(text=CARD_AGAIN)
    review = db.session.scalar(db.select(GroupingReview))
    grouping.reject_review(review, make_user(Role.LEADER))
    db.session.commit()
    assert review.status == "rejected" and second.problem_id != first.problem_id
    assert "duplicate_rejected" in verbs(second.problem_id)


def test_a_match_with_a_changed_problem_tells_the_owner_it_may_still_happen(make_report, make_user, thresholds):
    thresholds(0.9, 0.6)
    owner = make_user(Role.LEADER, name="Dana Okafor")
    first = make_report(text=CARD)
    problem = first.problem
    services.assign_owner(problem, owner, owner)
    services.record_change(problem, owner, since=utcnow().date(),
                           what="All front desk card readers were replaced with new ones that accept contactless.")
    db.session.commit()
    again = make_report(text=CARD_AGAIN, name="Cleo", email="cleo@example.net")
    assert again.problem_id != problem.id  # it does not vanish into the changed problem
    review = db.session.scalar(db.select(GroupingReview))
    assert (review.kind, review.candidate_problem_id) == ("recurrence", problem.id)
    flag = db.session.scalar(db.select(Message).filter_by(kind=MessageKind.OWNER_FLAG))
    assert flag.to_address == owner.email and "contactless" in flag.body_text
    assert "may still be happening" in flag.body_text
    grouping.confirm_review(review, owner)
    db.session.commit()
    assert problem.status == "owned" and again.problem_id == problem.id


def test_merge_moves_every_report_and_person_and_redirects(make_report, make_user, client, auth, thresholds):
    thresholds(1.01, 1.01)  # no automatic grouping in this test
    a1 = make_report(text=CARD, name="Ana", email="ana@example.net")
    a2 = make_report(text="Contactless fails at the till.", name="Ben", email="ben@example.net", problem=a1.problem)
    b1 = make_report(text=PARKING, name="Cleo", email="cleo@example.net")
    source_id = a1.problem_id
    leader = make_user(Role.LEADER)
    auth.login(leader)
    response = client.post(f"/problems/{source_id}/merge", data={"merge-target": b1.problem_id})
    assert response.status_code == 302
    db.session.expire_all()
    target = db.session.get(Problem, b1.problem_id)
    assert sorted(r.id for r in target.reports) == sorted([a1.id, a2.id, b1.id])
    assert target.people_affected == 3
    assert client.get(f"/problems/{source_id}").headers["Location"].endswith(f"/problems/{b1.problem_id}")
    page = client.get(f"/problems/{b1.problem_id}").get_data(as_text=True)
    for name in ("Ana", "Ben", "Cleo"):
        assert name in page
    assert verbs(source_id).count(MERGED) == 1 and verbs(b1.problem_id).count(MERGED) == 1
    # Housekeeping before anyone owns either problem tells nobody anything (issue 14).
    moved = db.session.scalars(db.select(Message).filter_by(kind=MessageKind.MOVED)).all()
    assert moved == []
    # The index follows: the merged problem's words now point at the target.
    assert grouping.similarity_index().similar_problems(CARD, limit=1)[0].problem_id == b1.problem_id
    # New reports "into" the merged problem land in the target.
    late = make_report(text="Me too", problem=db.session.get(Problem, source_id))
    assert late.problem_id == b1.problem_id


def test_merge_refuses_itself_and_unknown_problems(make_report, make_user, client, auth, thresholds):
    thresholds(1.01, 1.01)
    a = make_report(text=CARD)
    auth.login(make_user(Role.LEADER))
    assert "cannot be merged into itself" in client.post(f"/problems/{a.problem_id}/merge",
                                                        data={"merge-target": a.problem_id}).get_data(as_text=True)
    assert "There is no problem #999" in client.post(f"/problems/{a.problem_id}/merge",
                                                    data={"merge-target": 999}).get_data(as_text=True)


def test_split_moves_chosen_reports_to_a_new_problem(make_report, make_user, client, auth, thresholds):
    thresholds(1.01, 1.01)
    a1 = make_report(text=CARD)
    a2 = make_report(text=PARKING, problem=a1.problem)
    a3 = make_report(text="The barrier again.", problem=a1.problem)
    auth.login(make_user(Role.LEADER))
    response = client.post(f"/problems/{a1.problem_id}/split", data={"reports": [a2.id, a3.id]})
    assert response.status_code == 302
    db.session.expire_all()
    new = db.session.get(Report, a2.id).problem
    assert new.id != a1.problem_id and sorted(r.id for r in new.reports) == [a2.id, a3.id]
    assert [r.id for r in db.session.get(Problem, a1.problem_id).reports] == [a1.id]
    refused = client.post(f"/problems/{a1.problem_id}/split", data={})
    assert refused.status_code == 422 and "Choose at least one report" in refused.get_data(as_text=True)


def test_suggestions_respect_who_is_asking(make_report, make_user, client, auth, thresholds, app_ctx):
    thresholds(0.99, 0.3)
    app_ctx.config["CARELOOP_SUGGEST_MIN"] = 0.3
    try:
        internal = make_report(text=CARD)
        internal.problem.title = "Contactless failures (internal wording)"
        public = make_report(text="Contactless payment refused at the front desk card machine.")
        public.problem.public_title = "Card payments at the front desk"
        db.session.commit()
        found = client.get("/suggest", query_string={"text": CARD}).json["suggestions"]
        assert [s["title"] for s in found] == ["Card payments at the front desk"]  # customers: approved titles only
        auth.login(make_user(Role.STAFF))
        staff_titles = {s["title"] for s in client.get("/suggest", query_string={"text": CARD}).json["suggestions"]}
        assert "Contactless failures (internal wording)" in staff_titles
        assert client.get("/suggest", query_string={"text": "short"}).json["suggestions"] == []
    finally:
        app_ctx.config["CARELOOP_SUGGEST_MIN"] = Config.CARELOOP_SUGGEST_MIN


def test_suggestions_are_rate_limited(client, app_ctx):
    app_ctx.config["CARELOOP_SUGGEST_PER_MINUTE"] = 3
    try:
        codes = [client.get("/suggest", query_string={"text": CARD}).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        assert "Too many requests" in client.get("/suggest", query_string={"text": CARD}).json["error"]
    finally:
        app_ctx.config["CARELOOP_SUGGEST_PER_MINUTE"] = 60


def test_me_too_without_javascript_is_a_confirmation_step(make_report, client, thresholds, app_ctx):
    thresholds(0.99, 0.3)
    app_ctx.config["CARELOOP_SUGGEST_MIN"] = 0.3
    try:
        existing = make_report(text=CARD)
        existing.problem.public_title = "Card payments at the front desk"
        db.session.commit()
        form = {"text": CARD_AGAIN + " I had to pay cash.", "name": "Dev", "email": "dev@example.net",
                "contact_ok": "y"}
        step = client.post("/", data=form)
        page = step.get_data(as_text=True)
        assert step.status_code == 200 and "Is it one of these?" in page
        assert "This is happening to me too: Card payments at the front desk" in page
        assert "I had to pay cash." in page  # their words kept
        assert db.session.scalar(db.select(db.func.count(Report.id))) == 1  # nothing filed yet
        done = client.post("/", data={**form, "problem_choice": str(existing.problem_id)})
        assert done.status_code == 302
        mine = db.session.scalar(db.select(Report).where(Report.text.like("%pay cash%")))
        assert mine.problem_id == existing.problem_id and mine.grouping == "chosen"
        assert mine.reporter.display_name == "Dev"  # their own report, their own words
        # Choosing "none of these" files a separate report without asking again.
        other = client.post("/", data={**form, "text": CARD + " second", "problem_choice": "new"})
        assert other.status_code == 302
    finally:
        app_ctx.config["CARELOOP_SUGGEST_MIN"] = Config.CARELOOP_SUGGEST_MIN


def test_a_customer_cannot_choose_a_problem_they_may_not_see(make_report, client, thresholds):
    thresholds(0.99, 0.3)
    hidden = make_report(text=CARD)  # no public title
    response = client.post("/", data={"text": "Something else entirely broke today.",
                                      "problem_choice": str(hidden.problem_id)})
    assert "That problem cannot be chosen" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Report.id))) == 1


def test_a_leader_approves_a_public_title_and_customers_are_offered_it(make_report, make_user, client, auth,
                                                                       thresholds, app_ctx):
    thresholds(0.99, 0.3)
    app_ctx.config["CARELOOP_SUGGEST_MIN"] = 0.3
    try:
        report = make_report(text=CARD)
        assert client.get("/suggest", query_string={"text": CARD_AGAIN}).json["suggestions"] == []
        auth.login(make_user(Role.LEADER))
        response = client.post(f"/problems/{report.problem_id}/edit", data={
            "title": "Contactless broken (internal)", "public_title": "Card payments at the front desk"})
        assert response.status_code == 302
        assert "public title" in client.get(f"/problems/{report.problem_id}").get_data(as_text=True)
        auth.logout()
        found = client.get("/suggest", query_string={"text": CARD_AGAIN}).json["suggestions"]
        assert [s["title"] for s in found] == ["Card payments at the front desk"]
    finally:
        app_ctx.config["CARELOOP_SUGGEST_MIN"] = Config.CARELOOP_SUGGEST_MIN


def test_a_question_names_the_problem_as_it_stands_in_the_database_and_in_this_session(make_report, thresholds):
    thresholds(1.01, 0.5)  # every close match is a question
    first = make_report(text=CARD)
    into = make_report(text=PARKING).problem
    db.session.get(Problem, first.problem_id).merged_into_id = into.id
    db.session.commit()
    db.session.expire_all()  # read from the database: the merge is followed
    placement = grouping.place(CARD_AGAIN)
    assert placement.problem is None and placement.review[:2] == ("duplicate", into.id)

    into = db.session.get(Problem, into.id)
    into.status = "declined"  # changed in this session, not flushed: that counts
    assert grouping.place(CARD_AGAIN).review[:2] == ("recurrence", into.id)
    db.session.rollback()
    assert grouping.place(CARD_AGAIN).review[:2] == ("duplicate", into.id)
