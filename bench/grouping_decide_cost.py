"""The grouping decision's cost, before and after issue 13, in one run.

    .venv/bin/python bench/grouping_decide_cost.py --reports 100000

- before: the ``minilm`` backend and the old decision (the nearest report's calibrated
  score against CARELOOP_GROUPING_AUTO 0.95 / REVIEW 0.75; customers' suggestions
  ``similar_problems`` over the problems they may see, at the review threshold);
- after: the default ``hybrid`` backend (MiniLM, the multilingual USE and the lexical
  vector) and the new decision (every report of the nearest
  problems, the margin over the runner-up, identifiers, readability, calibrated scores,
  the learning's calibration check; suggestions also against public titles).

Two temporary SQLite databases built by the migrations are each filled to ``--reports``
stored reports with grouping_scale.py's generator (real vectors of generated texts plus
noise), 200 problems with a public title. Then, in alternating rounds so that other load on
the machine falls on both alike, it measures:

- ``suggest_ms_p50/p95``: a customer's "Is it one of these?" for a new text (wall clock,
  encode included); ``suggest_cpu_ms_p50/p95`` the same in process CPU time, which other
  load on a shared machine does not inflate;
- ``filing_cpu_ms``: process CPU time per report filed through ``file_report`` with a
  commit each, as the web form files (the decision, reporter, problem, report, events,
  vector) after its text was suggested on, and its ratio after / before;
- ``filing_cold_cpu_ms``: the same for texts never seen before (an API call or an import:
  encoding the text is part of filing), and its ratio after / before.

Both sides run today's index code (the search, the process's copy, the remembered vectors
and readability): only the model and the decision differ, so the ratios are what issue 13
costs. The limits: filing at most x1.20 CPU, a customer's suggestion p95 at most 50 ms.
Figures of the last run are in docs/grouping.md ("Cost"). To see where the time goes, run
cProfile around ``suggestions`` and ``file_report`` in an app built like ``build`` below.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from grouping_scale import fill, generated_text


def legacy_decide(text_or_report, *, problem_ids=None, exclude_report_id=None, app=None):
    """The decision before issue 13: one nearest report, two thresholds."""
    from flask import current_app

    from app.grouping import AUTO, NEW, REVIEW, Decision, similarity_index

    app = app or current_app
    text = text_or_report if isinstance(text_or_report, str) else text_or_report.text
    matches = similarity_index().similar_problems(text, limit=5, problem_ids=problem_ids,
                                                  exclude_report_id=exclude_report_id)
    if not matches:
        return Decision(NEW, None, 0.0)
    best = matches[0]
    if best.score >= float(app.config["CARELOOP_GROUPING_AUTO"]):
        kind = AUTO
    elif best.score >= float(app.config["CARELOOP_GROUPING_REVIEW"]):
        kind = REVIEW
    else:
        return Decision(NEW, None, best.score, None, tuple(matches))
    return Decision(kind, best.problem_id, best.score, best.report_id, tuple(matches))


def legacy_suggestions(text: str, *, staff: bool, limit: int = 5) -> list[dict]:
    from flask import current_app

    from app.extensions import db
    from app.grouping import similarity_index
    from app.models import Problem
    from app.services.grouping import visible_open_problem_ids

    allowed = visible_open_problem_ids(staff=staff)
    threshold = float(current_app.config["CARELOOP_GROUPING_REVIEW"])
    matches = similarity_index().similar_problems(text, limit=limit, problem_ids=allowed)
    problems = {p.id: p for p in db.session.scalars(db.select(Problem).where(
        Problem.id.in_([m.problem_id for m in matches])))}
    return [{"id": m.problem_id, "title": problems[m.problem_id].public_title, "score": m.score}
            for m in matches if m.score >= threshold and m.problem_id in problems]


def build(name: str, folder: Path, config: dict, reports: int, rng: random.Random):
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.grouping import similarity_index
    from app.grouping.backend import MiniLM
    from app.models import Problem

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / (name + '.sqlite')}",
                      "CARELOOP_BASE_URL": "http://bench.invalid", **config})
    with app.app_context():
        upgrade()
        index = similarity_index()
        if name == "before":  # last round's model: MiniLM's MatMuls in float32
            index.backend = dataclasses.replace(index.backend, encode=MiniLM(int8=False))
        pool_texts = [generated_text(rng, topic=t) for t in range(2000)]
        pool = index.backend.encode(pool_texts)
        fill(app, reports, pool, pool_texts, rng)
        ids = db.session.scalars(sa.select(Problem.id).order_by(Problem.id).limit(200)).all()
        db.session.execute(sa.update(Problem).where(Problem.id.in_(ids)).values(public_title=Problem.title))
        db.session.commit()
        index.size()  # load the process's copy now, not inside a timed call
    return app


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from app import services
    from app.extensions import db
    from app.services import grouping as grouping_service

    folder = Path(tempfile.mkdtemp(prefix="careloop-decide-cost-"))
    rng = random.Random(args.seed)
    apps = {
        "before": build("before", folder, {"CARELOOP_GROUPING_BACKEND": "minilm", "CARELOOP_GROUPING_AUTO": 0.95,
                                           "CARELOOP_GROUPING_REVIEW": 0.75}, args.reports, rng),
        "after": build("after", folder, {}, args.reports, rng),
    }
    new_decide = grouping_service.decide
    suggest = {"before": legacy_suggestions, "after": grouping_service.suggestions}
    timings = {name: {"suggest_ms": [], "suggest_cpu_ms": [], "filing_cpu_ms": [], "filing_cold_cpu_ms": []}
               for name in apps}
    for name, app in apps.items():  # a running server has its public titles encoded already
        with app.app_context():
            suggest[name]("warming up the public titles", staff=False)
    try:
        for round_ in range(args.rounds):
            for name in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                app = apps[name]
                grouping_service.decide = legacy_decide if name == "before" else new_decide
                with app.app_context():
                    texts = [generated_text(rng) + f" Ref {rng.randrange(10**6)}." for _ in range(args.per_round)]
                    for text in texts:
                        began, cpu = time.perf_counter(), time.process_time()
                        suggest[name](text, staff=False)
                        timings[name]["suggest_ms"].append((time.perf_counter() - began) * 1000)
                        timings[name]["suggest_cpu_ms"].append((time.process_time() - cpu) * 1000)
                    for text in texts:  # the texts as typed are remembered, as after a suggestion
                        began = time.process_time()
                        services.file_report(text=text, reporter=services.new_reporter(name=None))
                        db.session.commit()
                        timings[name]["filing_cpu_ms"].append((time.process_time() - began) * 1000)
                    for _ in range(args.per_round):  # never seen: filing encodes the text
                        text = generated_text(rng) + f" Order {rng.randrange(10**6)}."
                        began = time.process_time()
                        services.file_report(text=text, reporter=services.new_reporter(name=None))
                        db.session.commit()
                        timings[name]["filing_cold_cpu_ms"].append((time.process_time() - began) * 1000)
                    db.session.remove()
    finally:
        grouping_service.decide = new_decide
        for app in apps.values():
            with app.app_context():
                db.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    result = {"reports": args.reports}
    for name, t in timings.items():
        result[name] = {
            "suggest_ms_p50": round(percentile(t["suggest_ms"], 50), 2),
            "suggest_ms_p95": round(percentile(t["suggest_ms"], 95), 2),
            "suggest_cpu_ms_p50": round(percentile(t["suggest_cpu_ms"], 50), 2),
            "suggest_cpu_ms_p95": round(percentile(t["suggest_cpu_ms"], 95), 2),
            "filing_cpu_ms_mean": round(sum(t["filing_cpu_ms"]) / len(t["filing_cpu_ms"]), 2),
            "filing_cpu_ms_p50": round(percentile(t["filing_cpu_ms"], 50), 2),
            "filing_cold_cpu_ms_mean": round(sum(t["filing_cold_cpu_ms"]) / len(t["filing_cold_cpu_ms"]), 2),
        }
    result["filing_cpu_ratio_after_before"] = round(
        result["after"]["filing_cpu_ms_mean"] / result["before"]["filing_cpu_ms_mean"], 3)
    result["filing_cold_cpu_ratio_after_before"] = round(
        result["after"]["filing_cold_cpu_ms_mean"] / result["before"]["filing_cold_cpu_ms_mean"], 3)
    result["suggest_p95_ratio_after_before"] = round(
        result["after"]["suggest_ms_p95"] / result["before"]["suggest_ms_p95"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
