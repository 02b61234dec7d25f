"""Fit a similarity backend's calibration (cosine similarity to a score in [0, 1]).

For every row, its most similar other row is found; a logistic regression of "same
label" on their cosine similarity gives the backend's ``slope`` and ``intercept``. Fit on
development data only (see grouping_split.py), never on the file you report.

    .venv/bin/python bench/grouping_calibrate.py /tmp/banking77-dev.csv --backend minilm
"""

from __future__ import annotations

import argparse
import csv

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--backend", default="minilm")
    args = parser.parse_args()

    from app import create_app
    from app.grouping import similarity_backends

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    backend = similarity_backends(app)[args.backend]
    with open(args.file, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r[args.text_column].strip()]
    labels = np.array([r[args.label_column] for r in rows])
    vectors = np.vstack([backend.encode([r[args.text_column] for r in rows[i:i + 256]])
                         for i in range(0, len(rows), 256)])
    best = np.zeros(len(rows))
    same = np.zeros(len(rows))
    for start in range(0, len(rows), 1024):
        sims = vectors[start:start + 1024] @ vectors.T
        for offset in range(len(sims)):
            sims[offset, start + offset] = -2
        nearest = sims.argmax(axis=1)
        best[start:start + 1024] = sims[np.arange(len(sims)), nearest]
        same[start:start + 1024] = labels[nearest] == labels[start:start + 1024]
    def loss(a, b):
        z = a * best + b
        return float((np.logaddexp(0, z) - same * z).sum())

    slope, intercept = 1.0, 0.0
    for _ in range(200):  # Newton's method with step halving, for the logistic log-likelihood
        p = 1 / (1 + np.exp(-np.clip(slope * best + intercept, -50, 50)))
        grad = np.array([((p - same) * best).sum(), (p - same).sum()])
        w = p * (1 - p) + 1e-9
        hess = np.array([[(w * best * best).sum(), (w * best).sum()], [(w * best).sum(), w.sum()]])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and loss(slope - t * step[0], intercept - t * step[1]) > loss(slope, intercept):
            t /= 2
        slope, intercept = slope - t * step[0], intercept - t * step[1]
        if np.abs(t * step).max() < 1e-8:
            break
    print(f"backend {args.backend}: slope={slope:.2f} intercept={intercept:.2f} ({len(rows)} rows)")
    print("cosine  rows  same-label  calibrated")
    for low in np.arange(0.3, 1.0, 0.05):
        inside = (best >= low) & (best < low + 0.05)
        if inside.any():
            mid = low + 0.025
            print(f"{low:.2f}  {int(inside.sum()):5d}  {same[inside].mean():.3f}       "
                  f"{1 / (1 + np.exp(-(slope * mid + intercept))):.3f}")


if __name__ == "__main__":
    main()
