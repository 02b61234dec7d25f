"""Public pages for anonymous visitors: validators and 304s, a render cache shared by nobody's
personal data, CSRF tokens injected per visitor, and invalidation across processes by the
version row (a second app on the same database stands in for another gunicorn worker)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from app import create_app, services
from app.extensions import db
from app.models import Role
from tests.conftest import IsolatedClient

CHANGE_PAGES = ["/changes", "/changes.atom"]


def token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def published(make_user, make_report):
    leader = make_user(Role.LEADER, name="Dana Okafor")
    report = make_report(text="Refunds take weeks to reach my card.")
    problem = report.problem
    services.assign_owner(problem, leader, leader)
    services.record_change(problem, leader, what="Refunds now go back to the original card within three working days.", since=date.today() - timedelta(days=1))
    services.publish(problem, leader, public_title="Refunds reach your card in 3 days",
                     public_summary="You told us refunds took weeks.")
    db.session.commit()
    return problem, leader


@pytest.fixture
def other_worker(app):
    """Another process's app: its own render cache, the same database."""
    other = create_app(dict({key: app.config[key] for key in (
        "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "WTF_CSRF_ENABLED", "CARELOOP_BASE_URL",
        "CARELOOP_SPAM_MIN_SECONDS", "CARELOOP_RATELIMIT_FILING")}, CARELOOP_BRANDING_CACHE_SECONDS=0,
                            CARELOOP_PAGE_CACHE_RECHECK_SECONDS=0))
    other.test_client_class = IsolatedClient
    yield other.test_client()
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_repeat_visit_is_served_from_the_cache_and_revalidated_with_304(client, published):
    first = client.get("/changes")
    assert first.status_code == 200 and first.headers["X-Careloop-Cache"] == "miss"
    again = client.get("/changes")
    assert again.headers["X-Careloop-Cache"] == "hit"
    assert again.get_data(as_text=True) == first.get_data(as_text=True)  # same visitor, same token
    assert "Refunds reach your card in 3 days" in again.get_data(as_text=True)
    # The page holds this visitor's CSRF token (the language switcher), so only their browser keeps it.
    assert again.headers["Cache-Control"] == "private, max-age=30"
    assert {"Accept-Language", "Cookie"} <= set(again.vary)
    etag, modified = again.headers["ETag"], again.headers["Last-Modified"]
    assert client.get("/changes", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/changes", headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get("/changes", headers={"If-None-Match": 'W/"something-else"'}).status_code == 200


def test_the_feed_is_public_for_shared_caches(client, published):
    feed = client.get("/changes.atom")
    assert feed.status_code == 200 and feed.headers["Cache-Control"] == "public, max-age=30"
    assert "csrf" not in feed.get_data(as_text=True)
    assert client.get("/changes.atom", headers={"If-None-Match": feed.headers["ETag"]}).status_code == 304
    # Another visitor (no cookie at all) gets the same validator: one copy serves everyone.
    stranger = client.application.test_client()
    assert stranger.get("/changes.atom", headers={"If-None-Match": feed.headers["ETag"]}).status_code == 304


def test_publishing_unpublishing_and_branding_invalidate_every_process(client, other_worker, published, app_ctx):
    problem, leader = published
    assert "Refunds reach your card in 3 days" in other_worker.get("/changes").get_data(as_text=True)
    assert other_worker.get("/changes").headers["X-Careloop-Cache"] == "hit"
    etag = other_worker.get("/changes/%d" % problem.id).headers["ETag"]

    services.publish(problem, leader, public_title="Refunds reach your card the same day",
                     public_summary="Clearer now.")
    db.session.commit()
    page = other_worker.get("/changes")
    assert page.headers["X-Careloop-Cache"] == "miss"
    assert "the same day" in page.get_data(as_text=True) and "in 3 days" not in page.get_data(as_text=True)
    assert other_worker.get("/changes/%d" % problem.id, headers={"If-None-Match": etag}).status_code == 200

    services.unpublish(problem, leader, reason="Wrong wording")
    db.session.commit()
    assert "the same day" not in other_worker.get("/changes").get_data(as_text=True)
    assert other_worker.get("/changes/%d" % problem.id).status_code == 404
    assert "the same day" not in other_worker.get("/changes.atom").get_data(as_text=True)

    admin = services.create_user(name="Ada Admin", email="ada@example.org", role=Role.ADMIN, password="long enough pw")
    db.session.commit()
    other_worker.get("/")
    from app.services.branding import update_branding

    update_branding(admin, org_name="Riverside Council", welcome_text=None, primary_colour=None,
                             accent_colour=None)
    db.session.commit()
    assert "Riverside Council" in other_worker.get("/").get_data(as_text=True)


def test_each_visitor_gets_their_own_token_and_it_works(client, app_ctx, published):
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    mine = client.get("/changes").get_data(as_text=True)
    stranger = app_ctx.test_client()
    theirs = stranger.get("/changes")
    assert theirs.headers["X-Careloop-Cache"] == "hit"
    assert token(theirs.get_data(as_text=True)) != token(mine)  # never another visitor's token
    switched = stranger.post("/language", data={"lang": "de", "next": "/changes",
                                                "csrf_token": token(theirs.get_data(as_text=True))})
    assert switched.status_code == 302
    german = stranger.get("/changes").get_data(as_text=True)
    assert '<html lang="de"' in german  # the language is part of the key
    assert client.post("/language", data={"lang": "de", "next": "/", "csrf_token": token(
        theirs.get_data(as_text=True))}).status_code == 400  # someone else's token is refused


def test_the_form_page_gets_a_fresh_token_and_form_time_and_filing_from_it_works(client, app_ctx):
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    client.get("/")
    hit = client.get("/")
    page = hit.get_data(as_text=True)
    assert hit.headers["X-Careloop-Cache"] == "hit" and hit.headers["Cache-Control"] == "private, no-cache"
    assert "\x00" not in page
    shown = re.search(r'name="shown" type="hidden" value="([^"]+)"', page).group(1)
    filed = client.post("/", data={"csrf_token": token(page), "shown": shown, "problem_choice": "new",
                                   "text": "The lift at the east entrance is out of order.", "name": "Lee Park"})
    assert filed.status_code == 302 and "/r/" in filed.headers["Location"]


def test_signed_in_people_and_flash_messages_are_never_cached(client, auth, make_user, published):
    client.get("/changes")
    auth.login(make_user(Role.STAFF, email="frankie@example.org"))
    page = client.get("/changes")
    assert "X-Careloop-Cache" not in page.headers and "ETag" not in page.headers
    assert "Sign out" in page.get_data(as_text=True)
    auth.logout()
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Thank you, Lee.")]
    flashed = client.get("/changes")
    assert "Thank you, Lee." in flashed.get_data(as_text=True) and "X-Careloop-Cache" not in flashed.headers
    assert "Thank you, Lee." not in client.get("/changes").get_data(as_text=True)


def test_the_cache_follows_the_recorded_events(client, other_worker, published, make_report, app_ctx):
    """A report joining or leaving a published problem changes its count of people; an event about
    a problem nobody sees, or a commit that records no event, leaves every cached page in place."""
    from app.pagecache import read_public_version

    problem, leader = published
    second = make_report(text="My refund took a month as well.", name="Ben", email="ben@example.net", problem=problem)
    assert "2 people" in other_worker.get("/changes/%d" % problem.id).get_data(as_text=True)
    version = read_public_version()

    private = make_report(text="The lift at the back entrance is out of order.", name="Cy", email="cy@example.net")
    services.add_comment(private.problem, leader, "Asked facilities.")
    db.session.commit()
    from app.security.ratelimit import hit

    hit("filing", "a commit with no event")
    assert read_public_version() == version
    assert other_worker.get("/changes/%d" % problem.id).headers["X-Careloop-Cache"] == "hit"

    services.move_report(second, leader, private.problem)
    db.session.commit()
    assert read_public_version()[0] == version[0] + 1
    page = other_worker.get("/changes/%d" % problem.id)
    assert page.headers["X-Careloop-Cache"] == "miss" and "2 people" not in page.get_data(as_text=True)
