"""``careloop grouping-eval``: file a labelled CSV through the real filing service and score
the grouping.

Rows are filed one by one, in file order, into a fresh database built by the migrations:
for each row the engine decides (``decide``, timed as the suggestion), the report is filed
with ``app.services.file_report`` (into the matched problem when the decision is ``auto``,
otherwise as the service places it), indexed, and committed. Labels are read only to score.
"""

from __future__ import annotations

import csv
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.grouping.metrics import clustering_scores, percentile


class EvaluationError(Exception):
    pass


def _rows(path: Path, text_column: str, label_column: str, limit: int | None):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or ())]
        if missing:
            raise EvaluationError(
                f"{path} has no column {', '.join(missing)}; its columns are {', '.join(reader.fieldnames or ())}."
            )
        for number, row in enumerate(reader):
            if limit is not None and number >= limit:
                return
            yield (row[text_column] or "").strip(), (row[label_column] or "").strip()


def _empty(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return not sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def run_evaluation(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "category",
    config: dict[str, Any] | None = None,
    database_url: str | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the evaluation and return the figures (see the module docstring).

    :param config: settings for the evaluation's app (grouping thresholds, backend).
    :param database_url: an empty database to use instead of a temporary SQLite file.
    """
    from flask_migrate import upgrade

    from app import create_app, services
    from app.extensions import db
    from app.grouping import AUTO, REVIEW, decide, similarity_index
    from app.models import Problem, Report
    from app.models.grouping import SimilarityVector
    from app.services.errors import ServiceError

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
    problem_labels: dict[int, Counter] = {}
    suggest_ms: list[float] = []
    auto = review = auto_good = skipped = 0
    try:
        with app.app_context():
            upgrade()
            index = similarity_index()
            started = time.perf_counter()
            for number, (text, label) in enumerate(_rows(path, text_column, label_column, limit)):
                if not text:
                    skipped += 1
                    continue
                began = time.perf_counter()
                decision = decide(text)
                suggest_ms.append((time.perf_counter() - began) * 1000)
                problem = db.session.get(Problem, decision.problem_id) if decision.kind == AUTO else None
                try:
                    reporter = services.new_reporter(name=None)
                    report = services.file_report(text=text, reporter=reporter, problem=problem)
                except ServiceError:
                    db.session.rollback()
                    skipped += 1
                    continue
                if db.session.get(SimilarityVector, report.id) is None:  # unless the service indexed it
                    index.index_report(report.id, report.problem_id, report.text)
                db.session.commit()
                if decision.kind == AUTO:
                    auto += 1
                    counts = problem_labels[report.problem_id]
                    auto_good += counts[label] == max(counts.values())
                elif decision.kind == REVIEW:
                    review += 1
                labels[report.id] = label
                problem_labels.setdefault(report.problem_id, Counter())[label] += 1
                if progress:
                    progress(number + 1)
            elapsed = time.perf_counter() - started

            per_label = Counter(labels.values())
            hit1 = hit5 = asked = 0
            for report_id, label in labels.items():
                if per_label[label] < 2:
                    continue
                asked += 1
                neighbours = [labels.get(r) for r, _ in index.report_neighbours(report_id, limit=5)]
                hit1 += bool(neighbours) and neighbours[0] == label
                hit5 += label in neighbours
            final = db.session.execute(sa.select(Report.id, Report.problem_id)).all()
            clusters = {report_id: problem_id for report_id, problem_id in final}
            filed = len(labels)
            ids = sorted(labels)
            scores = clustering_scores([labels[i] for i in ids], [clusters[i] for i in ids])
            problems = len(set(clusters.values()))
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    return {
        "reports": filed,
        "problems": problems,
        "skipped": skipped,
        "backend": app.config["CARELOOP_GROUPING_BACKEND"],
        "auto_threshold": float(app.config["CARELOOP_GROUPING_AUTO"]),
        "review_threshold": float(app.config["CARELOOP_GROUPING_REVIEW"]),
        "hit_at_1": _round(hit1 / asked if asked else 0.0),
        "hit_at_5": _round(hit5 / asked if asked else 0.0),
        "auto_attach_precision": _round(auto_good / auto if auto else 0.0),
        "auto_attach_rate": _round(auto / filed if filed else 0.0),
        "review_rate": _round(review / filed if filed else 0.0),
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


def _round(value: float) -> float:
    return round(value, 4)
