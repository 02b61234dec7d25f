"""Fewer full garbage collections while an import runs.

Python's cyclic collector runs a full collection whenever enough objects have lived through
its two younger generations, and a full collection walks every object the process holds:
the app, the models' vocabularies, the caches (about 0.1 s each on an idle machine). An
import page's ORM objects (its reports, problems, events and their states) live for the
page, so with the default thresholds (700, 10, 10) they reached the oldest generation and
caused about five full collections a page: 1.2 s of a 7 s page of new texts, measured with
``gc.callbacks`` (docs/imports.md, "Throughput").

While a run is going the youngest generation may hold ``YOUNG`` objects instead of 700, so
a page's objects are mostly collected (or freed) young and a full collection is rare: one
or two every five pages. The thresholds are the process's, so they are set by the first
run of the process to start and restored by the last to end.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # objects allocated before the youngest generation is collected (default 700)
MIDDLE = 20  # youngest collections before the middle generation's (default 10)

_lock = threading.Lock()
_runs = 0
_before: tuple[int, int, int] | None = None


@contextmanager
def fewer_full_collections() -> Iterator[None]:
    global _runs, _before
    with _lock:
        if _runs == 0:
            _before = gc.get_threshold()
            gc.set_threshold(max(YOUNG, _before[0]), max(MIDDLE, _before[1]), _before[2])
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_before)
