"""The grouping decision: evidence about a whole problem, turned into a calibrated score.

For a new text the index finds the nearest reports, takes the problems they belong to, and
for each problem compares the text with *all* its reports (the latest 200). The features:

- ``h1``, ``htop3``, ``hmean``: the best, the mean of the best three, and the mean
  similarity over the problem's reports (similarity is the English model's cosine, mixed
  with the multilingual model's by how much of the text the English model can read; see
  ``weight``);
- ``u1`` / ``l1``: the multilingual model's and the lexical best cosine (a second opinion,
  and shared words);
- ``margin``: how far the problem's best similarity is above the best other problem's;
- ``umargin`` / ``uagree``: the same contrast in the multilingual model's space (its best
  cosine for this problem minus the best other problem's), and 1 when that model, too,
  ranks this problem first: two models that agree on the problem are rarely both fooled
  by shared vocabulary;
- ``vote``: the similarity the problem's reports bring among the ten nearest reports,
  divided by ten (many close reports of one problem: high; one far report: low);
- ``conflict``: 1 when the text and the problem's nearest report each cite a number or
  identifier the other lacks ("Release 3.3.5" / "Release 3.3.1");
- ``logn``: log(1 + reports in the problem); ``unread``: 1 - weight;
- ``hfirst``: the similarity to the report that started the problem (what it is about),
  so one wrong join does not pull every later report of another problem after it.

A logistic model maps them to a score in [0, 1], the estimated chance that the text is
about that problem. Its default weights (``DEFAULT_WEIGHTS``) were fitted with
``bench/grouping_calibrate.py`` on half of reports-dev's problems and half of BANKING77's
intents, on the features as they occur while reports are filed one by one (so a problem's
evidence is what the index has, not a clean cluster). An organisation's own labelled
decisions refit the weights within limits (:mod:`app.grouping.learning`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FEATURES = ("h1", "hmean", "htop3", "u1", "l1", "margin", "conflict", "logn", "vote", "unread", "hfirst",
            "umargin", "uagree")

# Fitted by bench/grouping_calibrate.py (see the module docstring); the last is the intercept.
DEFAULT_WEIGHTS = (0.64, -5.04, 4.87, 1.71, 0.48, 1.90, -0.49, -1.33, 4.05, 0.42, 3.65, -1.40, 0.36, -2.26)

PROBLEM_REPORTS = 200  # a problem's latest reports compared with a new text
VOTERS = 10  # nearest reports whose problems vote
CANDIDATE_PROBLEMS = 5
# Below this share of a text understood (by any of the backend's models), its vectors say
# nothing: never join automatically.
READABLE_MIN = 0.5


def weight(readable: float) -> float:
    """How much the first model's similarity counts against the second part's (the
    multilingual model's, or the lexical one), from the first model's readability: 0 below
    0.2 (it cannot read the text), 1 above 0.8 (English for MiniLM)."""
    return min(1.0, max(0.0, (readable - 0.2) / 0.6))


@dataclass
class Candidate:
    """One problem's evidence for a text, and (once scored) the calibrated score."""

    problem_id: int
    report_id: int
    features: dict[str, float]
    score: float = 0.0

    def vector(self) -> list[float]:
        return [float(self.features[name]) for name in FEATURES]


@dataclass
class Evidence:
    """Everything the index found for one text (``readable``: the share of it that the
    backend's models understand; see READABLE_MIN)."""

    readable: float
    candidates: list[Candidate] = field(default_factory=list)


def problem_features(h_members: np.ndarray, u_members: np.ndarray, l_members: np.ndarray, *,
                     w: float, size: int, vote: float, conflict: bool, first: float | None = None) -> dict[str, float]:
    """The features of one problem from the similarities of the text to its reports (``h``
    the mixed similarity, ``u`` the multilingual model's, ``l`` the lexical one)."""
    ordered = np.sort(h_members)[::-1]
    return {
        "h1": float(ordered[0]),
        "hmean": float(h_members.mean()),
        "htop3": float(ordered[:3].mean()),
        "u1": float(u_members.max()),
        "l1": float(l_members.max()),
        "conflict": float(conflict),
        "logn": math.log1p(size),
        "vote": vote,
        "unread": 1 - w,
        "hfirst": float(ordered[0] if first is None else first),
        "margin": 0.0,  # these three are set by add_margins once every candidate is known
        "umargin": 0.0,
        "uagree": 0.0,
    }


def contrast(features: dict[str, float], others: Sequence[dict[str, float]]) -> None:
    """Set the features that compare one problem with the other candidates (``margin``,
    ``umargin``, ``uagree``)."""
    features["margin"] = features["h1"] - max((o["h1"] for o in others), default=0.0)
    features["umargin"] = features["u1"] - max((o["u1"] for o in others), default=0.0)
    features["uagree"] = float(features["umargin"] > 0)


def add_margins(candidates: Sequence[Candidate]) -> None:
    for i, candidate in enumerate(candidates):
        contrast(candidate.features, [c.features for j, c in enumerate(candidates) if j != i])


def score(weights: Sequence[float], candidates: Sequence[Candidate]) -> None:
    """Set each candidate's calibrated score (in [0, 1]) and sort them best first."""
    if not candidates:
        return
    x = np.array([c.vector() + [1.0] for c in candidates])
    z = np.clip(x @ np.asarray(weights, dtype=np.float64), -50, 50)
    for candidate, value in zip(candidates, 1 / (1 + np.exp(-z))):
        candidate.score = round(float(value), 4)
    candidates.sort(key=lambda c: -c.score)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Thresholds:
    auto: float
    review: float
    suggest: float
    margin: float


def choose(evidence: Evidence, thresholds: Thresholds) -> tuple[str, list[Candidate]]:
    """``auto`` (the first candidate), ``review`` (the candidates to ask about, at most
    three) or ``new``. Automatic joins need a readable text, a score at or above the
    automatic threshold, a lead of ``margin`` over the runner-up, and no disagreeing
    numbers or identifiers. An automatic threshold of 1 or more switches them off (a score
    rounds to 1.0 at the top, so 1 itself must mean "never")."""
    candidates = evidence.candidates
    if not candidates:
        return "new", []
    best = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    if (best.score >= thresholds.auto and thresholds.auto < 1 and evidence.readable >= READABLE_MIN
            and best.score - runner_up >= thresholds.margin and not best.features["conflict"]):
        return "auto", [best]
    if best.score >= thresholds.review:
        floor = thresholds.review / 2
        return "review", [c for c in candidates[:3] if c.score >= floor]
    return "new", []
