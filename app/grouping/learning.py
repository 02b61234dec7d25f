"""Learning from leaders: labelled decisions refit the calibration, within limits.

Every confirmed or rejected review question, undone automatic join, merge, move and split
is stored as a :class:`GroupingDecision` with the evidence the engine had (its features)
and the leader's answer. Once the database holds ``CARELOOP_GROUPING_LEARN_MIN``
decisions of both kinds, the logistic weights are fitted again to them: a maximum a
posteriori fit whose prior is the shipped calibration (``rules.DEFAULT_WEIGHTS``) with
strength ``CARELOOP_GROUPING_PRIOR``, so a handful of answers nudge it and hundreds move it.

Answers do not all weigh the same: an automatic join a leader undid, or a report a leader moved
out of its problem, is a grouping that was made and was wrong (not a question asked), and counts
``MISTAKE_WEIGHT`` times (in the fit and in the measured precision below).

The automatic threshold adapts too, conservatively: it is the lowest value in
[configured - 0.1, 0.99] at which the leaders' decisions that the refitted calibration
scores at or above it show a precision whose lower confidence bound (Wilson, 95%) reaches
``CARELOOP_GROUPING_PRECISION`` (with at least ``AUTO_EVIDENCE`` decisions above it). So
the threshold falls below the configured one only when many decisions show it is safe, and
rises as soon as leaders' answers show mistakes among high scores. If no value in that
range does, automatic joins stop (every such report is asked about) until later answers
bring the precision back. The review and suggestion thresholds stay as set.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from flask import Flask, current_app
from sqlalchemy import func, select

from app.extensions import db
from app.grouping import rules
from app.models.grouping import GroupingDecision

CALIBRATION = "careloop.grouping_calibration"
OFF = 1.01  # an automatic threshold no score reaches
MISTAKE_WEIGHT = 5.0  # an undone automatic join, or a report moved away, counts this many times
MISTAKES = ("undone", "moved")
AUTO_EVIDENCE = 20  # decisions that must score above an adapted automatic threshold
Z = 1.96  # the confidence bound's normal quantile (95%, two-sided)
RECHECK_SECONDS = 30
_lock = threading.Lock()


@dataclass(frozen=True)
class Calibration:
    weights: tuple[float, ...]
    thresholds: rules.Thresholds
    decisions: int  # labelled decisions it was fitted on (0: the shipped calibration)


def configured(app: Flask) -> rules.Thresholds:
    config = app.config
    return rules.Thresholds(
        auto=float(config["CARELOOP_GROUPING_AUTO"]),
        review=float(config["CARELOOP_GROUPING_REVIEW"]),
        suggest=float(config.get("CARELOOP_SUGGEST_MIN", config["CARELOOP_GROUPING_REVIEW"])),
        margin=float(config.get("CARELOOP_GROUPING_MARGIN", 0.1)),
    )


def fit(x: np.ndarray, y: np.ndarray, prior: np.ndarray, strength: float,
        sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Logistic regression by Newton's method (with step halving) and a Gaussian prior
    around ``prior``: the maximum a posteriori weights (``sample_weight``: how many times
    each row counts, 1 if not given)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    prior = prior.astype(np.float64)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    def loss(w):
        z = xb @ w
        return float((sw * (np.logaddexp(0, z) - y * z)).sum() + 0.5 * strength * ((w - prior) ** 2).sum())

    w = prior.copy()
    current = loss(w)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (sw * (p - y)) + strength * (w - prior)
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + strength * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and loss(w - t * step) > current:
            t /= 2
        w = w - t * step
        current = loss(w)
        if np.abs(t * step).max() < 1e-7:
            break
    return w


def lower_bound(right: float, total: float) -> float:
    """Wilson's lower confidence bound of a proportion (95%): what ``right`` of ``total``
    shows at least, allowing for chance."""
    if total <= 0:
        return 0.0
    p = right / total
    centre = p + Z * Z / (2 * total)
    spread = Z * np.sqrt(p * (1 - p) / total + Z * Z / (4 * total * total))
    return float((centre - spread) / (1 + Z * Z / total))


def adapt(features: list[dict], labels: list[bool], base: rules.Thresholds, *, minimum: int,
          strength: float, precision: float, sources: list[str] | None = None,
          ) -> tuple[tuple[float, ...], rules.Thresholds]:
    """The weights and thresholds for these labelled decisions (pure; see the module doc).
    ``sources`` says where each decision came from (``undone`` and ``moved`` mistakes weigh
    more)."""
    prior = np.asarray(rules.DEFAULT_WEIGHTS, dtype=np.float64)
    sources = list(sources) if sources is not None else [""] * len(labels)
    # Decisions stored with another set of features (before an upgrade changed them) are
    # evidence of another engine: they are left out.
    usable = [i for i, f in enumerate(features) if all(name in f for name in rules.FEATURES)]
    features, labels = [features[i] for i in usable], [labels[i] for i in usable]
    sources = [sources[i] for i in usable]
    y = np.asarray(labels, dtype=np.float64)
    if len(y) < minimum or y.min() == y.max():
        return tuple(rules.DEFAULT_WEIGHTS), base
    sw = np.array([MISTAKE_WEIGHT if (not same and source in MISTAKES) else 1.0
                   for same, source in zip(labels, sources)])
    x = np.array([[float(f.get(name, 0.0)) for name in rules.FEATURES] for f in features])
    w = fit(x, y, prior, strength, sw)
    scores = 1 / (1 + np.exp(-np.clip(np.hstack([x, np.ones((len(x), 1))]) @ w, -50, 50)))
    if base.auto >= 1:  # automatic joins are switched off: learning does not switch them on
        return tuple(float(v) for v in w), base
    auto = OFF  # unless the decisions show a safe threshold: ask instead
    for t in np.arange(max(0.05, base.auto - 0.1), 0.99 + 1e-9, 0.01):
        above = scores >= t
        if above.sum() < AUTO_EVIDENCE:
            break  # too few decisions to measure a precision at this threshold or above
        if lower_bound(float((sw * y)[above].sum()), float(sw[above].sum())) >= precision:
            auto = float(round(t, 2))
            break
    return tuple(float(v) for v in w), rules.Thresholds(auto=max(auto, base.review), review=base.review,
                                                        suggest=base.suggest, margin=base.margin)


def calibration(app: Flask | None = None) -> Calibration:
    """The calibration in force: refitted when the stored decisions changed (checked at most
    every RECHECK_SECONDS, or at once after this process stored one)."""
    app = app or current_app._get_current_object()
    base = configured(app)
    cached = app.extensions.get(CALIBRATION)
    now = time.monotonic()
    if cached and cached["base"] == base and now - cached["checked"] < RECHECK_SECONDS:
        return cached["calibration"]


    with _lock:
        count, last = db.session.execute(select(func.count(GroupingDecision.id), func.max(GroupingDecision.id))).one()
        key = (count, last)
        if cached and cached["base"] == base and cached["key"] == key:
            cached["checked"] = now
            return cached["calibration"]
        minimum = int(app.config.get("CARELOOP_GROUPING_LEARN_MIN", 30))
        if count >= minimum:
            rows = db.session.execute(select(GroupingDecision.features, GroupingDecision.same,
                                             GroupingDecision.source)).all()
            weights, thresholds = adapt(
                [r.features or {} for r in rows], [bool(r.same) for r in rows], base, minimum=minimum,
                sources=[r.source or "" for r in rows],
                strength=float(app.config.get("CARELOOP_GROUPING_PRIOR", 20.0)),
                precision=float(app.config.get("CARELOOP_GROUPING_PRECISION", 0.95)),
            )
            result = Calibration(weights, thresholds, count if weights != tuple(rules.DEFAULT_WEIGHTS) else 0)
        else:
            result = Calibration(tuple(rules.DEFAULT_WEIGHTS), base, 0)
        app.extensions[CALIBRATION] = {"base": base, "checked": now, "key": key, "calibration": result}
        return result


def forget(app: Flask | None = None) -> None:
    """Check the stored decisions again on the next decision (after storing one)."""
    (app or current_app).extensions.pop(CALIBRATION, None)
