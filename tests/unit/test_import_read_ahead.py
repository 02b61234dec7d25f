"""Reading ahead (app/imports/pipeline.py): pages come out whole and in order, the thread
ahead never runs further ahead than the index can remember, and a source's failure comes
out after the pages before it."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from app.imports.pipeline import AHEAD, ReadAhead
from app.plugin_api import SourceError, Ticket, TicketPage


def pages(sizes: list[int], fail_after: int | None = None):
    def fetch():
        number = 0
        for page, size in enumerate(sizes):
            if fail_after is not None and page == fail_after:
                raise SourceError(f"page {page} was cut off")
            tickets = [Ticket(external_id=str(number + i), text=f"ticket {number + i}") for i in range(size)]
            number += size
            yield TicketPage(tickets=tickets, cursor=str(page + 1), done=page == len(sizes) - 1)
    return fetch


def test_every_ticket_comes_out_once_in_order_and_each_slice_is_encoded_first():
    encoded: list[str] = []
    lock = threading.Lock()

    def prime(texts):
        with lock:
            encoded.extend(texts)

    seen: list[str] = []
    with ReadAhead(Flask(__name__), pages([7, 0, 5]), prime, lambda t: t.text, chunk=3) as ahead:
        cursors = []
        for page, chunks in ahead:
            cursors.append(page.cursor)
            for tickets in chunks:
                with lock:
                    assert all(t.text in encoded for t in tickets)  # its vectors were made before it
                seen += [t.external_id for t in tickets]
    assert seen == [str(n) for n in range(12)]
    assert cursors == ["1", "2", "3"]  # the empty page too, with its cursor


def test_the_thread_ahead_stays_within_what_the_index_remembers():
    stored, ahead_by = [0], []
    lock = threading.Lock()

    def prime(texts):
        with lock:
            ahead_by.append(len(ahead_by) + 1 - stored[0])  # slices encoded minus slices stored

    with ReadAhead(Flask(__name__), pages([10] * 6), prime, lambda t: t.text, chunk=2) as ahead:
        for _page, chunks in ahead:
            for _tickets in chunks:
                with lock:
                    stored[0] += 1  # stored: the room it took is given back when the next is asked for
    assert len(ahead_by) == 30
    assert max(ahead_by) <= AHEAD


def test_a_failure_ahead_comes_out_after_the_pages_before_it():
    got: list[str] = []
    with ReadAhead(Flask(__name__), pages([2, 2, 2], fail_after=2), lambda texts: None, lambda t: t.text) as ahead:
        with pytest.raises(SourceError, match="page 2 was cut off"):
            for page, chunks in ahead:
                for tickets in chunks:
                    got += [t.external_id for t in tickets]
    assert got == ["0", "1", "2", "3"]  # both whole pages first


def test_leaving_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def fetch():
        try:
            for n in range(1000):
                yield TicketPage(tickets=[Ticket(external_id=str(n), text="x")], cursor=str(n))
        finally:
            closed.set()

    ahead = ReadAhead(Flask(__name__), fetch, lambda texts: None, lambda t: t.text)
    with ahead:
        for page, chunks in ahead:
            list(chunks)
            if page.cursor == "3":
                break
    assert closed.is_set() and not ahead._thread.is_alive()
