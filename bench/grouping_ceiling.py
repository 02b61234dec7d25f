"""How far automatic joins can go with these models: the precision of the best candidate at
each coverage, when every earlier report sits in its true problem (a perfect leader).

Issue 13 asks for automatic joins at precision 0.95 covering 40% of the reports that have an
earlier duplicate. This replays a labelled CSV in file order with the decision's own
features (bench/grouping_calibrate.py's replay, which the engine's tests keep equal to
app/grouping/rules.py), but places every report in its true problem, so nothing is lost to
earlier mistakes. Each report's best candidate is ranked by a score; joining the top k of
all reports (those without an earlier duplicate can only be joined wrongly) gives a
precision and a coverage. The curve is an upper bound for any threshold on that score:

    .venv/bin/python bench/grouping_ceiling.py ../shared/data/reports-dev/reports-dev.csv

``score`` is the shipped calibration (rules.DEFAULT_WEIGHTS), ``h1`` the best similarity
alone and ``margin`` its lead over the runner-up problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grouping_calibrate import candidates, load, prepare  # noqa: E402


def best_candidates(data, weights):
    """(score, h1, margin, right, has an earlier duplicate) of each report's best candidate."""
    from app.grouping import rules

    n = len(data["labels"])
    clusters = np.zeros(n, np.int64)
    members: dict[int, list[int]] = {}
    problem_of: dict[str, int] = {}
    rows = []
    for i, label in enumerate(data["labels"]):
        found = candidates(i, data, clusters, members)
        rules.score(weights, found)
        if found:
            best = max(found, key=lambda c: c.score)
            features = dict(zip(rules.FEATURES, best.vector()))
            rows.append((best.score, features["h1"], features["margin"],
                         problem_of.get(label) == best.problem_id, label in problem_of))
        problem = problem_of.setdefault(label, len(problem_of))
        clusters[i] = problem
        members.setdefault(problem, []).append(i)
    return rows


def curve(rows, with_duplicate, column):
    ranked = sorted(rows, key=lambda r: -r[column])
    right = np.cumsum([r[3] for r in ranked])
    joined = np.arange(1, len(ranked) + 1)
    precision, coverage = right / joined, right / max(with_duplicate, 1)
    at = {c: float(precision[np.searchsorted(coverage, c)]) if coverage[-1] >= c else None
          for c in (0.1, 0.2, 0.3, 0.4, 0.5)}
    reach = float(coverage[precision >= 0.95].max()) if (precision >= 0.95).any() else 0.0
    return at, reach


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--sample", type=int, default=2500)
    parser.add_argument("--backend", default="hybrid")
    args = parser.parse_args()

    from app import create_app
    from app.grouping import rules, similarity_backends

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    backend = similarity_backends(app)[args.backend]
    data = prepare(load(args.file, args.sample), backend)
    rows = best_candidates(data, np.asarray(rules.DEFAULT_WEIGHTS, dtype=np.float64))
    with_duplicate = sum(r[4] for r in rows)  # every report but the first has a candidate
    print(f"{args.file}: {len(data['labels'])} reports, {with_duplicate} with an earlier duplicate; "
          f"the best candidate is right for {sum(r[3] for r in rows) / with_duplicate:.3f} of those")
    for name, column in (("score", 0), ("h1", 1), ("margin", 2)):
        at, reach = curve(rows, with_duplicate, column)
        shown = ", ".join(f"{c:.1f}: {p:.3f}" if p is not None else f"{c:.1f}: -" for c, p in at.items())
        print(f"ranked by {name:<6} precision at coverage {shown}; precision >= 0.95 up to coverage {reach:.3f}")


if __name__ == "__main__":
    main()
