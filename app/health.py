"""``/healthz``: a bare answer for load balancers and process managers.

It says the app process is up and serving; it deliberately does not touch the database,
so a database outage shows as 503 on real pages while the processes stay in rotation.
"""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})
