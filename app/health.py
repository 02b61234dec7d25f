"""``/healthz``: a bare answer for load balancers and process managers.

It says the app process is up and serving; it deliberately does not touch the database,
so a database outage shows as 503 on real pages while the processes stay in rotation.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.readiness import check_ready

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database answers and its schema is at the migrations' head.

    For a deployment step or an orchestrator's readiness probe (not for a load balancer's
    liveness check: that is /healthz). Answers 503 with the reason otherwise.
    """

    ok, detail = check_ready()
    return Response(("ready" if ok else "not ready") + f": {detail}\n", status=200 if ok else 503,
                    mimetype="text/plain", headers={"Cache-Control": "no-store"})
