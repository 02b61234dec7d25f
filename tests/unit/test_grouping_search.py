"""The search's shortcuts give what the long way gives: the customers' title suggestions
scored only for titles that can rank, a candidate problem's reports gathered in one pass,
and readability remembered for recent texts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.extensions import db
from app.grouping import rules
from app.grouping.index import _undominated
from app.models import Report

TITLES = [
    "Card reader at the front desk rejects contactless payments",
    "Parcels left outside in the rain",
    "Password reset email never arrives",
    "Refund not received after returning an item",
    "Lift on the second floor out of order",
    "Website login times out",
    "Parking barrier does not open",
    "Invoice shows the wrong amount",
    "Mobile app crashes on start",
    "Phone line cannot be reached after 6pm",
    "Self checkout freezes at the station",
    "Door entry system asks for a code that never comes",
    "Hearing loop at reception switched off",
    "Toilet lock broken by the lifts",
    "Direct debit taken twice this month",
    "Booking form shows an error",
    "Loyalty card points missing",
    "Wifi in the north branch is far too slow",
    "Appointment reminder sent for the wrong day",
    "Car park lights off at the main entrance",
    "Delivery van blocks the ramp every morning",
    "Chat window never answers",
    "Statement arrives late every month",
    "Queue system calls the wrong number",
    "Coffee machine charges twice",
]
TEXTS = [
    "My parcel was left on the doorstep in the pouring rain again",
    "I never got the email to reset my password",
    "The contactless card machine at the desk keeps declining my card",
    "They charged my direct debit two times",
    "Die Website meldet mich ständig ab",
    "لم يصلني المبلغ بعد إرجاع المنتج",
    "Everything about the lift, the wifi and the phone line is broken",
]


def test_a_column_beaten_on_every_similarity_by_enough_others_is_left_out():
    similarities = np.array([
        [0.9, 0.8, 0.7, 0.1, 0.6],   # the mixed similarity
        [0.9, 0.8, 0.7, 0.05, 0.95],  # the multilingual one: the last column leads here
        [0.5, 0.5, 0.5, 0.0, 0.4],   # the lexical one
    ])
    assert _undominated(similarities, 2).tolist() == [0, 1, 2, 4]  # 3 is beaten by four
    assert _undominated(similarities, 5).tolist() == [0, 1, 2, 3, 4]
    # A tie is not a defeat: equal columns are all kept.
    assert _undominated(np.ones((3, 6)), 1).tolist() == list(range(6))


def test_customers_see_the_same_title_suggestions_as_when_every_title_is_scored(index):
    titles = {problem_id: title for problem_id, title in enumerate(TITLES, start=1)}
    pruned_somewhere = False
    for text in TEXTS:
        every = index.title_candidates(text, titles)
        kept = index.title_candidates(text, titles, keep=5)
        assert len(every) == len(TITLES)
        rules.score(rules.DEFAULT_WEIGHTS, every)
        rules.score(rules.DEFAULT_WEIGHTS, kept)
        assert [(c.problem_id, c.score) for c in kept[:5]] == [(c.problem_id, c.score) for c in every[:5]]
        for candidate in kept:  # the titles kept have their full evidence
            same = next(c for c in every if c.problem_id == candidate.problem_id)
            assert candidate.features == same.features
        pruned_somewhere |= len(kept) < len(every)
    assert pruned_somewhere
    best = index.title_candidates("Parcels were left outside in the rain", titles, keep=5)
    rules.score(rules.DEFAULT_WEIGHTS, best)
    assert best[0].problem_id == 2


def test_a_problem_s_evidence_counts_its_reports_and_no_others(index, make_report):
    card = make_report(text="The card reader at the front desk rejects my contactless card.")
    for text in ["Contactless payment fails at the front desk card reader again.",
                 "Front desk card machine declined my card twice this morning."]:
        make_report(text=text, problem=card.problem)
    parcel = make_report(text="My parcel was left outside in the rain and got soaked.")
    text = "The card reader at the front desk will not take contactless."
    evidence = index.evidence(text)
    found = {c.problem_id: c for c in evidence.candidates}
    for problem_id in (card.problem_id, parcel.problem_id):
        reports = db.session.scalar(db.select(db.func.count()).select_from(Report).where(Report.problem_id == problem_id))
        assert found[problem_id].features["logn"] == pytest.approx(math.log1p(reports))
    assert evidence.candidates[0].problem_id == card.problem_id
    # The report that started the card problem, asked about itself, is left out of its own problem.
    alone = index.evidence(card.text, exclude_report_id=card.id, problem_ids=[card.problem_id])
    assert alone.candidates[0].features["logn"] == pytest.approx(math.log1p(2))
    assert alone.candidates[0].report_id != card.id


def test_readability_remembered_is_the_backend_s(index):
    backend = index.backend
    for text in ["The lift is out of order again", "الباب لا يفتح منذ الصباح", "Der Aufzug ist kaputt"]:
        readable = float(backend.readable(text)) if backend.readable else 1.0
        understood = max(float(backend.understood(text)), readable) if backend.understood else readable
        for _ in range(2):  # computed, then remembered
            assert index.readability(text) == readable
            assert index.understood(text) == understood
        index.forget()
        assert index.readability(text) == readable
