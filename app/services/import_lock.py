"""One import of a source at a time, with a lock that dies with its holder.

A lease in a table (``running_since``) outlives a killed process: the next run waits it
out. These locks do not:

* PostgreSQL: a session advisory lock taken on a connection of its own, held for the
  whole run. When the process dies, its connection closes and PostgreSQL drops the lock
  at once; a live run on another host still excludes this one.
* SQLite: an exclusive ``flock`` on a file beside the database file (the database is on
  this machine, so every process that can write it can see the file). The kernel drops
  the lock when the process dies, however it dies. ``flock`` locks belong to the open
  file, so two threads of one process exclude each other too.

Neither ever needs cleaning up by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)
# A holder killed a moment ago: its backend needs a few milliseconds to read the closed
# socket and exit (which drops the lock). Ask again briefly before calling the source busy.
PG_TRIES, PG_PAUSE = 10, 0.1

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock
    fcntl = None


def _key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    digest = hashlib.sha256(f"careloop-import:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_path(name: str) -> Path:
    """The SQLite lock file: beside the database file, or in the instance folder."""
    database = db.engine.url.database
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    if database and database != ":memory:" and not database.startswith("file:"):
        return Path(f"{database}.import-{safe}.lock")
    folder = Path(current_app.instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"import-{safe}.lock"


class RunLock:
    """``acquire()`` returns False at once when another live run holds the source."""

    def __init__(self, name: str, tries: int | None = None):
        self.name = name
        self.tries = PG_TRIES if tries is None else tries
        self._conn = None
        self._file = None

    def acquire(self) -> bool:
        if db.engine.dialect.name == "postgresql":
            conn = db.engine.connect()
            try:
                for attempt in range(self.tries):
                    got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _key(self.name)}).scalar()
                    conn.commit()  # the lock is the session's, not the transaction's: no transaction stays open
                    if got or attempt == self.tries - 1:
                        break
                    time.sleep(PG_PAUSE)
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("Import locks need fcntl.flock (Linux or macOS) with SQLite.")
        handle = open(lock_path(self.name), "a+")  # noqa: SIM115 - held open for the run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # for people looking; the lock itself is the kernel's
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _key(self.name)})
                conn.commit()
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection: drop it, and the lock with it
                log.warning("Could not release the import lock of %s cleanly; closing its connection", self.name)
                conn.invalidate()
                conn.close()
        if self._file is not None:
            handle, self._file = self._file, None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_running(name: str) -> bool:
    """Whether a live run holds the source now (for the Sources page)."""
    probe = RunLock(name, tries=1)
    if probe.acquire():
        probe.release()
        return False
    return True
