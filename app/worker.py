"""The loop under every long-running background command (``send-mail --watch``,
``send-webhooks --watch``, ``scheduler``): do one step, wait, again, and outlive outages.

When the database restarts, fails over or the network drops, a step raises a database or
network error. The loop then throws the session away (its connection is dead), logs one
warning naming the loop and the error, and tries again after 1, 2, 4 … seconds (at most
``MAX_BACKOFF``); when a step works again it logs that it recovered. Nothing else is caught:
a bug still stops the process, loudly, for the process manager to restart.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.extensions import db
from app.observability import metrics

log = logging.getLogger("careloop.worker")
MAX_BACKOFF = 60.0
TRANSIENT = (DBAPIError, PendingRollbackError, PoolTimeout, OSError)


def is_transient(error: BaseException) -> bool:
    """A database or network failure that waiting can cure (not a programming error in SQL)."""
    if isinstance(error, DBAPIError):

        return error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError))
    return isinstance(error, TRANSIENT)


def _discard_session() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is already gone; drop it below
        pass
    db.session.remove()


def watch_loop(name: str, step: Callable[[], object], interval: float, *,
               sleep: Callable[[float], None] = time.sleep, max_backoff: float = MAX_BACKOFF,
               keep_going: Callable[[], bool] = lambda: True) -> None:
    """Run ``step`` every ``interval`` seconds while ``keep_going()``; survive transient failures."""

    failures = 0
    log.info("%s: started, checking every %g s", name, interval)
    while keep_going():
        try:
            step()
        except Exception as error:  # noqa: BLE001 - sorted below: transient ones are retried
            if not is_transient(error):
                raise
            _discard_session()
            failures += 1
            delay = min(2.0 ** (failures - 1), max_backoff)
            metrics()["reconnects"].labels(name).inc()
            log.warning("%s: database or network unavailable (%s: %s); trying again in %.0f s (failure %d)",
                        name, type(error).__name__, str(error).strip().splitlines()[0][:200] if str(error) else "",
                        delay, failures)
            sleep(delay)
            continue
        if failures:
            log.warning("%s: working again after %d failed %s", name, failures, "try" if failures == 1 else "tries")
            failures = 0
        db.session.remove()  # each round starts with a fresh session (and a checked connection)
        sleep(interval)
