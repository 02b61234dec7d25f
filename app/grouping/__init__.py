"""Grouping duplicate reports: the similarity engine and the grouping decision.

The interface the rest of Careloop uses:

- :func:`similarity_index` returns the app's :class:`SimilarityIndex`;
- ``index_report(report_id, problem_id, text)`` after a report is filed (same transaction);
- ``move_report(report_id, new_problem_id)`` when a report is moved or split off;
- ``move_problem(old_problem_id, new_problem_id)`` when one problem is merged into another;
- ``remove_report(report_id)`` when a report's text is removed;
- ``similar_problems(text, limit=5, problem_ids=None, exclude_report_id=None)`` for
  "Is it one of these?" and for the grouping queue;
- :func:`decide` to group a new report from the evidence of whole problems (see
  :mod:`app.grouping.rules`): ``auto`` at or above ``CARELOOP_GROUPING_AUTO`` with a lead
  of ``CARELOOP_GROUPING_MARGIN`` over the runner-up, no disagreeing identifiers and a
  text the model can read; ``review`` at or above ``CARELOOP_GROUPING_REVIEW`` (naming up
  to three candidate problems); otherwise ``new``.

Scores are in [0, 1]: the calibrated estimate that a text is about that problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

from app.grouping.backend import BuiltinBackends, SimilarityBackend
from app.grouping.index import DatabaseIndex, Match, SimilarityIndex
from app.grouping.learning import calibration as current_calibration
from app.grouping.rules import choose, score

if TYPE_CHECKING:
    import pluggy

    from app.models import Report

__all__ = [
    "AUTO",
    "Decision",
    "Match",
    "NEW",
    "REVIEW",
    "SimilarityBackend",
    "SimilarityIndex",
    "collect_backends",
    "decide",
    "similarity_index",
]

BACKENDS = "careloop.similarity_backends"
INDEX = "careloop.similarity_index"
AUTO, REVIEW, NEW = "auto", "review", "new"


def collect_backends(pm: pluggy.PluginManager, app: Flask) -> dict[str, SimilarityBackend]:
    """Merge the backends every plugin registers; the configured one must be among them.

    Plugins are called before the built-in (``trylast``), so a plugin may replace a built-in
    backend by registering its name; two plugins registering one name stop start-up.
    """
    from app.plugins.manager import PluginError

    backends: dict[str, SimilarityBackend] = {}
    owners: dict[str, bool] = {}
    for impl in reversed(pm.hook.register_similarity_backends.get_hookimpls()):
        builtin = isinstance(impl.plugin, BuiltinBackends)
        for backend in impl.function(app=app) or ():
            if backend.name in backends:
                if builtin:
                    continue  # an installed plugin already replaced it
                raise PluginError(f"Two plugins register a similarity backend named {backend.name!r}.")
            backends[backend.name] = backend
            owners[backend.name] = builtin
    wanted = app.config.get("CARELOOP_GROUPING_BACKEND", "minilm")
    if wanted not in backends:
        raise PluginError(
            f"CARELOOP_GROUPING_BACKEND names {wanted!r}, which no plugin registers. "
            f"Available: {', '.join(sorted(backends)) or 'none'}."
        )
    auto = float(app.config.get("CARELOOP_GROUPING_AUTO", 0.95))
    review = float(app.config.get("CARELOOP_GROUPING_REVIEW", 0.75))
    if not 0 <= review <= auto <= 1:
        raise PluginError(
            f"Grouping thresholds must satisfy 0 <= CARELOOP_GROUPING_REVIEW ({review}) "
            f"<= CARELOOP_GROUPING_AUTO ({auto}) <= 1."
        )
    return backends


def similarity_backends(app: Flask | None = None) -> dict[str, SimilarityBackend]:
    return (app or current_app).extensions[BACKENDS]


def similarity_index(app: Flask | None = None) -> SimilarityIndex:
    """The app's similarity index (one per app; its search copy is loaded on first use)."""
    app = app or current_app._get_current_object()
    index = app.extensions.get(INDEX)
    if index is None:
        backend = similarity_backends(app)[app.config.get("CARELOOP_GROUPING_BACKEND", "minilm")]
        index = app.extensions.setdefault(INDEX, DatabaseIndex(app, backend))
    return index


@dataclass(frozen=True)
class Decision:
    """Where a new report should go.

    ``kind`` is ``auto`` (join ``problem_id`` now, recorded as automatic with ``score``),
    ``review`` (start a new problem and ask a leader whether it duplicates ``problem_id``)
    or ``new`` (start a new problem; ``problem_id`` is None). ``matches`` are the best
    problems found, best first, for showing alternatives.
    """

    kind: str
    problem_id: int | None
    score: float
    report_id: int | None = None
    matches: tuple[Match, ...] = field(default_factory=tuple)
    # For ``review``: the candidate problems to ask about, best first (problem_id, score).
    candidates: tuple[Match, ...] = field(default_factory=tuple)
    readable: float = 1.0


def decide(
    text_or_report: str | Report,
    *,
    problem_ids: Iterable[int] | None = None,
    exclude_report_id: int | None = None,
    app: Flask | None = None,
) -> Decision:
    """Decide how to group a report (given as its text, or as an already stored Report).

    :param problem_ids: the problems it may join (for example every problem that is not
        merged away); None means every indexed problem.
    :param exclude_report_id: leave this report out (set automatically for a Report).
    """

    app = app or current_app._get_current_object()
    if isinstance(text_or_report, str):
        text = text_or_report
    else:
        text = text_or_report.text
        exclude_report_id = text_or_report.id if exclude_report_id is None else exclude_report_id
    evidence = similarity_index(app).evidence(text, problem_ids=problem_ids, exclude_report_id=exclude_report_id)
    calibration = current_calibration(app)
    score(calibration.weights, evidence.candidates)
    kind, chosen = choose(evidence, calibration.thresholds)
    matches = tuple(Match(c.problem_id, c.score, c.report_id) for c in evidence.candidates)
    if not matches:
        return Decision(NEW, None, 0.0, readable=evidence.readable)
    best = evidence.candidates[0]
    if kind == NEW:
        return Decision(NEW, None, best.score, None, matches, readable=evidence.readable)
    return Decision(kind, best.problem_id, best.score, best.report_id, matches,
                    tuple(Match(c.problem_id, c.score, c.report_id) for c in chosen), evidence.readable)
