"""Is this process ready to serve? The database answers and its schema is the code's head."""

from __future__ import annotations

from functools import lru_cache

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.extensions import db


@lru_cache(maxsize=4)
def migrations_head(directory: str) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return ",".join(sorted(ScriptDirectory.from_config(config).get_heads()))


def check_ready() -> tuple[bool, str]:
    head = migrations_head(current_app.extensions["migrate"].directory)
    try:
        current = ",".join(sorted(db.session.scalars(text("SELECT version_num FROM alembic_version")).all()))
    except DBAPIError as error:
        db.session.rollback()
        if getattr(error, "connection_invalidated", False) or isinstance(error.orig, Exception) and \
                "alembic_version" not in str(error.orig):
            return False, "the database does not answer"
        return False, "the database has no schema yet: run careloop db upgrade"
    except SQLAlchemyError:
        db.session.rollback()
        return False, "the database does not answer"
    finally:
        db.session.rollback()
    if current != head:
        return False, f"the database schema is at {current or 'nothing'}, the code needs {head}: run careloop db upgrade"
    return True, f"database answers, schema at {head}"
