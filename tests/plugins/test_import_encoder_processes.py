"""A long import's texts are encoded in worker processes (app/grouping/encoding.py): real
spawned processes with the real models. What they make is what the importing process would
have made, a short run never starts them, and a worker killed with SIGKILL costs nothing but
speed. Run on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import os
import signal
from concurrent.futures import wait

import numpy as np
import pytest

from app.grouping import encoding
from app.grouping.encoding import EncoderProcesses, encode_with_readings
from app.imports.importer import import_from_source
from tests.plugins.test_zendesk import (  # noqa: F401 - fixtures
    START_EPOCH,
    configure,
    export_page,
    fake,
    fake_time,
    reports,
    zd,
    zendesk,
    zticket,
)

TEXTS = ["The card reader at the north gate rejects contactless payments",
         "Der Fahrkartenautomat am Nordeingang nimmt keine Karten mehr",
         "آلة التذاكر عند البوابة الشمالية لا تقبل البطاقات",
         "Invoice 4471 shows the wrong address again"]


@pytest.fixture
def started_at_once(monkeypatch):
    """Workers start with the first text and are waited for, so a test knows they are used."""
    monkeypatch.setattr(encoding, "WARM_FROM", 1)
    monkeypatch.setattr(encoding, "USE_FROM", 1)
    start = EncoderProcesses._start
    made: list[EncoderProcesses] = []

    def start_and_wait(self):
        start(self)
        wait(self._warm)
        made.append(self)

    monkeypatch.setattr(EncoderProcesses, "_start", start_and_wait)
    return made


@pytest.fixture
def processes(app_ctx, monkeypatch):
    """Sets CARELOOP_IMPORT_ENCODE_PROCESSES for one test (the default depends on the cores)."""
    return lambda count: monkeypatch.setitem(app_ctx.config, "CARELOOP_IMPORT_ENCODE_PROCESSES", count)


def workers(app_ctx, processes, count: int = 1) -> EncoderProcesses:
    processes(count)
    from app.grouping import similarity_index

    return EncoderProcesses(app_ctx, similarity_index().backend)


def test_what_a_worker_makes_is_what_the_importing_process_makes(app_ctx, index, started_at_once, processes):
    with workers(app_ctx, processes) as encoders:
        made = encoders.encode(TEXTS)
    assert made is not None and encoders.encoded_elsewhere == len(TEXTS), "the worker was not used"
    vectors, readings = made
    here_vectors, here_readings = encode_with_readings(index.backend, TEXTS)
    assert vectors.shape == here_vectors.shape
    assert np.allclose(vectors, here_vectors, atol=1e-6)
    assert readings == here_readings
    assert readings[2][0] == 0.0 and readings[2][1] > 0.5  # Arabic: MiniLM reads none, USE reads it

    # The index keeps what was made elsewhere (handed over in reverse, so it shows).
    index.prime(TEXTS, lambda texts: (vectors[::-1], readings[::-1]))
    for text, vector in zip(TEXTS, here_vectors[::-1]):
        remembered, _ = index.encode(text)
        assert float(remembered @ vector) > 0.99999
    assert [(index.readability(t), index.understood(t)) for t in TEXTS] == here_readings[::-1]


def test_a_short_run_never_starts_workers(app_ctx, index, processes):
    with workers(app_ctx, processes, 2) as encoders:
        assert encoders.encode(TEXTS) is None  # made here: fewer than WARM_FROM texts
        assert encoders._pool is None


def test_no_workers_when_switched_off(app_ctx, index, started_at_once, processes):
    with workers(app_ctx, processes, 0) as encoders:
        assert encoders.encode(TEXTS) is None
        assert encoders._pool is None and not started_at_once


def test_a_worker_killed_with_sigkill_means_encoding_here_and_nothing_lost(app_ctx, index, started_at_once, processes):
    with workers(app_ctx, processes) as encoders:
        assert encoders.encode(TEXTS[:1]) is not None
        pids = list(encoders._pool._processes)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert encoders.encode(TEXTS) is None  # the pool is broken: the caller encodes here
        assert encoders.encode(TEXTS) is None  # and goes on doing so, without trying again
    index.prime(TEXTS, encoders.encode)
    here, _ = encode_with_readings(index.backend, TEXTS)
    for text, vector in zip(TEXTS, here):
        assert float(index.encode(text)[0] @ vector) > 0.99999


def test_an_import_encoded_in_workers_groups_as_one_encoded_here(zd, started_at_once, processes):
    processes(1)
    kiosk = "The self-service kiosk at the main entrance freezes on the payment screen every morning."
    lift = "The lift to platform 2 has been out of order since Monday; I had to carry the pram."
    tickets = [zticket(700 + n, kiosk, subject="Kiosk freezes") if n % 2
               else zticket(700 + n, lift, subject="Lift out of order") for n in range(8)]
    zd.on_export(f"start:{START_EPOCH}", export_page(tickets, "e1", True))

    assert import_from_source("zendesk").created == 8

    assert [e.encoded_elsewhere for e in started_at_once] == [2], "the two texts were not made in a worker"
    stored = reports()
    assert len({r.problem_id for r in stored}) == 2  # two problems, each found by its words
    assert [r.grouping for r in stored] == [None, None] + ["auto"] * 6
