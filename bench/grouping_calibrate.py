"""Fit the grouping decision's calibration (rules.DEFAULT_WEIGHTS) and check thresholds.

The decision's logistic weights must fit the evidence as it occurs while reports are filed
one by one: problems start as single reports and grow only as reports join them. So this
replays labelled CSVs in file order with NumPy (the same features as app/grouping/rules.py,
computed exactly over all earlier reports): first with every report in its true problem (a
clean start), then, three times, with the engine's own decisions (auto joins at
--train-auto with --margin), and fits the weights on all those rows together. It then
prints, for several automatic thresholds, the targets' figures on every file given with
--check (calibrate on one half, check on the other; see grouping_split.py).

    python bench/grouping_split.py ../shared/data/banking77/train.csv --out /tmp/b77
    .venv/bin/python bench/grouping_calibrate.py --cache /tmp/cal \\
        --fit-half ../shared/data/reports-dev/reports-dev.csv --fit /tmp/b77-dev.csv \\
        --train-auto 0.5 --margin 0.1 --review 0.3 --suggest 0.2 \\
        --check ../shared/data/reports-dev/reports-dev.csv --check /tmp/b77-heldout.csv

--fit-half fits on half of a file's labels but replays the whole file, so the held-out
problems' near misses stay in the stream; its --check figures come for the held-out half
(never fitted) and the fitted half apart.
"""

from __future__ import annotations

import argparse
import csv
import re

import numpy as np

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def load(path, sample, seed=0):
    from app.grouping import similarity_backends  # noqa: F401 (app import below)

    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if (r.get("text") or "").strip()]
    if sample and len(rows) > sample:
        keep = sorted(np.random.default_rng(seed).choice(len(rows), sample, replace=False))
        rows = [rows[i] for i in keep]
    return rows


def prepare(rows, backend):
    texts = [r["text"] for r in rows]
    vectors = np.vstack([backend.encode(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    parts = backend.parts or (vectors.shape[1],)
    similarities, start = [], 0
    for size in parts:  # each part's cosines (a part has length 1/sqrt(len(parts)))
        block = vectors[:, start:start + size] * np.sqrt(len(parts))
        similarities.append(block @ block.T)
        start += size
    readable = np.array([backend.readable(t) if backend.readable else 1.0 for t in texts])
    understood = [max(backend.understood(t), r) if backend.understood else r for t, r in zip(texts, readable)]
    return {
        "labels": [r["category"] for r in rows], "lang": [r.get("lang") or "en" for r in rows],
        "SM": similarities[0], "SU": similarities[min(1, len(parts) - 1)], "SL": similarities[-1],
        "readable": readable, "understood": np.array(understood),
        "marks": [frozenset(_NUMBER.findall(t)) for t in texts],
    }


def candidates(i, data, clusters, members):
    from app.grouping import rules

    if i == 0:
        return []
    w = rules.weight(data["readable"][i])
    m, u, lex = data["SM"][i, :i], data["SU"][i, :i], data["SL"][i, :i]
    h = w * m + (1 - w) * u
    order = np.argsort(-h, kind="stable")[:576]
    problems = list(dict.fromkeys(clusters[order].tolist()))[: rules.CANDIDATE_PROBLEMS]
    voters = clusters[order[: rules.VOTERS]]
    strength = np.maximum(h[order[: rules.VOTERS]], 0)
    out = []
    for p in problems:
        rows = np.array(members[p][-rules.PROBLEM_REPORTS:])
        best = rows[int(np.argmax(h[rows]))]
        mine, theirs = data["marks"][i], data["marks"][best]
        features = rules.problem_features(
            h[rows], u[rows], lex[rows], w=w, size=len(rows), conflict=bool(mine - theirs) and bool(theirs - mine),
            first=float(h[members[p][0]]),
            vote=float((strength * (voters == p)).sum()) / rules.VOTERS)
        out.append(rules.Candidate(int(p), int(best), features))
    rules.add_margins(out)
    return out


def halves(data):
    """The labels fitted on (even positions in sorted order) and held out (odd), as
    grouping_split.py splits them, but kept in one stream (near misses stay together)."""
    labels = sorted(set(data["labels"]))
    return set(labels[0::2]), set(labels[1::2])


def replay(data, weights, thresholds, collect=None, oracle=False, fit_labels=None, scored=None):
    """Replay the file; ``collect`` gets the candidates' features and labels of rows whose
    label is in ``fit_labels`` (all if None); figures count rows whose label is in
    ``scored`` (all if None)."""
    from app.grouping import rules

    n = len(data["labels"])
    clusters = np.zeros(n, np.int64)
    members: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    seen: set[str] = set()
    out = {}
    for i, label in enumerate(data["labels"]):
        found = candidates(i, data, clusters, members)
        rules.score(weights, found)
        if collect is not None and (fit_labels is None or label in fit_labels):
            collect.extend((c.vector(), float(started[c.problem_id] == label)) for c in found)
        evidence = rules.Evidence(readable=float(data["understood"][i]), candidates=found)
        kind, chosen = rules.choose(evidence, thresholds)
        has_dup = label in seen
        for key in ("all", data["lang"][i]) if scored is None or label in scored else ():
            s = out.setdefault(key, dict(dup=0, auto=0, auto_ok=0, review=0, review_ok=0, caught=0, suggest=0, n=0))
            s["n"] += 1
            s["dup"] += has_dup
            right = [started[c.problem_id] == label for c in chosen]
            if kind == "auto":
                s["auto"] += 1
                s["auto_ok"] += right[0]
                s["caught"] += has_dup and right[0]
            elif kind == "review":
                s["review"] += 1
                s["review_ok"] += any(right)
                s["caught"] += has_dup and any(right)
            s["suggest"] += has_dup and any(started[c.problem_id] == label for c in found if c.score >= thresholds.suggest)
        if oracle:
            problem = next((p for p, first in started.items() if first == label), len(started))
        elif kind == "auto":
            problem = chosen[0].problem_id
        else:
            problem = len(started)
        started.setdefault(problem, label)
        clusters[i] = problem
        members.setdefault(problem, []).append(i)
        seen.add(label)
    return {k: {"duplicates_caught": round(s["caught"] / max(s["dup"], 1), 3),
                "auto_precision": round(s["auto_ok"] / max(s["auto"], 1), 3),
                "auto_coverage": round(s["auto_ok"] / max(s["dup"], 1), 3),
                "review_precision": round(s["review_ok"] / max(s["review"], 1), 3),
                "review_rate": round(s["review"] / max(s["n"], 1), 3),
                "suggest_hit": round(s["suggest"] / max(s["dup"], 1), 3), "auto": s["auto"]}
            for k, s in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", action="append", default=[])
    parser.add_argument("--check", action="append", default=[])
    parser.add_argument("--sample", type=int, default=2500, help="at most this many rows of each file")
    parser.add_argument("--backend", default="hybrid")
    parser.add_argument("--train-auto", type=float, default=0.5)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--review", type=float, default=0.2)
    parser.add_argument("--suggest", type=float, default=0.1)
    parser.add_argument("--autos", default="0.5,0.6,0.65,0.7,0.8")
    parser.add_argument("--reviews", help="review thresholds to check (default: --review)")
    parser.add_argument("--cache", help="a folder to keep encoded files in between runs")
    parser.add_argument("--fit-half", action="append", default=[],
                        help="fit on the even half of this file's labels, replayed in one stream (near misses "
                             "included); given with --check too, its figures come for the odd (held-out) "
                             "half and the fitted half apart")
    args = parser.parse_args()

    from app import create_app
    from app.grouping import rules, similarity_backends
    from app.grouping.learning import fit

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    backend = similarity_backends(app)[args.backend]
    weights = np.asarray(rules.DEFAULT_WEIGHTS, dtype=np.float64)
    if len(weights) != len(rules.FEATURES) + 1:
        weights = np.zeros(len(rules.FEATURES) + 1)

    def prepared(path):
        import hashlib
        import os
        import pickle

        if not args.cache:
            return prepare(load(path, args.sample), backend)
        os.makedirs(args.cache, exist_ok=True)
        key = hashlib.sha1(f"{os.path.abspath(path)}:{args.sample}:{backend.model}".encode()).hexdigest()[:16]
        cached = os.path.join(args.cache, key + ".pickle")
        if not os.path.exists(cached):
            with open(cached, "wb") as handle:
                pickle.dump(prepare(load(path, args.sample), backend), handle)
        with open(cached, "rb") as handle:
            return pickle.load(handle)
    if args.fit or args.fit_half:
        sets = [prepared(path) for path in args.fit + args.fit_half]
        rows: list = []
        fitted = [None] * len(args.fit) + [halves(data)[0] for data in sets[len(args.fit):]]
        for data, labels in zip(sets, fitted):
            replay(data, weights, rules.Thresholds(1.1, args.review, args.suggest, args.margin), rows, oracle=True,
                   fit_labels=labels)
        weights = fit(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.zeros(len(weights)), 1.0)
        for _ in range(3):
            for data, labels in zip(sets, fitted):
                replay(data, weights, rules.Thresholds(args.train_auto, args.review, args.suggest, args.margin), rows,
                       fit_labels=labels)
            weights = fit(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.zeros(len(weights)), 1.0)
        print("DEFAULT_WEIGHTS = (" + ", ".join(f"{v:.2f}" for v in weights) + ")")
    for path in args.check:
        data = prepared(path)
        for auto in (float(a) for a in args.autos.split(",")):
            for review in (float(r) for r in (args.reviews or str(args.review)).split(",")):
                thresholds = rules.Thresholds(auto, review, args.suggest, args.margin)
                if path in args.fit_half:
                    fit_half, held_half = halves(data)
                    print(path, f"auto={auto} review={review} held-out labels",
                          replay(data, weights, thresholds, scored=held_half), flush=True)
                    print(path, f"auto={auto} review={review} fitted labels",
                          replay(data, weights, thresholds, scored=fit_half), flush=True)
                else:
                    print(path, f"auto={auto} review={review}", replay(data, weights, thresholds), flush=True)


if __name__ == "__main__":
    main()
