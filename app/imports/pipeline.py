"""Reading ahead: the next tickets are fetched and encoded while the ones before them are stored.

An import run stores a page (the grouping decision and the rows, one ticket after the
other) on its own thread. Everything that does not need the database happens on a second
thread, ahead of it: asking the source for the next page (including the source's own wait
for its rate limit) and turning the tickets' texts into vectors with the similarity
index's ``prime``, which remembers them for the filings that follow. onnxruntime and NumPy
let go of Python's lock while they work, so the vectors for the next tickets are made while
this page's rows are written, and on a machine with more than one core several slices are
encoded at once (``ENCODERS`` threads; every text is still encoded alone, so its vector does
not depend on which slice it was in).

Nothing is placed or stored out of turn: the storing thread still takes the tickets one
by one, in the source's order, each placed as if filed alone after the ones before it. The
thread ahead only reads and encodes, never touches the database, and stays at most
``AHEAD`` chunks ahead, so the vectors it makes are still remembered when they are needed
(the index keeps a bounded number). A vector that is not ready or was forgotten is made
when it is needed, as without this module, so the outcome never depends on the timing.

A failure on the thread ahead (the source down, a body that cannot be read) is raised on
the storing thread where it would have been raised without reading ahead: when the page
it concerns is asked for, after every page before it has been stored and committed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

from flask import Flask

from app.plugin_api import Ticket, TicketPage

log = logging.getLogger(__name__)

CHUNK = 250  # tickets encoded together (the model's fixed cost per call is shared)
AHEAD = 3  # chunks encoded and not yet stored, at most (the one being stored included)
ENCODERS = max(1, min(AHEAD, os.cpu_count() or 1))  # slices encoded at once


@dataclass
class _Page:
    page: TicketPage
    chunks: int


@dataclass
class _Chunk:
    encoded: Future | None


@dataclass
class _Failed:
    error: BaseException


_END = object()


def chunk_size() -> int:
    """Small enough that ``AHEAD`` chunks fit in what the index remembers."""
    from app.grouping.index import ENCODED_KEPT

    return max(1, min(CHUNK, ENCODED_KEPT // (AHEAD + 1)))


class ReadAhead:
    """Pages of ``fetch`` with their texts encoded, read on a thread of their own.

    ``for page, chunks in ahead:`` gives each page, and ``chunks`` yields the page's
    tickets in order, in slices whose vectors are ready (or are being made, when the
    source repeats texts already remembered). Use it as a context manager: leaving it
    stops the thread and closes the source's iterator.
    """

    def __init__(self, app: Flask, fetch: Callable[[], Iterator[TicketPage]], prime: Callable[[Sequence[str]], None],
                 text_of: Callable[[Ticket], str | None], chunk: int = CHUNK):
        self._app = app
        self._fetch = fetch
        self._prime = prime
        self._text_of = text_of
        self._chunk = max(1, chunk)
        self._items: queue.Queue = queue.Queue()
        self._permits = threading.Semaphore(AHEAD)
        self._stop = threading.Event()
        self._encoders = ThreadPoolExecutor(ENCODERS, thread_name_prefix="import-encode")
        self._thread = threading.Thread(target=self._work, name="import-read-ahead", daemon=True)

    # -- the thread ahead ------------------------------------------------------------------

    def _work(self) -> None:
        try:
            with self._app.app_context(), closing(self._fetch()) as pages:
                for page in pages:
                    if self._stop.is_set():
                        return
                    slices = [page.tickets[i:i + self._chunk] for i in range(0, len(page.tickets), self._chunk)] or [[]]
                    self._items.put(_Page(page, len(slices)))
                    for tickets in slices:
                        self._permits.acquire()
                        if self._stop.is_set():
                            return
                        texts = [t for t in (self._text_of(ticket) for ticket in tickets) if t]
                        self._items.put(_Chunk(self._encoders.submit(self._prime_in_app, texts) if texts else None))
                    if page.done:
                        break
        except BaseException as error:  # noqa: BLE001 - raised on the storing thread, in turn
            self._items.put(_Failed(error))
            return
        self._items.put(_END)

    def _prime_in_app(self, texts: list[str]) -> None:
        with self._app.app_context():
            self._prime(texts)

    # -- the storing thread ----------------------------------------------------------------

    def __enter__(self) -> ReadAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for _ in range(AHEAD + 1):
            self._permits.release()  # a thread waiting for room sees the stop
        self._thread.join()
        self._encoders.shutdown(wait=True, cancel_futures=True)

    def _next(self):
        item = self._items.get()
        if isinstance(item, _Failed):
            raise item.error
        return item

    def __iter__(self) -> Iterator[tuple[TicketPage, Iterator[list[Ticket]]]]:
        while True:
            item = self._next()
            if item is _END:
                return
            yield item.page, self._chunks(item)

    def _chunks(self, item: _Page) -> Iterator[list[Ticket]]:
        page = item.page
        for number in range(item.chunks):
            chunk = self._next()
            if chunk.encoded is not None:
                chunk.encoded.result()  # this slice's vectors are made (or its failure is raised here)
            try:
                yield page.tickets[number * self._chunk:(number + 1) * self._chunk]
            finally:
                self._permits.release()
