"""The similarity index: vectors in the database, a searchable copy in each process.

Writes (``index_report``, ``remove_report``, ``move_report``, ``move_problem``) go through
the caller's ``db.session``, so they commit or roll back with the report or merge they
belong to, and each appends a row to ``similarity_changes``. Reads first bring the
process's copy up to date: one indexed query for changes past the last one seen, made on a
connection of its own, so only committed work is ever seen. Change ids that were skipped
(a transaction that took its id earlier but committed later) are asked for again until
they appear or are old enough to have been rolled back.

Search is exhaustive over compact codes, then exact: the sign bits of every vector (48
bytes for 384 dimensions) are compared with the query's by Hamming distance, and the few
hundred closest are rescored by cosine similarity on their int8 vectors. Cosine is then
calibrated into a score in [0, 1] by the backend.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import re
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update

from app.extensions import db
from app.grouping import rules
from app.grouping.encoding import Encoded, encode_with_readings, readings
from app.models.grouping import SimilarityChange, SimilarityVector

if TYPE_CHECKING:
    from flask import Flask

    from app.grouping.backend import SimilarityBackend

# A change id missing from the log is asked for again for this long (seconds): long enough
# for any filing transaction to commit, after which it must have been rolled back.
HOLE_SECONDS = 600
MAX_HOLES = 10_000
ENCODED_KEPT = 1024  # recent texts' vectors (a suggestion typed, then filed; an import page)
TITLES_KEPT = 20_000  # public titles' vectors, for customers' suggestions
# Two reports that each cite an identifier the other lacks (a version, a ticket key, an
# amount) are rarely about the same problem: their score is multiplied by this.
MARKS_PENALTY = 0.75
FAR = 1 << 14  # added to the Hamming distance of rows that may not be returned
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """A problem similar to a text: its best-matching report and that report's score."""

    problem_id: int
    score: float
    report_id: int | None = None


def _undominated(similarities: np.ndarray, keep: int) -> np.ndarray:
    """Columns of ``similarities`` (one row per kind of similarity) that fewer than
    ``keep`` other columns beat on every row, in their order. Only the ``4 * keep`` best
    by the first row are tried as the ones that beat them (any ``keep`` of them beating a
    column is enough to leave it out)."""
    first = similarities[0]
    leaders = np.argsort(-first, kind="stable")[: 4 * keep]
    beaten = (similarities[:, leaders, None] > similarities[:, None, :]).all(axis=0).sum(axis=0)
    return np.flatnonzero(beaten < keep)


class SimilarityIndex:
    """What the rest of Careloop uses; see :class:`DatabaseIndex` for the implementation."""

    def index_report(self, report_id: int, problem_id: int, text: str) -> None:
        raise NotImplementedError

    def prime(self, texts: Sequence[str], elsewhere: Callable[[Sequence[str]], Encoded | None] | None = None) -> None:
        """Optional: prepare for texts about to be filed together (default: nothing)."""

    batches = False  # whether ``batch`` lets uncommitted filings see each other

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Optional: many filings in one transaction (see DatabaseIndex.batch). Without
        ``batches``, callers commit each filing before placing the next."""
        yield

    def remove_report(self, report_id: int) -> None:
        raise NotImplementedError

    def move_report(self, report_id: int, new_problem_id: int) -> None:
        raise NotImplementedError

    def move_problem(self, old_problem_id: int, new_problem_id: int) -> None:
        raise NotImplementedError

    def similar_problems(self, text: str, *, limit: int = 5, problem_ids: Iterable[int] | None = None,
                         exclude_report_id: int | None = None) -> list[Match]:
        raise NotImplementedError

    def similar_reports(self, text: str, *, limit: int = 5,
                        exclude_report_id: int | None = None) -> list[tuple[int, float]]:
        raise NotImplementedError


def identifier_marks(text: str) -> int:
    """A 64-bit signature of the numbers in a text (versions, ticket keys, amounts), 0 if none."""
    marks = 0
    for number in set(_NUMBER.findall(text or "")):
        marks |= 1 << (hashlib.blake2b(number.encode(), digest_size=1).digest()[0] & 63)
    return marks


def _signed(marks: int) -> int:
    return marks - (1 << 64) if marks >= 1 << 63 else marks


def pack_vector(vector: np.ndarray) -> bytes:
    """int8 components followed by their float32 scale: a quarter of float32's size."""
    peak = float(np.abs(vector).max()) or 1.0
    scale = peak / 127.0
    return np.round(vector / scale).astype(np.int8).tobytes() + struct.pack("<f", scale)


@functools.cache
def _upsert_vector(dialect: str):
    """Insert a vector or replace a re-indexed report's (built once: statements are immutable)."""
    statement = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(SimilarityVector)
    return statement.on_conflict_do_update(
        index_elements=[SimilarityVector.report_id],
        set_={c: statement.excluded[c] for c in ("problem_id", "model", "vector", "marks")},
    )


class DatabaseIndex(SimilarityIndex):
    """The built-in index: state in the database, a copy per process for searching."""

    batches = True

    def __init__(self, app: Flask, backend: SimilarityBackend):
        self.app = app
        self.backend = backend
        self.dim = backend.dim
        self.words = (backend.dim + 63) // 64
        self._lock = threading.RLock()
        self._batch = threading.local()  # this thread's batch (see ``batch``)
        self._encoded: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        self._titles: OrderedDict[str, np.ndarray] = OrderedDict()
        self._title_block: tuple[tuple[str, ...], list[np.ndarray]] | None = None  # the last titles asked for
        self._read: OrderedDict[str, tuple[float, float]] = OrderedDict()  # recent texts' readability
        self._reset()

    # -- the process's copy ----------------------------------------------------------

    def _reset(self) -> None:
        self._loaded = False
        self._n = 0
        self._dead = 0
        self._report = np.zeros(0, np.int64)
        self._problem = np.zeros(0, np.int64)
        self._vec = np.zeros((0, self.dim), np.int8)
        self._scale = np.zeros(0, np.float32)
        self._codes = np.zeros((self.words, 0), np.uint64)  # word-major: each word contiguous
        self._marks = np.zeros(0, np.uint64)
        self._alive = np.zeros(0, bool)
        self._row_of = np.full(0, -1, np.int64)
        self._last = 0
        self._fingerprint: tuple | None = None  # the change with id _last, as read
        self._holes: dict[int, float] = {}
        self.stale = 0  # vectors of another model, ignored until reindexed

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._report):
            return
        capacity = max(rows, int(len(self._report) * 1.25) + 1024)

        def grow(array, fill=0):
            bigger = np.full((capacity,) + array.shape[1:], fill, array.dtype)
            bigger[: self._n] = array[: self._n]
            return bigger

        self._report = grow(self._report)
        self._problem = grow(self._problem)
        self._vec = grow(self._vec)
        self._scale = grow(self._scale)
        codes = np.zeros((self.words, capacity), np.uint64)
        codes[:, : self._n] = self._codes[:, : self._n]
        self._codes = codes
        self._marks = grow(self._marks)
        self._alive = grow(self._alive, False)

    def _codes_of(self, vectors: np.ndarray) -> np.ndarray:
        bits = vectors > 0
        pad = self.words * 64 - self.dim
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        return np.packbits(bits, axis=1).view(np.uint64)

    def _put(self, report_ids, problem_ids, blobs: list[bytes], marks) -> None:
        """Insert or overwrite rows in the copy (vectors given as packed bytes)."""
        if not len(report_ids):
            return
        raw = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), self.dim + 4)
        vec = raw[:, : self.dim]
        scale = raw[:, self.dim:].copy().view("<f4").ravel()
        codes = self._codes_of(vec)
        report_ids = np.asarray(report_ids, np.int64)
        top = int(report_ids.max())
        if top >= len(self._row_of):
            bigger = np.full(max(top + 1, int(len(self._row_of) * 1.25) + 1024), -1, np.int64)
            bigger[: len(self._row_of)] = self._row_of
            self._row_of = bigger
        rows = self._row_of[report_ids].copy()
        new = rows < 0
        if new.any():
            count = int(new.sum())
            self._reserve(self._n + count)
            rows[new] = np.arange(self._n, self._n + count)
            self._n += count
            self._row_of[report_ids[new]] = rows[new]
        self._report[rows] = report_ids
        self._problem[rows] = np.asarray(problem_ids, np.int64)
        self._vec[rows] = vec
        self._scale[rows] = scale
        self._codes[:, rows] = codes.T
        self._marks[rows] = np.asarray(marks, np.int64).view(np.uint64)
        self._alive[rows] = True

    def _drop(self, report_id: int) -> None:
        if report_id < len(self._row_of) and self._row_of[report_id] >= 0:
            self._alive[self._row_of[report_id]] = False
            self._row_of[report_id] = -1
            self._dead += 1

    def _read_rows(self, conn, where) -> set[int]:
        query = select(
            SimilarityVector.report_id, SimilarityVector.problem_id, SimilarityVector.model,
            SimilarityVector.vector, SimilarityVector.marks,
        ).where(where)
        result = conn.execution_options(stream_results=True, yield_per=20_000).execute(query)
        found: set[int] = set()
        for part in result.partitions(20_000):
            keep = [r for r in part if r.model == self.backend.model]
            self.stale += len(part) - len(keep)
            for r in part:
                if r.model != self.backend.model:
                    self._drop(r.report_id)
            self._put([r.report_id for r in keep], [r.problem_id for r in keep],
                      [r.vector for r in keep], [r.marks for r in keep])
            found.update(r.report_id for r in keep)
        return found

    _CHANGE = (SimilarityChange.id, SimilarityChange.kind, SimilarityChange.report_id,
               SimilarityChange.problem_id, SimilarityChange.old_problem_id, SimilarityChange.created_at)

    def _load(self, conn) -> None:
        self._reset()
        last = conn.scalar(select(func.max(SimilarityChange.id))) or 0
        marker = conn.execute(select(*self._CHANGE).where(SimilarityChange.id == last)).first()
        self._fingerprint = tuple(marker) if marker else None
        recent = set(conn.scalars(select(SimilarityChange.id).where(SimilarityChange.id > last - 1000)))
        self._reserve(int(conn.scalar(select(func.count()).select_from(SimilarityVector)) or 0) + 1024)
        self._read_rows(conn, SimilarityVector.report_id.isnot(None))
        if self.stale:  # after an upgrade or a change of backend: say so, or grouping looks broken
            log.warning("%d reports are left out of grouping: their vectors come from another model "
                        "than %s. Run `careloop grouping-reindex` once.", self.stale, self.backend.model)
        now = time.monotonic()
        self._holes = {i: now for i in range(max(1, last - 999), last + 1) if i not in recent}
        self._last = last
        self._loaded = True

    # -- many filings in one transaction (an import page) ----------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many filings in one transaction of this thread (an import's page), each placed as
        if filed alone after the ones before it, before any of them is committed.

        Inside, this thread's writes (``index_report``, ``move_report``, ``remove_report``)
        also go straight into the process's copy, so the next search sees them; the copy is
        brought up to date with other work once, on entry, not before every search. The
        vectors are written to the database together, before the session commits (or a
        move or removal needs them), instead of two statements per report. Commit inside
        the block. If the block raises (the transaction is rolled back), the copy is
        dropped and read again on next use, so nothing uncommitted stays in it."""
        from sqlalchemy import event

        self.refresh()
        session = db.session()
        self._batch.on, self._batch.pending = True, []

        def before_commit(_session) -> None:
            self._write_pending()

        event.listen(session, "before_commit", before_commit)
        try:
            yield
            self._write_pending()
        except BaseException:
            self._batch.pending = []
            self.forget()
            raise
        finally:
            event.remove(session, "before_commit", before_commit)
            self._batch.on = False

    def _write_pending(self) -> None:
        """The batch's vectors and their change rows, in two statements."""
        pending, self._batch.pending = getattr(self._batch, "pending", None) or [], []
        if pending:  # a report indexed twice in the batch (edited in the same page): its last vector
            self._write(list({row["report_id"]: row for row in pending}.values()))

    def _batching(self) -> bool:
        return getattr(self._batch, "on", False)

    def refresh(self) -> None:
        """Bring this process's copy up to date with what is committed in the database."""
        if self._batching():
            return  # brought up to date when the batch began; its own writes are in the copy
        with self._lock, db.engine.connect() as conn:
            if not self._loaded:
                self._load(conn)
                return
            now = time.monotonic()
            self._holes = {i: t for i, t in self._holes.items() if now - t < HOLE_SECONDS}
            # The last change seen comes back too: if it is gone or different, the log was
            # emptied or restored from a backup, and the copy is loaded again.
            condition = SimilarityChange.id >= self._last
            if self._holes:
                condition = or_(condition, SimilarityChange.id.in_(list(self._holes)))
            changes = conn.execute(select(*self._CHANGE).where(condition).order_by(SimilarityChange.id)).all()
            marker = next((c for c in changes if c.id == self._last), None)
            if (tuple(marker) if marker else None) != self._fingerprint:
                self._load(conn)
                return
            changes = [c for c in changes if c.id != self._last]
            if not changes:
                return
            seen = {c.id for c in changes}
            for change_id in seen:
                self._holes.pop(change_id, None)
            newest = max(seen)
            if newest > self._last:
                for missing in range(self._last + 1, newest):
                    if missing not in seen:
                        self._holes[missing] = now
                if len(self._holes) > MAX_HOLES:
                    for old in sorted(self._holes)[: len(self._holes) - MAX_HOLES]:
                        del self._holes[old]
                self._last = newest
                self._fingerprint = tuple(next(c for c in changes if c.id == newest))
            reread: set[int] = set()
            for change in changes:
                if change.kind == "merge":
                    n = self._n
                    rows = np.nonzero(self._alive[:n] & (self._problem[:n] == change.old_problem_id))[0]
                    self._problem[rows] = change.problem_id
                    reread.update(int(r) for r in self._report[rows])
                elif change.report_id is not None:
                    reread.add(change.report_id)
            ids = sorted(reread)
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                found = self._read_rows(conn, SimilarityVector.report_id.in_(part))  # rewritten in place
                for report_id in set(part) - found:
                    self._drop(report_id)
            if self._dead > max(10_000, self._n // 5):  # removed reports leave holes: compact
                self._load(conn)

    # -- writing (in the caller's transaction) -----------------------------------------

    def encode(self, text: str) -> tuple[np.ndarray, int]:
        """The vector and identifier marks of a text (recent texts are remembered)."""
        with self._lock:
            hit = self._encoded.get(text)
            if hit is not None:
                self._encoded.move_to_end(text)
                return hit
        vector = self.backend.encode([text])[0].astype(np.float32)
        return self._remember([text], vector[None, :])[0]

    def prime(self, texts: Sequence[str], elsewhere: Callable[[Sequence[str]], Encoded | None] | None = None) -> None:
        """Encode texts about to be filed (an import's slice), with how much of each the
        models read, so filing each one finds them ready. ``elsewhere`` may make them in
        another process (app/grouping/encoding.py); when it gives None they are made here."""
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._encoded))[:ENCODED_KEPT]
        if not todo:
            return
        encoded = elsewhere(todo) if elsewhere is not None else None
        vectors, read = encoded or encode_with_readings(self.backend, todo)
        self._remember(todo, vectors)
        self._keep_readings(zip(todo, read))

    def _remember(self, texts: Sequence[str], vectors: np.ndarray) -> list[tuple[np.ndarray, int]]:
        values = [(vector, identifier_marks(text)) for text, vector in zip(texts, vectors)]
        with self._lock:
            for text, value in zip(texts, values):
                self._encoded[text] = value
                self._encoded.move_to_end(text)
            while len(self._encoded) > ENCODED_KEPT:
                self._encoded.popitem(last=False)
        return values

    def index_report(self, report_id: int, problem_id: int, text: str) -> None:
        vector, marks = self.encode(text)
        self._store([(report_id, problem_id, vector, marks)])

    def index_reports(self, items: Sequence[tuple[int, int, str]], batch: int = 256) -> None:
        """Index many reports at once (re-indexing, imports, benchmarks); same transaction rule."""
        for start in range(0, len(items), batch):
            part = items[start:start + batch]
            vectors = self.backend.encode([text for _, _, text in part])
            self._store([(r, p, v, identifier_marks(t)) for (r, p, t), v in zip(part, vectors)])

    def _store(self, items) -> None:
        rows = [
            {"report_id": report_id, "problem_id": problem_id, "model": self.backend.model,
             "vector": pack_vector(vector), "marks": _signed(marks)}
            for report_id, problem_id, vector, marks in items
        ]
        if self._batching():
            with self._lock:
                self._put([r["report_id"] for r in rows], [r["problem_id"] for r in rows],
                          [r["vector"] for r in rows], [r["marks"] for r in rows])
            self._batch.pending.extend(rows)  # written before the commit (see ``batch``)
            return
        self._write(rows)

    def _write(self, rows: list[dict]) -> None:
        session = db.session
        dialect = session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):  # one statement: insert, or replace a re-indexed report
            session.execute(_upsert_vector(dialect), rows)
        else:
            ids = [row["report_id"] for row in rows]
            session.execute(delete(SimilarityVector).where(SimilarityVector.report_id.in_(ids)))
            session.execute(insert(SimilarityVector), rows)
        session.execute(insert(SimilarityChange), [
            {"kind": "index", "report_id": row["report_id"], "problem_id": row["problem_id"]} for row in rows
        ])

    def remove_report(self, report_id: int) -> None:
        if self._batching():
            self._write_pending()
        db.session.execute(delete(SimilarityVector).where(SimilarityVector.report_id == report_id))
        db.session.execute(insert(SimilarityChange).values(kind="remove", report_id=report_id))
        if self._batching():
            with self._lock:
                self._drop(report_id)

    def move_report(self, report_id: int, new_problem_id: int) -> None:
        if self._batching():
            self._write_pending()
        db.session.execute(update(SimilarityVector).where(SimilarityVector.report_id == report_id)
                           .values(problem_id=new_problem_id))
        db.session.execute(insert(SimilarityChange).values(kind="move", report_id=report_id,
                                                           problem_id=new_problem_id))
        if self._batching():
            with self._lock:
                if report_id < len(self._row_of) and self._row_of[report_id] >= 0:
                    self._problem[self._row_of[report_id]] = new_problem_id

    def move_problem(self, old_problem_id: int, new_problem_id: int) -> None:
        if self._batching():
            self._write_pending()
        db.session.execute(update(SimilarityVector).where(SimilarityVector.problem_id == old_problem_id)
                           .values(problem_id=new_problem_id))
        db.session.execute(insert(SimilarityChange).values(kind="merge", problem_id=new_problem_id,
                                                           old_problem_id=old_problem_id))

    # -- searching ---------------------------------------------------------------------

    def _candidate_rows(self, vector: np.ndarray, candidates: int, problem_ids: Iterable[int] | None,
                        exclude_report_id: int | None, words: range | None = None) -> np.ndarray:
        """The rows nearest to ``vector`` by Hamming distance of their sign bits (``words``:
        which 64-bit words of the codes to compare; all by default), unordered."""
        n = self._n
        if n == 0:
            return np.zeros(0, np.int64)
        query = self._codes_of(vector[None, :])[0]
        distance = np.zeros(n, np.uint16)
        scratch = np.empty(n, np.uint64)
        for word in words if words is not None else range(self.words):
            np.bitwise_xor(self._codes[word, :n], query[word], out=scratch)
            distance += np.bitwise_count(scratch)
        invalid = ~self._alive[:n]
        if problem_ids is not None:
            wanted = np.fromiter(problem_ids, np.int64)
            if not len(wanted):
                return np.zeros(0, np.int64)
            allowed = np.zeros(int(wanted.max()) + 1, bool)
            allowed[wanted[wanted >= 0]] = True
            problems = self._problem[:n]
            inside = problems < len(allowed)
            ok = np.zeros(n, bool)
            ok[inside] = allowed[problems[inside]]
            invalid |= ~ok
        if exclude_report_id is not None and exclude_report_id < len(self._row_of):
            row = self._row_of[exclude_report_id]
            if row >= 0:
                invalid[row] = True
        distance += invalid.view(np.uint8) * np.uint16(FAR)  # no real distance reaches FAR
        valid = n - int(np.count_nonzero(invalid))
        if valid == 0:
            return np.zeros(0, np.int64)
        take = min(candidates, valid)
        # The rows within the smallest distance that reaches ``take`` rows (ties included):
        # a histogram of distances is several times cheaper than a partial sort.
        reached = np.cumsum(np.bincount(distance))
        limit = min(int(np.searchsorted(reached, take)), FAR - 1)
        rows = np.flatnonzero(distance <= limit)
        if len(rows) > 4 * take:
            rows = rows[np.argpartition(distance[rows], take - 1)[:take]]
        return rows

    def _part_words(self, w: float) -> range | None:
        """Which 64-bit words of the sign codes to compare for a text of weight ``w``: the
        first part's for a text the first model reads, else the second part's."""
        parts = self.backend.parts
        if not parts:
            return None
        if w >= 0.5:
            return range(0, max(1, parts[0] // 64))
        return range(parts[0] // 64, min(self.words, -(-(parts[0] + parts[1]) // 64)))

    def _search(self, vector: np.ndarray, marks: int, candidates: int,
                problem_ids: Iterable[int] | None, exclude_report_id: int | None, w: float = 1.0):
        """Rows of the best candidates and their calibrated scores, best first. For a
        backend of parts, ``w`` weighs the first part's cosine against the second's."""
        rows = self._candidate_rows(vector, candidates, problem_ids, exclude_report_id, self._part_words(w))
        if not len(rows):
            return rows, np.zeros(0)
        cosine = self._mixed(rows, vector, w)
        scores = self.backend.calibrate(cosine)
        if marks:
            theirs = self._marks[rows]
            mine = np.uint64(marks)
            conflict = (theirs != 0) & ((theirs & ~mine) != 0) & ((mine & ~theirs) != 0)
            scores = np.where(conflict, scores * MARKS_PENALTY, scores)
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]

    # -- the evidence for a decision (see rules.py) --------------------------------------

    def _part_cosines(self, rows: np.ndarray, vector: np.ndarray,
                      want: Sequence[bool] | None = None) -> list[np.ndarray | None]:
        """The cosine of ``vector`` with the given rows in each part of the backend (the same
        cosine twice for a backend of one part); ``want`` skips parts not needed."""
        scale = self._scale[rows]
        parts = self.backend.parts
        if not parts:
            cosine = (self._vec[rows].astype(np.float32) @ vector) * scale
            return [cosine, cosine]
        # Each part has length 1/sqrt(len(parts)) in the stored vector.
        factor = len(parts) * scale
        out: list[np.ndarray | None] = []
        start = 0
        for k, size in enumerate(parts):
            if want is None or want[k]:
                block = self._vec[rows, start:start + size].astype(np.float32)
                out.append((block @ vector[start:start + size]) * factor)
            else:
                out.append(None)
            start += size
        return out

    def _mixed(self, rows: np.ndarray, vector: np.ndarray, w: float) -> np.ndarray:
        """The similarity decisions use: the first part's cosine weighed by ``w`` plus the
        second part's for the rest (only the part that counts is computed)."""
        parts = self.backend.parts
        if not parts:
            return self._part_cosines(rows, vector)[0]
        if w >= 1.0:
            return self._part_cosines(rows, vector, [True] + [False] * (len(parts) - 1))[0]
        if w <= 0.0:
            return self._part_cosines(rows, vector, [False, True] + [False] * (len(parts) - 2))[1]
        first, second = self._part_cosines(rows, vector, [True, True] + [False] * (len(parts) - 2))[:2]
        return w * first + (1 - w) * second

    def readability(self, text: str) -> float:
        """How much of ``text`` the backend's first model reads (its weight; see rules.weight)."""
        return self._readings(text)[0]

    def understood(self, text: str) -> float:
        """How much of ``text`` any of the backend's models reads (automatic joins need half)."""
        return self._readings(text)[1]

    def _readings(self, text: str) -> tuple[float, float]:
        """``readability`` and ``understood`` of a text, remembered for recent texts like
        their vectors (a suggestion, then its filing, ask for both several times; the
        tokenizers cost as much as the search)."""
        with self._lock:
            hit = self._read.get(text)
            if hit is not None:
                self._read.move_to_end(text)
                return hit
        reading = readings(self.backend, text)
        self._keep_readings([(text, reading)])
        return reading

    def _keep_readings(self, pairs: Iterable[tuple[str, tuple[float, float]]]) -> None:
        with self._lock:
            for text, reading in pairs:
                self._read[text] = reading
                self._read.move_to_end(text)
            while len(self._read) > ENCODED_KEPT:
                self._read.popitem(last=False)

    def evidence(self, text: str, *, problem_ids: Iterable[int] | None = None,
                 exclude_report_id: int | None = None, limit: int = rules.CANDIDATE_PROBLEMS,
                 ignore_problem_ids: Iterable[int] = ()) -> rules.Evidence:
        """Per-problem evidence that ``text`` belongs to the problems nearest to it (not
        yet scored: see :func:`app.grouping.rules.score`)."""
        vector, marks = self.encode(text)
        readable = self.readability(text)
        understood = self.understood(text)
        self.refresh()
        with self._lock:
            return self._evidence(vector, marks, readable, problem_ids, exclude_report_id, limit,
                                  set(ignore_problem_ids), understood)

    def _evidence(self, vector, marks, readable, problem_ids, exclude_report_id, limit, ignored,
                  understood: float | None = None) -> rules.Evidence:
        parts = self.backend.parts
        w = rules.weight(readable) if parts else 1.0
        evidence = rules.Evidence(readable=readable if understood is None else understood)
        rows = self._candidate_rows(vector, 256 + 64 * limit, problem_ids, exclude_report_id, self._part_words(w))
        if ignored and len(rows):
            rows = rows[~np.isin(self._problem[rows], list(ignored))]
        if not len(rows):
            return evidence
        h = self._mixed(rows, vector, w)  # a text the first model reads: ranked by it alone
        order = np.argsort(-h, kind="stable")
        rows, h = rows[order], h[order]
        problems: list[int] = []
        for problem in self._problem[rows].tolist():
            if problem not in problems:
                problems.append(problem)
                if len(problems) == limit:
                    break
        voters = self._problem[rows[: rules.VOTERS]]
        strength = np.maximum(h[: rules.VOTERS], 0)
        n = self._n
        excluded = -1
        if exclude_report_id is not None and exclude_report_id < len(self._row_of):
            excluded = int(self._row_of[exclude_report_id])
        mine = np.uint64(marks)
        # Every live row of the candidate problems in one pass over the copy, then by problem.
        stored = self._problem[:n]
        wanted = stored == problems[0]
        for problem in problems[1:]:  # a few comparisons: cheaper than np.isin's sort
            wanted |= stored == problem
        near = np.flatnonzero(wanted & self._alive[:n])
        near = near[near != excluded]
        of_problem = self._problem[near]
        for problem in problems:
            members = near[of_problem == problem]
            if not len(members):
                continue
            founder = members[int(np.argmin(self._report[members]))]  # the report that started it
            members = members[-rules.PROBLEM_REPORTS:]
            both = self._part_cosines(np.append(members, founder), vector)  # the founder last
            cosines = [c[:-1] for c in both]
            hh = w * cosines[0] + (1 - w) * cosines[1]
            first = float(w * both[0][-1] + (1 - w) * both[1][-1])
            best = members[int(np.argmax(hh))]
            theirs = self._marks[best]
            conflict = bool(marks) and theirs != 0 and (theirs & ~mine) != 0 and (mine & ~theirs) != 0
            features = rules.problem_features(
                hh, cosines[1], cosines[-1], w=w, size=len(members), conflict=conflict, first=first,
                vote=float((strength * (voters == problem)).sum()) / rules.VOTERS,
            )
            evidence.candidates.append(rules.Candidate(int(problem), int(self._report[best]), features))
        rules.add_margins(evidence.candidates)
        return evidence

    def title_candidates(self, text: str, titles: dict[int, str], *, keep: int | None = None) -> list[rules.Candidate]:
        """Evidence that ``text`` is about each problem judged by its title alone (a
        public title a customer recognises), as candidates with one report each.

        With ``keep``, only titles that could rank among the best ``keep`` are returned: a
        title that ``keep`` others beat on every similarity (mixed, multilingual, lexical)
        is left out, as its score is lower than theirs whenever the calibrated score does
        not fall as a similarity rises (true of the default weights). Building each
        title's features costs more than the search itself when there are hundreds."""
        titles = {p: t for p, t in titles.items() if t and t.strip()}
        if not titles:
            return []
        vector, _marks = self.encode(text)
        readable = self.readability(text)
        parts = self.backend.parts
        w = rules.weight(readable) if parts else 1.0
        blocks = self._title_blocks(tuple(titles.values()))
        if parts:
            cosines, start = [], 0
            for size, block in zip(parts, blocks):
                cosines.append(len(parts) * (block @ vector[start:start + size]))
                start += size
        else:
            cosines = [blocks[0] @ vector] * 2
        h = w * cosines[0] + (1 - w) * cosines[1]
        chosen = range(len(titles))
        if keep is not None and len(titles) > keep:
            chosen = _undominated(np.stack([h, cosines[1], cosines[-1]]), keep).tolist()
        ids = list(titles)
        out = []
        for i in chosen:
            problem_id = ids[i]
            features = rules.problem_features(h[i:i + 1], cosines[1][i:i + 1], cosines[-1][i:i + 1],
                                              w=w, size=1, vote=0.0, conflict=False)
            out.append(rules.Candidate(int(problem_id), 0, features))
        return out

    def _title_blocks(self, titles: tuple[str, ...]) -> list[np.ndarray]:
        """The titles' vectors stacked, one contiguous matrix per part of the backend (the
        whole vector for a backend of one part); the last set asked for is kept, as the
        same public titles are asked for on every customer's suggestion."""
        with self._lock:
            kept = self._title_block
        if kept is not None and kept[0] == titles:
            return kept[1]
        vectors = np.vstack(self._title_vectors(list(titles)))
        blocks, start = [], 0
        for size in self.backend.parts or (self.dim,):
            blocks.append(np.ascontiguousarray(vectors[:, start:start + size]))
            start += size
        with self._lock:
            self._title_block = (titles, blocks)
        return blocks

    def _title_vectors(self, titles: list[str]) -> list[np.ndarray]:
        """Vectors of problem titles, kept apart from the texts being filed (titles are few
        and asked for on every customer's suggestion)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in titles if t not in self._titles))
        if missing:
            encoded = self.backend.encode(missing).astype(np.float32)
            with self._lock:
                for title, vector in zip(missing, encoded):
                    self._titles[title] = vector
                while len(self._titles) > TITLES_KEPT:
                    self._titles.popitem(last=False)
        with self._lock:
            return [self._titles[t] for t in titles]

    def features_for(self, text: str, problem_id: int, *, exclude_report_id: int | None = None,
                     ignore_problem_ids: Iterable[int] = ()) -> dict[str, float] | None:
        """The evidence that ``text`` is about ``problem_id`` (its features, margin included,
        against the nearest other problems), or None if that problem has no indexed report."""
        evidence = self.evidence(text, exclude_report_id=exclude_report_id, ignore_problem_ids=ignore_problem_ids)
        for candidate in evidence.candidates:
            if candidate.problem_id == problem_id:
                return dict(candidate.features)
        alone = self.evidence(text, problem_ids=[problem_id], exclude_report_id=exclude_report_id, limit=1)
        if not alone.candidates:
            return None
        features = dict(alone.candidates[0].features)
        rules.contrast(features, [c.features for c in evidence.candidates])
        features["vote"] = 0.0
        return features

    def _problems_from(self, rows, scores, limit: int) -> list[Match]:
        matches: list[Match] = []
        seen: set[int] = set()
        for row, score in zip(rows.tolist(), scores.tolist()):
            problem = int(self._problem[row])
            if problem in seen:
                continue
            seen.add(problem)
            matches.append(Match(problem_id=problem, score=round(float(score), 4),
                                 report_id=int(self._report[row])))
            if len(matches) == limit:
                break
        return matches

    def similar_problems(self, text: str, *, limit: int = 5, problem_ids: Iterable[int] | None = None,
                         exclude_report_id: int | None = None) -> list[Match]:
        """Problems whose reports resemble ``text``: the best score per problem, best first.

        ``problem_ids`` limits the candidates (for example to open problems, or to those a
        customer may see); ``exclude_report_id`` leaves out a report (the one being decided).
        """
        vector, marks = self.encode(text)
        w = rules.weight(self.readability(text))
        self.refresh()
        with self._lock:
            rows, scores = self._search(vector, marks, 256 + 64 * limit, problem_ids, exclude_report_id, w)
            return self._problems_from(rows, scores, limit)

    def similar_reports(self, text: str, *, limit: int = 5,
                        exclude_report_id: int | None = None) -> list[tuple[int, float]]:
        """Reports whose text resembles ``text``, as ``(report_id, score)``, best first."""
        vector, marks = self.encode(text)
        w = rules.weight(self.readability(text))
        self.refresh()
        with self._lock:
            rows, scores = self._search(vector, marks, 256 + 16 * limit, None, exclude_report_id, w)
            return [(int(self._report[r]), round(float(s), 4)) for r, s in zip(rows[:limit], scores[:limit])]

    def report_neighbours(self, report_id: int, *, limit: int = 5, readable: float = 1.0) -> list[tuple[int, float]]:
        """Reports most similar to a stored report (itself left out), from its stored vector
        (``readable``: the report text's readability, for a backend of parts)."""
        self.refresh()
        with self._lock:
            if report_id >= len(self._row_of) or self._row_of[report_id] < 0:
                return []
            row = self._row_of[report_id]
            vector = self._vec[row].astype(np.float32) * self._scale[row]
            vector /= max(float(np.linalg.norm(vector)), 1e-12)
            marks = int(self._marks[row])
            rows, scores = self._search(vector, marks, 256 + 16 * limit, None, report_id, rules.weight(readable))
            return [(int(self._report[r]), round(float(s), 4)) for r, s in zip(rows[:limit], scores[:limit])]

    def size(self) -> int:
        """How many reports this process's copy holds (after a refresh)."""
        self.refresh()
        with self._lock:
            return int(self._alive[: self._n].sum())

    def forget(self) -> None:
        """Drop this process's copy and remembered vectors, as a restart would."""
        with self._lock:
            self._reset()
            self._encoded.clear()
            self._titles.clear()
            self._title_block = None
            self._read.clear()
