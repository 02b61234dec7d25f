"""Issue 13: leaders' decisions are stored and change later decisions; triage shows each
new problem's candidates with a one-click merge and merges several in one step; the
grouping panel counts automatic joins, undos, questions, merges and precision per month."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.grouping import AUTO, decide
from app.grouping.learning import calibration, forget
from app.models import GroupingReview, Problem, Report, Role
from app.models.grouping import GroupingDecision
from app.services import grouping

CARD = "The card reader at the front desk rejects every contactless payment since Monday."
CARD_AGAIN = [
    "The card reader at the front desk rejects every contactless payment since Monday!",
    "Since Monday the card reader at the front desk rejects every contactless payment.",
    "the card reader at the front desk rejects all contactless payments since monday",
    "Card reader at the front desk: every contactless payment rejected since Monday.",
    "The front desk card reader has rejected every contactless payment since Monday.",
    "The card reader at the front desk keeps rejecting every contactless payment since Monday.",
]
PARKING = "The car park barrier stays shut even after I pay at the machine."
BARRIER = "Paid at the machine but the car park barrier stayed shut, had to call someone."
LIFT = "The lift in block B has been stuck on the ground floor since Friday."


@pytest.fixture
def settings(app_ctx):
    keys = ("CARELOOP_GROUPING_AUTO", "CARELOOP_GROUPING_REVIEW", "CARELOOP_GROUPING_LEARN_MIN",
            "CARELOOP_GROUPING_PRIOR", "CARELOOP_SUGGEST_MIN", "CARELOOP_GROUPING_MARGIN",
            "CARELOOP_GROUPING_PRECISION")
    saved = {k: app_ctx.config.get(k) for k in keys}

    def set_(**values):
        app_ctx.config.update({f"CARELOOP_{k.upper()}": v for k, v in values.items()})
        forget()

    yield set_
    for key, value in saved.items():
        app_ctx.config[key] = value
    forget()


def test_every_kind_of_leader_decision_is_stored_with_its_evidence(make_report, make_user, settings):
    settings(grouping_auto=1.01, grouping_review=0.05)  # every close match becomes a question
    leader = make_user(Role.ADMIN)
    first = make_report(text=CARD)
    second = make_report(text=CARD_AGAIN[0])
    review = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == second.id))
    grouping.confirm_review(review, leader)
    other = make_report(text=PARKING)
    third = make_report(text=BARRIER)
    question = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == third.id))
    grouping.reject_review(question, leader)
    grouping.merge_problems(third.problem, other.problem, leader)
    db.session.commit()
    rows = db.session.scalars(db.select(GroupingDecision).order_by(GroupingDecision.id)).all()
    assert [(r.source, r.same, r.report_id) for r in rows][:2] == [
        ("confirmed", True, second.id), ("rejected", False, third.id)]
    merged = [r for r in rows if r.source == "merged"]
    assert merged and merged[0].same is True and merged[0].problem_id == other.problem_id
    assert set(rows[0].features) >= {"h1", "hmean", "margin", "vote", "conflict"}
    assert rows[0].features["h1"] > rows[1].features["h1"] - 1  # numbers, not placeholders
    assert first.problem_id == db.session.get(Report, second.id).problem_id


def test_undone_automatic_joins_teach_it_not_to_join_such_reports(make_report, make_user, settings):
    """Fails if the stored decisions are ignored: after leaders undo every automatic join
    of these reports, a new one like them is no longer joined automatically."""
    settings(grouping_auto=0.5, grouping_review=0.05, grouping_learn_min=5, grouping_prior=1.0, grouping_margin=0.0)
    leader = make_user(Role.ADMIN)
    first = make_report(text=CARD)
    assert decide(CARD_AGAIN[-1]).kind == AUTO
    undone = 0
    for text in CARD_AGAIN[:-1]:
        report = make_report(text=text)
        if report.grouping == "auto":
            grouping.undo_auto_grouping(report, leader)
            db.session.commit()
            undone += 1
    # One confirmation too, so both kinds of answer are there to learn from.
    settings(grouping_auto=1.01)
    extra = make_report(text="Contactless payments fail at the front desk card reader.")
    review = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == extra.id))
    if review is not None:
        grouping.confirm_review(review, leader, candidate=db.session.get(Problem, review.candidate_problem_id))
        db.session.commit()
    settings(grouping_auto=0.5)
    assert undone >= 4
    stored = db.session.scalar(db.select(db.func.count(GroupingDecision.id)))
    assert stored >= 5
    learned = calibration()
    assert learned.decisions == stored
    assert decide(CARD_AGAIN[-1]).kind != AUTO
    assert first.problem_id is not None


def test_automatic_joins_wait_until_confirmed_decisions_show_the_precision(make_report, make_user, settings):
    """Learning is careful with automatic joins: a few answers switch them off until enough
    confirmed decisions score above a threshold to show the configured precision with
    confidence; then they resume (and fail if the confirmations are ignored)."""
    settings(grouping_auto=1.01, grouping_review=0.05, grouping_learn_min=5, grouping_prior=1.0,
             grouping_precision=0.8, grouping_margin=0.0)
    leader = make_user(Role.ADMIN)
    make_report(text=CARD)
    other = make_report(text=LIFT)
    asked = make_report(text="The lift in block C makes a grinding noise between floors.")
    question = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == asked.id))
    if question is not None and question.candidate_problem_id == other.problem_id:
        grouping.reject_review(question, leader)  # a different problem: one answer of the other kind
    else:
        grouping.undo_auto_grouping(asked, leader) if asked.grouping == "auto" else None
    db.session.commit()

    def confirm_all(texts):
        for text in texts:
            report = make_report(text=text)
            review = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == report.id))
            assert review is not None
            grouping.confirm_review(review, leader)
            db.session.commit()

    endings = ("", " Please fix it.", " Thanks.", " Still the same today.", " Help!", " Again.")
    confirm_all([CARD_AGAIN[0], CARD_AGAIN[1], CARD_AGAIN[2], CARD_AGAIN[3]])
    settings(grouping_auto=0.8)
    few = calibration()
    assert few.decisions > 0 and few.thresholds.auto > 1  # too few answers to be sure: ask
    assert decide(CARD_AGAIN[-1]).kind != AUTO
    settings(grouping_auto=1.01)
    confirm_all([text + ending for ending in endings[1:] for text in CARD_AGAIN[:5]])
    settings(grouping_auto=0.8)
    sure = calibration()
    assert sure.decisions >= 20 and sure.thresholds.auto <= 0.9
    assert decide(CARD_AGAIN[-1]).kind == AUTO


def test_triage_shows_candidates_and_merges_one_or_several_in_one_step(make_report, make_user, client, auth, settings):
    settings(grouping_auto=1.01, grouping_review=1.0, suggest_min=0.05)  # nothing grouped by itself
    target = make_report(text=CARD)
    duplicates = [make_report(text=CARD_AGAIN[0]), make_report(text=CARD_AGAIN[1])]
    unrelated = make_report(text=LIFT)
    auth.login(make_user(Role.LEADER))
    page = client.get("/triage").get_data(as_text=True)
    assert "New problems that may be duplicates" in page
    assert f"/problems/{duplicates[0].problem_id}/merge-into/{target.problem_id}" in page
    assert "score 0." in page
    one, chosen, into = duplicates[0].problem_id, [duplicates[1].problem_id, unrelated.problem_id], target.problem_id
    # One click: merge the first duplicate into its candidate.
    response = client.post(f"/problems/{one}/merge-into/{into}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/triage")
    db.session.expire_all()
    assert db.session.get(Problem, one).merged_into_id == into
    # Several in one step; no target given re-renders with the error and the choices kept.
    response = client.post("/problems/merge-many", data={"problems": chosen, "many-target": ""})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Give the number of the problem to merge into." in body
    assert f'value="{chosen[0]}" form="merge-many" id="choose-{chosen[0]}" checked' in body
    response = client.post("/problems/merge-many", data={"problems": chosen, "many-target": into})
    assert response.status_code == 302
    db.session.expire_all()
    for problem_id in chosen:
        assert db.session.get(Problem, problem_id).merged_into_id == into
    assert db.session.scalar(db.select(db.func.count(Report.id)).where(Report.problem_id == into)) == 4


def test_merge_many_needs_a_leader(make_report, make_user, client, auth):
    a, b = make_report(text=CARD).problem_id, make_report(text=LIFT).problem_id
    auth.login(make_user(Role.STAFF))
    response = client.post("/problems/merge-many", data={"problems": [a], "many-target": b})
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Problem, a).merged_into_id is None


def test_the_panel_counts_joins_undos_questions_and_merges_per_month(make_report, make_user, client, auth, settings):
    leader = make_user(Role.ADMIN)
    settings(grouping_auto=0.3, grouping_review=0.05)
    first = make_report(text=CARD)
    joined = [make_report(text=t) for t in CARD_AGAIN[:3]]
    autos = [r for r in joined if r.grouping == "auto"]
    assert len(autos) >= 2
    grouping.undo_auto_grouping(autos[0], leader)
    db.session.commit()
    settings(grouping_auto=1.01)
    asked = make_report(text=CARD_AGAIN[4])
    review = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == asked.id))
    grouping.confirm_review(review, leader)
    lift = make_report(text=LIFT)
    lift_again = make_report(text="Lift in block B stuck downstairs again, cannot get the pram up.")
    if lift_again.problem_id != lift.problem_id:
        pending = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == lift_again.id))
        if pending is not None:
            grouping.reject_review(pending, leader)
        grouping.merge_problems(lift_again.problem, lift.problem, leader)
    db.session.commit()
    reports = db.session.scalar(db.select(db.func.count(Report.id)))
    auth.login(leader)
    page = client.get("/dashboard/grouping").get_data(as_text=True)
    assert "How grouping works" in page
    month_rows = [line for line in page.splitlines() if "<tr><th scope=\"row\">" in line]
    this_month = [row for row in month_rows if f'<td class="num">{len(autos)}</td>' in row]
    assert this_month, month_rows[-4:]
    auto_row = month_rows[len(month_rows) // 4 - 1]  # the last month of the first table
    assert f'<td class="num">{len(autos)}</td><td class="num">1</td>' in auto_row
    merges_row = month_rows[3 * len(month_rows) // 4 - 1]
    assert f'<td class="num">{reports}</td><td class="num">1</td>' in merges_row
    precision_row = month_rows[-1]
    kept = len(autos) - 1
    assert f'<td class="num">{kept}</td><td class="num">{round(100 * kept / len(autos))}%</td>' in precision_row
    assert first.problem_id


def test_the_panel_is_for_leaders_only(make_user, client, auth):
    auth.login(make_user(Role.STAFF))
    assert client.get("/dashboard/grouping").status_code in (302, 403)


def test_a_question_names_several_candidates_and_the_leader_picks_one(make_report, make_user, client, auth, settings):
    settings(grouping_auto=1.01, grouping_review=1.0)
    a = make_report(text=CARD).problem_id
    b = make_report(text=CARD_AGAIN[0]).problem_id
    settings(grouping_review=0.05)
    asked = make_report(text=CARD_AGAIN[1])
    review = db.session.scalar(db.select(GroupingReview).where(GroupingReview.report_id == asked.id))
    named = [review.candidate_problem_id] + [int(x[0]) for x in review.alternatives or ()]
    assert {a, b} <= set(named)
    other = b if review.candidate_problem_id == a else a
    auth.login(make_user(Role.LEADER))
    page = client.get("/triage").get_data(as_text=True)
    assert f"Or join #{other}" in page
    assert client.post(f"/grouping-reviews/{review.id}/confirm", data={"candidate": other}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, asked.id).problem_id == other
    decision = db.session.scalar(db.select(GroupingDecision).where(GroupingDecision.report_id == asked.id))
    assert (decision.source, decision.same, decision.problem_id) == ("confirmed", True, other)


def test_a_close_paraphrase_of_a_public_title_is_suggested_to_customers(make_report, settings):
    settings(grouping_auto=1.01, grouping_review=1.0)
    report = make_report(text="Driver dumped the box by the bins again, everything inside got soaked.")
    report.problem.public_title = "Parcels left outside in the rain"
    make_report(text=LIFT).problem.public_title = "The lift in block B is stuck"
    db.session.commit()
    shown = grouping.suggestions("my parcel was left outside in the rain", staff=False)
    assert shown and shown[0]["id"] == report.problem_id
    assert shown[0]["title"] == "Parcels left outside in the rain"
    assert all(s["title"] != report.problem.title for s in shown)  # customers see the public title only
    assert report.problem_id not in {s["id"] for s in grouping.suggestions("the lift in block B is stuck", staff=False)[:1]}
