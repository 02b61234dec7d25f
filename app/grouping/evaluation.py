"""``careloop grouping-eval``: file a labelled CSV through the real filing service and score
the grouping.

Rows are filed one by one, in file order, into a fresh database built by the migrations:
for each row the engine decides (``decide``, timed as the suggestion), the report is filed
with ``app.services.file_report`` (into the matched problem when the decision is ``auto``,
otherwise as the service places it), indexed, and committed. Labels are read only to score.
"""

from __future__ import annotations

import csv
import re
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app import create_app, services
from app.extensions import db
from app.grouping import decide, similarity_index
from app.grouping.learning import calibration
from app.grouping.metrics import clustering_scores, percentile
from app.models import GroupingReview, Problem, Report, Role
from app.models.grouping import GroupingDecision, SimilarityVector
from app.services import grouping as grouping_service
from app.services.errors import ServiceError


class EvaluationError(Exception):
    pass


def _rows(path: Path, text_column: str, label_column: str, limit: int | None, lang_column: str = "lang"):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        has_lang = lang_column in (reader.fieldnames or ())
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or ())]
        if missing:
            raise EvaluationError(
                f"{path} has no column {', '.join(missing)}; its columns are {', '.join(reader.fieldnames or ())}."
            )
        for number, row in enumerate(reader):
            if limit is not None and number >= limit:
                return
            lang = (row[lang_column] or "").strip() or None if has_lang else None
            yield (row[text_column] or "").strip(), (row[label_column] or "").strip(), lang


def _empty(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return not sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def run_evaluation(  # noqa: C901 - one pass over the stream, each figure counted inline
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "category",
    config: dict[str, Any] | None = None,
    database_url: str | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    simulate_leader: bool = False,
) -> dict[str, Any]:
    """Run the evaluation and return the figures (see the module docstring).

    :param config: settings for the evaluation's app (grouping thresholds, backend).
    :param database_url: an empty database to use instead of a temporary SQLite file.
    :param simulate_leader: after each report, a leader answers as the labels say
        (confirms right questions, rejects wrong ones, undoes wrong automatic joins and
        merges what was missed); figures are given for the first and second half too.
    """
    from flask_migrate import upgrade


    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path} does not exist.")
    folder = Path(tempfile.mkdtemp(prefix="careloop-grouping-eval-"))
    if database_url is None:
        database_url = f"sqlite:///{folder / 'eval.sqlite'}"
    elif not _empty(database_url):
        raise EvaluationError("The database given with --database-url must be empty; it is not.")
    app = create_app({
        **(config or {}),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CARELOOP_BASE_URL": "http://grouping-eval.invalid",
    })
    labels: dict[int, str] = {}
    texts: dict[int, str] = {}
    problem_labels: dict[int, Counter] = {}
    started_by: dict[int, str] = {}  # a problem's label: the label of the report that started it
    outcomes: list[dict] = []
    suggest_ms: list[float] = []
    skipped = 0
    vocabulary: dict[str, Counter] = {}
    try:
        with app.app_context():
            upgrade()
            index = similarity_index()
            leader = None
            if simulate_leader:
                leader = services.create_user(name="Simulated leader", email="grouping-eval-leader@example.org",
                                              role=Role.ADMIN, password="not-used-for-signing-in-1")
                db.session.commit()
            started = time.perf_counter()
            for number, (text, label, lang) in enumerate(_rows(path, text_column, label_column, limit)):
                if not text:
                    skipped += 1
                    continue
                for word in set(_WORDS.findall(text.lower())):
                    vocabulary.setdefault(label, Counter())[word] += 1
                began = time.perf_counter()
                decide(text)  # timed: the decision a new report costs
                suggest_ms.append((time.perf_counter() - began) * 1000)
                shown = grouping_service.suggestions(text, staff=True)
                right = {p for p, first in started_by.items() if first == label and _live(db, Problem, p)}
                has_dup = bool(right)
                try:
                    reporter = services.new_reporter(name=None)
                    report = services.file_report(text=text, reporter=reporter)
                except ServiceError:
                    db.session.rollback()
                    skipped += 1
                    continue
                if db.session.get(SimilarityVector, report.id) is None:  # unless the service indexed it
                    index.index_report(report.id, report.problem_id, report.text)
                db.session.commit()
                kind = report.grouping if report.grouping == "auto" else None
                review = db.session.scalar(sa.select(GroupingReview).where(GroupingReview.report_id == report.id))
                named: list[int] = []
                if review is not None:
                    kind = "review"
                    named = [review.candidate_problem_id] + [int(a[0]) for a in review.alternatives or ()]
                outcome = {
                    "number": number, "lang": lang, "has_dup": has_dup, "kind": kind or "new",
                    "auto_right": kind == "auto" and started_by.get(report.problem_id) == label,
                    "review_right": kind == "review" and bool(right & set(named)),
                    "suggest_hit": bool(right & {s["id"] for s in shown}),
                    "near_miss": False,
                }
                if kind == "auto" and not outcome["auto_right"]:
                    outcome["near_miss"] = (report.problem_id, label)
                if report.problem_id not in started_by:
                    started_by[report.problem_id] = label
                labels[report.id] = label
                texts[report.id] = text
                problem_labels.setdefault(report.problem_id, Counter())[label] += 1
                outcomes.append(outcome)
                if leader is not None:
                    _act_as_leader(report, review, label, started_by, leader, grouping_service, db, Problem)
                    db.session.commit()
                if progress:
                    progress(number + 1)
            elapsed = time.perf_counter() - started

            per_label = Counter(labels.values())
            hit1 = hit5 = asked = 0
            for report_id, label in labels.items():
                if per_label[label] < 2:
                    continue
                asked += 1
                neighbours = [labels.get(r) for r, _ in index.report_neighbours(
                    report_id, limit=5, readable=index.readability(texts[report_id]))]
                hit1 += bool(neighbours) and neighbours[0] == label
                hit5 += label in neighbours
            final = db.session.execute(sa.select(Report.id, Report.problem_id)).all()
            clusters = {report_id: problem_id for report_id, problem_id in final}
            filed = len(labels)
            ids = sorted(labels)
            scores = clustering_scores([labels[i] for i in ids], [clusters[i] for i in ids])
            problems = len(set(clusters.values()))
            used = calibration()
            decisions = db.session.scalar(sa.select(sa.func.count(GroupingDecision.id))) or 0
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    shared = _shared_vocabulary(vocabulary)
    for outcome in outcomes:
        if outcome["near_miss"]:
            problem_id, label = outcome["near_miss"]
            outcome["near_miss"] = frozenset((started_by.get(problem_id), label)) in shared
    auto = sum(o["kind"] == "auto" for o in outcomes)
    auto_good = sum(o["auto_right"] for o in outcomes)
    result = {
        "reports": filed,
        "problems": problems,
        "skipped": skipped,
        "backend": app.config["CARELOOP_GROUPING_BACKEND"],
        "auto_threshold": float(app.config["CARELOOP_GROUPING_AUTO"]),
        "review_threshold": float(app.config["CARELOOP_GROUPING_REVIEW"]),
        "suggest_threshold": float(app.config["CARELOOP_SUGGEST_MIN"]),
        "hit_at_1": _round(hit1 / asked if asked else 0.0),
        "hit_at_5": _round(hit5 / asked if asked else 0.0),
        "auto_attach_precision": _round(auto_good / auto if auto else 0.0),
        "auto_attach_rate": _round(auto / filed if filed else 0.0),
        "review_rate": _round(sum(o["kind"] == "review" for o in outcomes) / filed if filed else 0.0),
        **_figures(outcomes),
        "v_measure": _round(scores["v_measure"]),
        "ari": _round(scores["ari"]),
        "pair_precision": _round(scores["pair_precision"]),
        "pair_recall": _round(scores["pair_recall"]),
        "pair_f1": _round(scores["pair_f1"]),
        "reports_per_s": round(filed / elapsed, 1) if elapsed else 0.0,
        "suggest_ms_p50": round(percentile(suggest_ms, 50), 2),
        "suggest_ms_p95": round(percentile(suggest_ms, 95), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if any(o["lang"] for o in outcomes):
        result["by_lang"] = {lang: {"reports": sum(o["lang"] == lang for o in outcomes),
                                    **_figures([o for o in outcomes if o["lang"] == lang])}
                             for lang in sorted({o["lang"] for o in outcomes if o["lang"]})}
    if simulate_leader:
        half = len(outcomes) // 2
        result["leader"] = {
            "decisions_stored": decisions,
            "calibration_decisions": used.decisions,
            "auto_threshold_now": used.thresholds.auto,
            "first_half": _figures(outcomes[:half]),
            "second_half": _figures(outcomes[half:]),
        }
    return result


_WORDS = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


def _shared_vocabulary(vocabulary: dict[str, Counter]) -> set[frozenset]:
    """Pairs of labels that share vocabulary: at least two words (of four letters or more)
    that each label uses in two or more of its reports."""
    common = {label: {w for w, n in counts.items() if n >= 2} for label, counts in vocabulary.items()}
    names = sorted(common)
    return {frozenset((a, b)) for i, a in enumerate(names) for b in names[i + 1:]
            if len(common[a] & common[b]) >= 2}


def _live(db, Problem, problem_id: int) -> bool:
    problem = db.session.get(Problem, problem_id)
    return problem is not None and problem.merged_into_id is None


def _figures(outcomes: list[dict]) -> dict[str, Any]:
    """The targets' figures over some reports (see ``careloop grouping-eval --help``)."""
    dups = [o for o in outcomes if o["has_dup"]]
    auto = [o for o in outcomes if o["kind"] == "auto"]
    review = [o for o in outcomes if o["kind"] == "review"]
    caught = sum(o["auto_right"] or o["review_right"] for o in dups)
    return {
        "with_earlier_duplicate": len(dups),
        "duplicates_caught": _round(caught / len(dups) if dups else 0.0),
        "auto_joins": len(auto),
        "auto_precision": _round(sum(o["auto_right"] for o in auto) / len(auto) if auto else 0.0),
        "auto_coverage": _round(sum(o["auto_right"] for o in auto) / len(dups) if dups else 0.0),
        "auto_wrong": sum(not o["auto_right"] for o in auto),
        "auto_wrong_near_miss": sum(bool(o["near_miss"]) for o in auto),
        "review_questions": len(review),
        "review_precision": _round(sum(o["review_right"] for o in review) / len(review) if review else 0.0),
        "suggest_hit": _round(sum(o["suggest_hit"] for o in dups) / len(dups) if dups else 0.0),
    }


def _act_as_leader(report, review, label, started_by, leader, grouping_service, db, Problem) -> None:
    """What a careful leader does after a report is filed, by its label."""
    def live(problem_id):
        problem = db.session.get(Problem, problem_id)
        while problem is not None and problem.merged_into_id is not None:
            problem = problem.merged_into
        return problem

    def right_problem():
        for problem_id, first in started_by.items():
            if first == label:
                problem = live(problem_id)
                if problem is not None and problem.id != report.problem_id:
                    return problem
        return None

    if review is not None and review.status == "pending":
        named = [review.candidate_problem_id] + [int(a[0]) for a in review.alternatives or ()]
        good = [live(p) for p in named if started_by.get(p) == label and live(p) is not None]
        if good:
            grouping_service.confirm_review(review, leader, candidate=db.session.get(Problem, named[[started_by.get(p) == label for p in named].index(True)]))
            return
        grouping_service.reject_review(review, leader)
    if report.grouping == "auto" and started_by.get(report.problem_id) != label:
        grouping_service.undo_auto_grouping(report, leader)
        db.session.flush()
    target = right_problem()
    if target is not None and report.problem.id != target.id and len(report.problem.reports) == 1:
        grouping_service.merge_problems(report.problem, target, leader)


def _round(value: float) -> float:
    return round(value, 4)
