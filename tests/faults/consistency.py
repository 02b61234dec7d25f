"""Checks that every stored report is whole: one row per text, in a problem, indexed for
grouping, with its audit event; and that no problem was left behind without reports.

Shared by the fault tests and ``bench/load.py``; plain SQL on a SQLAlchemy connection.
"""

from __future__ import annotations

import sqlalchemy as sa

CHECKS = {
    # a text (each carries a unique marker) stored more than once
    "stored_twice": "SELECT count(*) FROM (SELECT text FROM reports WHERE text LIKE :like "
                    "GROUP BY text HAVING count(*) > 1) AS twice",
    "without_problem": "SELECT count(*) FROM reports WHERE text LIKE :like AND problem_id IS NULL",
    "not_indexed": "SELECT count(*) FROM reports r LEFT JOIN similarity_vectors v ON v.report_id = r.id "
                   "WHERE r.text LIKE :like AND (v.report_id IS NULL OR v.problem_id <> r.problem_id)",
    "without_filed_event": "SELECT count(*) FROM reports r WHERE r.text LIKE :like AND NOT EXISTS "
                           "(SELECT 1 FROM events e WHERE e.report_id = r.id AND e.verb = 'report_filed')",
    "empty_new_problems": "SELECT count(*) FROM problems p WHERE p.id > :after_problem AND p.merged_into_id IS NULL "
                          "AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.problem_id = p.id)",
    "new_problems_without_created_event": "SELECT count(*) FROM problems p WHERE p.id > :after_problem AND NOT EXISTS "
                                          "(SELECT 1 FROM events e WHERE e.problem_id = p.id "
                                          "AND e.verb = 'problem_created')",
}


def stored_texts(conn: sa.Connection, like: str) -> list[str]:
    return list(conn.execute(sa.text("SELECT text FROM reports WHERE text LIKE :like"), {"like": like}).scalars())


def last_problem_id(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM problems")).scalar())


def inconsistencies(conn: sa.Connection, like: str, after_problem: int = 0) -> dict[str, int]:
    """Each check's count of broken rows among reports whose text matches ``like`` (all zero when whole)."""
    params = {"like": like, "after_problem": after_problem}
    return {name: int(conn.execute(sa.text(sql), params).scalar()) for name, sql in CHECKS.items()}
