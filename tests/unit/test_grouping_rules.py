"""The grouping decision rules (app/grouping/rules.py) and the learning (learning.py), as
pure functions: the whole problem, the margin over the runner-up, disagreeing
identifiers, unreadable text, calibrated scores, and adapting to leaders' decisions."""

from __future__ import annotations

import numpy as np
import pytest

from app.grouping import learning, rules

THRESHOLDS = rules.Thresholds(auto=0.7, review=0.2, suggest=0.1, margin=0.2)


def features(**values) -> dict[str, float]:
    base = {name: 0.0 for name in rules.FEATURES}
    base.update(values)
    return base


def candidate(problem_id: int, score: float, **values) -> rules.Candidate:
    return rules.Candidate(problem_id, problem_id * 10, features(**values), score)


def evidence(*candidates, readable: float = 0.95) -> rules.Evidence:
    return rules.Evidence(readable=readable, candidates=list(candidates))


def test_a_clear_best_problem_is_joined_automatically():
    kind, chosen = rules.choose(evidence(candidate(1, 0.9), candidate(2, 0.3)), THRESHOLDS)
    assert kind == "auto" and [c.problem_id for c in chosen] == [1]


def test_an_automatic_threshold_of_one_switches_automatic_joins_off():
    # The highest setting the configuration accepts; a certain match's score rounds to 1.0.
    off = rules.Thresholds(auto=1.0, review=0.2, suggest=0.1, margin=0.2)
    kind, chosen = rules.choose(evidence(candidate(1, 1.0), candidate(2, 0.3)), off)
    assert kind == "review" and [c.problem_id for c in chosen] == [1, 2]


def test_a_close_runner_up_turns_a_join_into_a_question_naming_both():
    kind, chosen = rules.choose(evidence(candidate(1, 0.9), candidate(2, 0.8), candidate(3, 0.05)), THRESHOLDS)
    assert kind == "review"
    assert [c.problem_id for c in chosen] == [1, 2]  # the third is below half the review threshold


def test_disagreeing_identifiers_never_join_automatically():
    kind, _ = rules.choose(evidence(candidate(1, 0.95, conflict=1.0)), THRESHOLDS)
    assert kind == "review"


def test_text_the_model_cannot_read_is_never_joined_automatically():
    kind, chosen = rules.choose(evidence(candidate(1, 0.99), readable=0.05), THRESHOLDS)
    assert kind == "review" and chosen[0].problem_id == 1
    assert rules.choose(evidence(candidate(1, 0.99), readable=0.95), THRESHOLDS)[0] == "auto"


def test_weak_evidence_starts_a_new_problem():
    assert rules.choose(evidence(candidate(1, 0.15)), THRESHOLDS) == ("new", [])
    assert rules.choose(evidence(), THRESHOLDS) == ("new", [])


def test_readability_weighs_the_english_model_against_the_multilingual_one():
    assert rules.weight(0.95) == 1.0 and rules.weight(0.0) == 0.0
    assert 0 < rules.weight(0.4) < 1


def test_features_use_the_whole_problem_and_margins_compare_with_the_runner_up():
    whole = rules.problem_features(np.array([0.9, 0.2, 0.1]), np.array([0.9, 0.2, 0.1]), np.array([0.5, 0.1, 0.0]),
                                   w=1.0, size=3, vote=0.3, conflict=False)
    assert whole["h1"] == pytest.approx(0.9) and whole["hmean"] == pytest.approx(0.4)
    assert whole["htop3"] == pytest.approx(0.4) and whole["logn"] == pytest.approx(np.log(4))
    found = [rules.Candidate(1, 1, dict(whole)), rules.Candidate(2, 2, dict(whole, h1=0.6))]
    rules.add_margins(found)
    assert found[0].features["margin"] == pytest.approx(0.3)
    assert found[1].features["margin"] == pytest.approx(-0.3)


def test_the_multilingual_model_is_asked_whether_it_ranks_the_same_problem_first():
    mine = features(h1=0.8, u1=0.5)
    near_miss = features(h1=0.7, u1=0.7)  # the second model prefers the other problem
    found = [rules.Candidate(1, 1, mine), rules.Candidate(2, 2, near_miss)]
    rules.add_margins(found)
    assert found[0].features["umargin"] == pytest.approx(-0.2) and found[0].features["uagree"] == 0.0
    assert found[1].features["umargin"] == pytest.approx(0.2) and found[1].features["uagree"] == 1.0


def test_scores_are_calibrated_in_zero_one_and_sorted_best_first():
    strong = features(h1=0.9, hmean=0.8, htop3=0.85, u1=0.9, l1=0.5, margin=0.4, vote=0.5, logn=1.5)
    weak = features(h1=0.2, hmean=0.1, htop3=0.15, u1=0.2, l1=0.05, margin=-0.4, vote=0.02, logn=0.7)
    found = [rules.Candidate(2, 0, weak), rules.Candidate(1, 0, strong)]
    rules.score(rules.DEFAULT_WEIGHTS, found)
    assert [c.problem_id for c in found] == [1, 2]
    assert all(0.0 <= c.score <= 1.0 for c in found)
    assert found[0].score > 0.5 > found[1].score


def _decisions(n: int, same: bool) -> tuple[list[dict], list[bool]]:
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(n):
        h = 0.75 + rng.normal(0, 0.02)
        rows.append(features(h1=h, hmean=h - 0.1, htop3=h - 0.05, u1=h, l1=0.4, margin=0.3, vote=0.4, logn=1.0))
    return rows, [same] * n


def test_learning_lowers_scores_that_leaders_rejected_and_raises_the_auto_threshold():
    rows, labels = _decisions(40, False)
    more, yes = _decisions(5, True)
    base = rules.Thresholds(auto=0.7, review=0.2, suggest=0.1, margin=0.2)
    weights, thresholds = learning.adapt(rows + more, labels + yes, base, minimum=30, strength=1.0, precision=0.95)
    before = [rules.Candidate(1, 0, dict(rows[0]))]
    after = [rules.Candidate(1, 0, dict(rows[0]))]
    rules.score(rules.DEFAULT_WEIGHTS, before)
    rules.score(weights, after)
    assert after[0].score < before[0].score - 0.2
    # No threshold in the allowed range reaches the precision: automatic joins wait.
    assert thresholds.auto > 1
    assert thresholds.review == base.review and thresholds.suggest == base.suggest


def test_learning_waits_for_enough_decisions_of_both_kinds():
    base = rules.Thresholds(auto=0.7, review=0.2, suggest=0.1, margin=0.2)
    rows, labels = _decisions(10, False)
    assert learning.adapt(rows, labels, base, minimum=30, strength=1.0, precision=0.95) == (
        tuple(rules.DEFAULT_WEIGHTS), base)
    rows, labels = _decisions(40, True)  # one kind only: nothing to learn the boundary from
    assert learning.adapt(rows, labels, base, minimum=30, strength=1.0, precision=0.95)[0] == tuple(
        rules.DEFAULT_WEIGHTS)


def test_the_automatic_threshold_falls_only_when_the_decisions_show_the_precision_with_confidence():
    base = rules.Thresholds(auto=0.7, review=0.2, suggest=0.1, margin=0.2)
    rows, labels = _decisions(200, True)
    no, nos = _decisions(1, False)
    _, thresholds = learning.adapt(rows + no, labels + nos, base, minimum=30, strength=1.0, precision=0.95)
    assert thresholds.auto == pytest.approx(0.6)  # 200 of 201 right: the bottom of the range
    # 60 of 63 right is 95% measured, but could be chance: no lower threshold, joins wait.
    rows, labels = _decisions(60, True)
    no, nos = _decisions(3, False)
    _, thresholds = learning.adapt(rows + no, labels + nos, base, minimum=30, strength=1.0, precision=0.95)
    assert thresholds.auto > 1


def test_an_undone_automatic_join_counts_more_than_a_rejected_question():
    base = rules.Thresholds(auto=0.7, review=0.2, suggest=0.1, margin=0.2)
    rows, labels = _decisions(100, True)
    no, nos = _decisions(1, False)
    rejected = learning.adapt(rows + no, labels + nos, base, minimum=30, strength=1.0, precision=0.9,
                              sources=["confirmed"] * 100 + ["rejected"])[1]
    undone = learning.adapt(rows + no, labels + nos, base, minimum=30, strength=1.0, precision=0.9,
                            sources=["confirmed"] * 100 + ["undone"])[1]
    assert rejected.auto == pytest.approx(0.6)
    assert undone.auto > 1
    assert learning.lower_bound(100, 101) > 0.9 > learning.lower_bound(100, 105)


def test_automatic_joins_stop_when_leaders_answers_show_the_precision_is_out_of_reach():
    rng = np.random.default_rng(2)

    def rows(n, h):
        return [features(h1=h + rng.normal(0, 0.01), hmean=h - 0.1, htop3=h - 0.05, u1=h, l1=0.4, margin=0.3,
                         vote=0.4, logn=1.0) for _ in range(n)]

    # Strong evidence, yet one join in eight was wrong; weak evidence, always wrong.
    strong, weak = rows(40, 0.85), rows(30, 0.3)
    labels = [True] * 35 + [False] * 5 + [False] * 30
    base = rules.Thresholds(auto=0.6, review=0.2, suggest=0.1, margin=0.2)
    weights, thresholds = learning.adapt(strong + weak, labels, base, minimum=30, strength=1.0, precision=0.95)
    scored = [rules.Candidate(1, 0, dict(strong[0]))]
    rules.score(weights, scored)
    assert scored[0].score >= 0.8  # above the top of the allowed range, but only 7 in 8 right
    assert thresholds.auto > 1
    assert rules.choose(evidence(candidate(1, 0.99)), thresholds)[0] == "review"
    # Right often enough, and often enough to be sure: the threshold stays within its limits.
    strong = rows(150, 0.85)
    labels = [True] * 150 + [False] * 30
    _, thresholds = learning.adapt(strong + weak, labels, base, minimum=30, strength=1.0, precision=0.95)
    assert 0.5 - 1e-9 <= thresholds.auto <= 0.99 + 1e-9
