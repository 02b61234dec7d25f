"""Encoding a backfill's texts in processes of their own.

A text's vector costs a few milliseconds of the models' CPU, and the Python around them
(tokenizers, the lexical vector, how much of the text each model reads) holds Python's
lock. In one process the import's storing thread and its encoding threads take turns at
that lock, so a backfill of new texts used about 1.4 of 2 cores. ``EncoderProcesses``
moves the encoding of a long run into worker processes (``CARELOOP_IMPORT_ENCODE_PROCESSES``,
one per core by default, at most 4): each builds the same built-in backend and returns vectors and
readings, which the index remembers as if it had made them itself.

Only a run that needs it pays for it. The workers start once a run has asked for
``WARM_FROM`` texts (an incremental run of a few tickets never starts them) and are used
from ``USE_FROM`` texts on, once they have loaded the models (about 5 seconds and 400 MB
each); until then, and whenever they fail, texts are encoded in the importing process as
before. A vector does not depend on where it was made: the same code encodes each text
alone (MiniLM) or in the same slice (the multilingual model). Backends registered by
other plugins are encoded in the importing process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
from flask import Flask

from app.plugin_api import SimilarityBackend

log = logging.getLogger(__name__)

WARM_FROM = 500  # texts asked for in a run before the workers start
USE_FROM = 1000  # texts asked for in a run before they are used (a backfill, not a sync)

Readings = tuple[float, float]
Encoded = tuple[np.ndarray, list[Readings]]


def readings(backend: SimilarityBackend, text: str) -> Readings:
    """How much of ``text`` the backend's first model reads, and how much any of its models
    reads (``SimilarityIndex.readability`` and ``understood``)."""
    readable = float(backend.readable(text)) if backend.readable else 1.0
    understood = readable
    if backend.understood is not None:
        understood = max(float(backend.understood(text)), readable)
    return readable, understood


def encode_with_readings(backend: SimilarityBackend, texts: Sequence[str]) -> Encoded:
    return backend.encode(texts).astype(np.float32), [readings(backend, text) for text in texts]


# -- in a worker process -------------------------------------------------------------------

_worker_backend: SimilarityBackend | None = None


def _start_worker(name: str, threads: int, parent: int) -> None:
    global _worker_backend
    from app.grouping.backend import BuiltinBackends

    threading.Thread(target=_exit_with, args=(parent,), name="careloop-encoder-parent", daemon=True).start()

    app = Flask("careloop-encoder")
    app.config["CARELOOP_GROUPING_THREADS"] = threads
    backends = {b.name: b for b in BuiltinBackends().register_similarity_backends(app)}
    _worker_backend = backends[name]


def _exit_with(parent: int) -> None:
    """An importing process killed with SIGKILL cannot stop its workers: they see it gone
    (adopted by another parent) and leave, instead of holding their memory for ever."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _warm() -> bool:
    _worker_backend.encode(["warm"])  # the models load now, not with the first slice
    return True


def _encode(texts: list[str]) -> Encoded:
    return encode_with_readings(_worker_backend, texts)


# -- in the importing process ----------------------------------------------------------------

class EncoderProcesses:
    """``encode(texts)`` in worker processes once a run is long enough, else ``None`` (the
    caller encodes in its own process). Use as a context manager for one run."""

    def __init__(self, app: Flask, backend: SimilarityBackend | None):
        self._processes = int(app.config.get("CARELOOP_IMPORT_ENCODE_PROCESSES", 0) or 0)
        self._name = backend.name if backend is not None else None
        self._threads = int(app.config.get("CARELOOP_GROUPING_THREADS", 1))
        self._lock = threading.Lock()
        self._asked = 0
        self.encoded_elsewhere = 0  # texts the workers made
        self._pool: ProcessPoolExecutor | None = None
        self._warm: list[Future] = []
        self._broken = self._processes < 1 or backend is None or not _rebuildable(app, backend)

    def __enter__(self) -> EncoderProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; from now on every text is encoded in the importing process."""
        with self._lock:
            pool, self._pool, self._broken = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def encode(self, texts: Sequence[str]) -> Encoded | None:
        with self._lock:
            if self._broken:
                return None
            self._asked += len(texts)
            if self._pool is None and self._asked >= WARM_FROM:
                self._start()
            ready = (self._pool is not None and self._asked >= USE_FROM
                     and all(f.done() and f.exception() is None for f in self._warm))
            pool = self._pool
        if not ready:
            return None
        try:
            made = pool.submit(_encode, list(texts)).result()
        except Exception:  # noqa: BLE001 - a worker that died: encode here from now on
            log.warning("Encoder processes failed; encoding in the importing process.", exc_info=True)
            self.close()
            return None
        with self._lock:
            self.encoded_elsewhere += len(texts)
        return made

    def _start(self) -> None:
        # Spawned, not forked: the importing process has threads and loaded models.
        self._pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(self._name, self._threads, os.getpid()))
        self._warm = [self._pool.submit(_warm) for _ in range(self._processes)]


def _rebuildable(app: Flask, backend: SimilarityBackend) -> bool:
    """Whether a worker can build the same backend: a built-in one that runs a model."""
    from app.grouping.backend import MODEL_BACKENDS, BuiltinBackends

    if backend.name not in MODEL_BACKENDS:
        return False
    builtin = {b.name: b for b in BuiltinBackends().register_similarity_backends(app)}
    return builtin[backend.name].model == backend.model
