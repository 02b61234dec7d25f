"""The WSGI entry point for gunicorn: ``gunicorn --config python:app.gunicorn_conf app.wsgi:app``.

A bad setting stops the server with its one line on stderr (exit status 2), not a traceback.
"""

from __future__ import annotations

import logging
import sys

from app import create_app
from app.extensions import db
from app.grouping import similarity_backends, similarity_index
from config import ConfigurationError

log = logging.getLogger("careloop.wsgi")

try:
    app = create_app()
except ConfigurationError as error:
    print(f"careloop: {error}", file=sys.stderr, flush=True)
    sys.exit(2)


def preload(app) -> None:
    """Load the grouping model and the similarity index once, in gunicorn's master process
    before it forks: the workers then share those pages (copy-on-write) instead of each
    loading its own copy. Connections opened for it are closed so no worker inherits one."""

    if not app.config.get("CARELOOP_GROUPING_ENABLED", True):
        return
    try:
        with app.app_context():

            backend = similarity_backends(app)[app.config["CARELOOP_GROUPING_BACKEND"]]
            backend.encode(["warm up the model before the workers fork"])
            index = similarity_index(app)
            index.refresh()
            log.info("preloaded the %s model and %d indexed reports before forking workers",
                     app.config["CARELOOP_GROUPING_BACKEND"], index.size())
    except Exception as error:  # noqa: BLE001 - the workers load it on first use instead
        log.warning("could not preload the grouping index (%s); each worker loads it on first use", error)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
