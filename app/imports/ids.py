"""Ids known before the insert, so an import page's rows go to the database together.

Filing a report needs its id and its problem's id at once: the similarity index files the
report's vector under them, and the next ticket of the page is placed against it. Without
help that means a flush per ticket (the reporter, the report, its problem and its events,
each insert waiting for the id it returns). On PostgreSQL an import page takes the ids of
its new reports and problems from their tables' own sequences instead, a block at a time,
as they are added to the session; ``file_report`` then has what it needs without a flush,
and the page's rows are written together when the page is flushed (by a query that needs
them, or at the commit), each table in a few multi-row statements.

The ids are the ones the database would have given: taken from the same sequences, in the
order the rows are added. A page rolled back leaves a gap in the numbers, as any rolled
back insert does, and so do the ids taken but not used when a run ends. Blocks start at one
id and double with each refill, up to ``BLOCKS``, so a small incremental run wastes at most
as many numbers as it used, and a backfill at most 15 problem numbers. On other databases
nothing changes (one flush per ticket).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import Session

from app.models import Problem, Report

# The most ids taken from a sequence in one round trip. Problems' numbers are shown to
# people (#123), so fewer are taken ahead; but with every ticket new, most tickets start a
# problem, and a round trip for each was a sixth of the storing thread's time.
BLOCKS = {Report: 256, Problem: 16}
PENDING_PROBLEMS = "careloop.pending_problems"


class _Allocator:
    def __init__(self, session: Session):
        self.session = session
        self.free: dict[type, list[int]] = {model: [] for model in BLOCKS}
        self.block: dict[type, int] = {model: 1 for model in BLOCKS}  # the next refill's size
        self.sequences: dict[type, str] = {}

    def __call__(self, session: Session, instance) -> None:  # transient_to_pending
        model = type(instance)
        if model in self.free and instance.id is None:
            instance.id = self.take(model)
            if model is Problem:
                # The next ticket may be placed in it before it is flushed: it reads as the
                # flush would write it, and is found by id without a flush (pending_problem).
                for column in Problem.__table__.columns:
                    default = column.default
                    if default is not None and default.is_scalar and getattr(instance, column.key) is None:
                        setattr(instance, column.key, default.arg)
                session.info.setdefault(PENDING_PROBLEMS, {})[instance.id] = instance

    def take(self, model: type) -> int:
        free = self.free[model]
        if not free:
            # On the session's own connection, without the ORM: no autoflush while an
            # object is being added.
            connection = self.session.connection()
            if model not in self.sequences:
                table = model.__table__.name
                self.sequences[model] = connection.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                                          {"t": table})
            taken = connection.scalars(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                                       {"s": self.sequences[model], "n": self.block[model]})
            free.extend(sorted(taken, reverse=True))  # handed out smallest first
            self.block[model] = min(2 * self.block[model], BLOCKS[model])
        return free.pop()


def pending_problem(session: Session, problem_id: int) -> Problem | None:
    """The problem with this id if it was added in this transaction and is not flushed yet
    (``Session.get`` would flush the whole page to find it)."""
    problem = session.info.get(PENDING_PROBLEMS, {}).get(problem_id)
    return problem if problem is not None and inspect(problem).pending else None


def forget_pending(session: Session) -> None:
    """After a page's commit or rollback: its problems are stored, or gone."""
    session.info.pop(PENDING_PROBLEMS, None)


@contextmanager
def ids_before_insert(session: Session) -> Iterator[bool]:
    """While inside, new reports and problems added to ``session`` get their ids at once
    (PostgreSQL); yields whether it is on."""
    if session.get_bind().dialect.name != "postgresql":
        yield False
        return
    allocator = _Allocator(session)
    event.listen(session, "transient_to_pending", allocator)
    try:
        yield True
    finally:
        event.remove(session, "transient_to_pending", allocator)
        forget_pending(session)
