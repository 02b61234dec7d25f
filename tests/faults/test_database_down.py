"""The database goes away and comes back: people get a clear 503 page (JSON for the API),
never a 500 or a hang; the app recovers by itself; nothing is half stored.

Each test runs its own throwaway PostgreSQL (tests/faults/pgcluster.py), never the shared
one: the cluster is stopped with ``pg_ctl -m fast`` under a live app, as a restart or a
failover would, and started again.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from tests.faults.consistency import inconsistencies, stored_texts
from tests.faults.pgcluster import PgCluster, free_port

HTML_TITLE = "We can&#39;t reach our records right now"


def fault_app(url: str):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "fault-test",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "CARELOOP_BASE_URL": "http://careloop.test",
        "CARELOOP_GROUPING_BACKEND": "lexical",
        "CARELOOP_RATELIMIT_ENABLED": False,
        "CARELOOP_SPAM_MIN_SECONDS": 0,
    })

    @app.get("/api/probe")  # stands in for any JSON API route that reads the database
    def probe():
        return {"problems": db.session.scalar(sa.text("SELECT count(*) FROM problems"))}

    return app


def file(client, text: str):
    return client.post("/", data={"text": text, "name": "Lee Park", "email": "lee@example.net",
                                  "contact_ok": "y", "problem_choice": "new"})


def assert_503_page(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    page = response.get_data(as_text=True)
    assert HTML_TITLE in page and "careloop.css" in page and "Error 503" in page
    assert "OperationalError" not in page and "psycopg" not in page


def test_an_unreachable_database_gets_a_503_page_and_json_for_the_api():
    # Nothing listens on this port: every connection is refused.
    app = fault_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/careloop?connect_timeout=2")
    client = app.test_client()
    assert_503_page(client.get("/"))
    assert_503_page(client.get("/changes"))
    assert_503_page(file(client, "The lift is broken again."))
    # Only a stored report is sent on to its thank-you page: that 503 must not say "resend".
    thanks = client.get("/r/some-token/thanks")
    assert thanks.status_code == 503
    assert "Your report was saved." in thanks.get_data(as_text=True)
    assert "may not have been" not in thanks.get_data(as_text=True)

    api = client.get("/api/probe")
    assert api.status_code == 503 and api.is_json
    assert api.get_json()["error"]["code"] == "database_unavailable"
    assert api.get_json()["error"]["status"] == 503
    suggest = client.get("/suggest?text=the+lift+is+broken+again", headers={"Accept": "application/json"})
    assert suggest.status_code == 503 and suggest.get_json()["error"]["code"] == "database_unavailable"

    # A signed-in person sees the same page (their account cannot be loaded either).
    with client.session_transaction() as session:
        session["_user_id"] = "1"
    assert_503_page(client.get("/triage"))

    # The load balancers' check needs no database.
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_data(as_text=True) == "ok\n"


def test_other_database_errors_stay_500s():
    app = fault_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/careloop")
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/broken")
    def broken():
        raise sa.exc.IntegrityError("INSERT …", {}, Exception("duplicate key"))

    response = app.test_client().get("/broken")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)


@pytest.fixture
def cluster():
    with PgCluster(connect_timeout=2) as pg:
        yield pg


def test_a_restart_gives_503s_then_recovers_by_itself_with_nothing_half_stored(cluster):
    app = fault_app(cluster.createdb("careloop_fault"))
    with app.app_context():
        upgrade()
        db.session.remove()
    client = app.test_client()
    run = uuid.uuid4().hex[:8]

    before = file(client, f"[{run}-before] The ticket machine at platform 2 eats coins.")
    assert before.status_code == 302 and "/thanks" in before.headers["Location"]

    cluster.stop("fast")  # every pooled connection is now dead
    during = file(client, f"[{run}-during] The ticket machine at platform 2 eats coins.")
    assert_503_page(during)
    assert_503_page(client.get("/"))
    assert client.get("/api/probe").status_code == 503

    cluster.start()  # nobody restarts the app: the pool's pre-ping reconnects
    assert client.get("/").status_code == 200
    after = file(client, f"[{run}-after] The ticket machine at platform 2 eats coins.")
    assert after.status_code == 302
    token = re.search(r"/r/([^/]+)/thanks", after.headers["Location"]).group(1)
    assert client.get(f"/r/{token}").status_code == 200

    with app.app_context(), db.engine.connect() as conn:
        texts = sorted(stored_texts(conn, f"[{run}-%"))
        assert [t.split("]")[0] for t in texts] == [f"[{run}-after", f"[{run}-before"]  # the 503'd one: not at all
        assert set(inconsistencies(conn, f"[{run}-%").values()) == {0}
        db.engine.dispose()


def test_a_restart_during_a_transaction_leaves_nothing_behind(cluster):
    """The connection dies between the report's insert and its commit: no trace of it remains."""
    app = fault_app(cluster.createdb("careloop_midway"))
    with app.app_context():
        upgrade()
        db.session.remove()
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/file-and-lose-the-database")
    def midway():
        from app import services

        reporter = services.new_reporter(name="Ana", email="ana@example.net", contact_ok=True)
        services.file_report(text="[midway] The lift at the station is stuck.", reporter=reporter)
        db.session.flush()  # the rows are written in the open transaction...
        cluster.stop("fast")  # ...and the server goes away before the commit
        db.session.commit()
        return "stored"

    response = app.test_client().get("/file-and-lose-the-database")
    assert response.status_code == 503
    cluster.start()
    with app.app_context(), db.engine.connect() as conn:
        assert stored_texts(conn, "[midway]%") == []
        for table in ("reporters", "problems", "events", "similarity_vectors", "similarity_changes"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
        db.engine.dispose()


def test_a_restart_just_after_a_page_was_made_still_delivers_it(cluster):
    """The server ends the connection after the view ran but before the request's transaction
    is closed: the page still goes out (not a bare 500 from the failed ROLLBACK)."""
    app = fault_app(cluster.createdb("careloop_teardown"))
    with app.app_context():
        upgrade()
        db.session.remove()
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    app.logger.addHandler(handler)  # (the migrations' logging setup replaced caplog's handler)

    @app.get("/read-then-lose-the-database")
    def read():
        count = db.session.scalar(sa.text("SELECT count(*) FROM problems"))  # a transaction is open
        cluster.stop("fast")
        return f"{count} problems"

    response = app.test_client().get("/read-then-lose-the-database")
    assert response.status_code == 200 and response.get_data(as_text=True) == "0 problems"
    assert any("Database went away at the end of a request" in w for w in warnings)
    cluster.start()
    assert app.test_client().get("/").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_postgresql_urls_get_a_connect_timeout_and_others_are_left_alone(monkeypatch):
    from config import with_connect_timeout

    monkeypatch.setenv("CARELOOP_DB_CONNECT_TIMEOUT", "4")
    assert with_connect_timeout("postgresql+psycopg://u@db/care") == "postgresql+psycopg://u@db/care?connect_timeout=4"
    assert with_connect_timeout("postgresql+psycopg://u@db/care?sslmode=require") \
        == "postgresql+psycopg://u@db/care?sslmode=require&connect_timeout=4"
    assert with_connect_timeout("postgresql+psycopg://u@db/care?connect_timeout=9").endswith("connect_timeout=9")
    assert with_connect_timeout("sqlite:///instance/careloop.sqlite") == "sqlite:///instance/careloop.sqlite"
