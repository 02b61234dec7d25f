"""Tables for running Careloop on several processes and hosts.

* ``scheduled_runs``: one row per scheduled job and period (``digest`` / ``2026-W49``). The
  scheduler inserts the row in the same transaction as the job's work, so when two hosts run
  the scheduler the second insert fails on the primary key and that host's work is rolled back:
  the digest is written once a week, whatever runs where.
* ``cache_versions``: a number per cached thing (``public``: the public pages), bumped in the
  transaction that changes what the pages show, so every process's render cache notices.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class ScheduledRun(db.Model):
    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(500))


class CacheVersion(db.Model):
    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    changed_at: Mapped[datetime | None]
