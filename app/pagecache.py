"""Fast public pages: validators, browser caching and a server-side render cache for anonymous
visitors of ``/``, ``/changes``, ``/changes/<id>`` and ``/changes.atom``.

**Invalidation across processes.** ``cache_versions.public`` is a number in the database. The
transaction that changes what these pages show bumps it, so every process's cache misses on its
next request. What changes them is read from the domain events the transaction recorded (the
fan-out in ``app/events.py`` calls ``bump_for``): a change published or unpublished, the branding,
and anything that happens to a published problem (a report filed into it, moved or merged in or
out, its owner, its change). A commit that recorded no event does no work here. Each request reads
the number once (one primary-key lookup); the branding's own version is part of the key too.

The public pages show no reporter's personal data: a published change, how many people reported
it and the owner's name (the accountable member of staff, by design). No service renames an
account today; one that does must record ``user_updated`` with the name in ``after``, which bumps.

**What is never cached.** Only GET/HEAD by anonymous visitors (no signed-in user) with no flash
message waiting, and only 200 answers. A signed-in person's pages, a reporter's private pages and
every other page are untouched.

**CSRF tokens.** Every HTML page carries a CSRF token (the language switcher in the header, and
the report form on ``/``); the form page also carries the signed "form shown at" time. The cache
stores the page with placeholders instead of them, and each answer gets this visitor's own token
and a fresh time: *cache without the token, inject it per request*. Because of that token, HTML
pages are ``Cache-Control: private`` (a browser may keep them; a shared proxy must not, or one
visitor's token would reach another); their ETag includes a digest of the visitor's session token,
so a 304 only ever confirms a copy holding that visitor's own token. The Atom feed has no token:
it is ``public`` for shared caches too. All vary on ``Accept-Language`` and ``Cookie`` (the language).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from flask import Flask, Response, current_app, g, has_app_context, request, session
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import BRANDING_CHANGED, PUBLISHED, UNPUBLISHED, USER_UPDATED, CacheVersion, Event, Problem, utcnow

CACHED_ENDPOINTS = {"public.index", "public.changes", "public.change", "public.changes_feed"}
NAME = "public"
CSRF_MARK = "\x00careloop-csrf\x00"
SHOWN_MARK = "\x00careloop-shown\x00"
_SHOWN = re.compile(r'(name="shown" type="hidden" value=")([^"]*)(")|(id="shown" name="shown" type="hidden" value=")([^"]*)(")')


@dataclass
class Entry:
    body: str
    mimetype: str
    last_modified: datetime


class RenderCache:
    """A small LRU of rendered pages, per process (thread-safe)."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._pages.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self._lock:
            self._pages[key] = entry
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


# ---- the version number ----------------------------------------------------------------------

def public_version() -> tuple[int, datetime]:
    """(version, when it last changed) of the public pages, read from the database at most every
    ``CARELOOP_PAGE_CACHE_RECHECK_SECONDS`` per process (0: on every request); a bump committed by
    this process is seen at once."""
    app = current_app._get_current_object()
    every = app.config["CARELOOP_PAGE_CACHE_RECHECK_SECONDS"]
    seen = app.extensions.get("careloop.pagecache.version")
    now = time.monotonic()
    if seen is not None and every > 0 and now - seen[0] < every:
        return seen[1]
    value = read_public_version()
    app.extensions["careloop.pagecache.version"] = (now, value)
    return value


def read_public_version() -> tuple[int, datetime]:
    """(version, when it last changed) from the database; (0, 2000-01-01) before the first bump."""
    row = db.session.execute(db.select(CacheVersion.version, CacheVersion.changed_at)
                             .where(CacheVersion.name == NAME)).first()
    if row is None:
        return 0, datetime(2000, 1, 1)
    return row.version, row.changed_at or datetime(2000, 1, 1)


def bump_statement(dialect: str):
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(CacheVersion).values(name=NAME, version=1, changed_at=now)
    return statement.on_conflict_do_update(
        index_elements=[CacheVersion.name],
        set_={"version": CacheVersion.version + 1, "changed_at": now})


# Events that change the public pages whatever problem they concern.
PUBLIC_VERBS = frozenset({PUBLISHED, UNPUBLISHED, BRANDING_CHANGED})


def shows_on_public_pages(event: Event) -> bool:
    """Whether an event changes what the public pages show: a publish, an unpublish, the
    branding, an account's new name, or anything that happens to a published problem. A move
    names both problems (``before``/``after`` ``problem_id``): leaving a published problem counts."""
    if event.verb in PUBLIC_VERBS:
        return True
    details = event.details or {}
    if event.verb == USER_UPDATED:
        return "name" in (details.get("after") or {})
    problems = [event.problem] + [
        db.session.get(Problem, side["problem_id"])
        for side in (details.get("before"), details.get("after"))
        if isinstance(side, dict) and isinstance(side.get("problem_id"), int)]
    return any(problem is not None and problem.published_at is not None for problem in problems)


def bump_for(session, events: list[Event]) -> bool:
    """Part of the events' fan-out, before commit: bump the version, in the same transaction,
    when one of ``events`` changes the public pages. True when it did."""
    if not any(shows_on_public_pages(event) for event in events):
        return False
    connection = session.connection()
    connection.execute(bump_statement(connection.dialect.name))
    return True


def forget_seen_version() -> None:
    """After the bump commits: this process reads the new version on its next request."""
    if has_app_context():
        current_app.extensions.pop("careloop.pagecache.version", None)


# ---- serving -------------------------------------------------------------------------------

def _anonymous() -> bool:
    return "_user_id" not in session and "_flashes" not in session


def _cache() -> RenderCache:
    return current_app.extensions["careloop.pagecache"]


def _key_and_validators():
    from app.i18n import current_language
    from app.services.branding import current_branding

    version, changed_at = public_version()
    branding = current_branding()
    day = datetime.now(timezone.utc).date().isoformat()  # durations in words are day-accurate
    # The bump's time as well as its number: a database restored from a backup reuses numbers.
    key = (request.endpoint, request.full_path, current_language(), version, changed_at, branding.version, day,
           current_app.config.get("WTF_CSRF_ENABLED", True))  # a page made without CSRF fields never serves one with
    digest = hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()
    midnight = datetime.combine(datetime.now(timezone.utc).date(), datetime.min.time())
    return key, digest, max(changed_at, midnight).replace(microsecond=0)


def _session_digest() -> str:
    raw = session.get("csrf_token", "")
    return hashlib.blake2b(str(raw).encode(), digest_size=6).hexdigest() if raw else "new"


def _is_feed() -> bool:
    return request.endpoint == "public.changes_feed"


def _finish(response: Response, etag: str, last_modified: datetime) -> Response:
    max_age = current_app.config["CARELOOP_PAGE_CACHE_MAX_AGE"]
    scope = "public" if _is_feed() else "private"
    if request.endpoint == "public.index":
        # The form page: its spam timer must be fresh, so browsers ask again each time.
        response.headers["Cache-Control"] = "private, no-cache"
    else:
        response.headers["Cache-Control"] = f"{scope}, max-age={max_age}"
        response.set_etag(etag, weak=True)
        response.headers["Last-Modified"] = format_datetime(last_modified.replace(tzinfo=timezone.utc), usegmt=True)
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def _etag_for(digest: str) -> str:
    return digest if _is_feed() else f"{digest}-{_session_digest()}"


def _not_modified(etag: str, last_modified: datetime) -> bool:
    if request.endpoint == "public.index":
        return False
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return parsedate_to_datetime(since).replace(tzinfo=None) >= last_modified
        except (TypeError, ValueError):
            return False
    return False


def _inject(body: str) -> str:
    if CSRF_MARK in body:
        from flask_wtf.csrf import generate_csrf

        body = body.replace(CSRF_MARK, generate_csrf())
    if SHOWN_MARK in body:
        from app.security.spam import form_shown_token

        body = body.replace(SHOWN_MARK, form_shown_token())
    return body


def _strip(body: str) -> str | None:
    """The page with this visitor's token and form time replaced by placeholders (None: unsafe)."""
    token = g.get("csrf_token")
    if token:
        body = body.replace(token, CSRF_MARK)
    body = _SHOWN.sub(lambda m: (m.group(1) or m.group(4)) + SHOWN_MARK + (m.group(3) or m.group(6)), body)
    if 'name="csrf_token"' in body and CSRF_MARK not in body:
        return None  # a token we could not find the value of: never store it
    return body


def init_app(app: Flask) -> None:
    app.extensions["careloop.pagecache"] = RenderCache(app.config["CARELOOP_PAGE_CACHE_SIZE"])
    if not app.config["CARELOOP_PAGE_CACHE_SIZE"]:
        return

    @app.before_request
    def serve_from_cache():
        if request.method not in ("GET", "HEAD") or request.endpoint not in CACHED_ENDPOINTS or not _anonymous():
            return None
        key, digest, last_modified = _key_and_validators()
        etag = _etag_for(digest)
        if _not_modified(etag, last_modified):
            return _finish(Response(status=304), etag, last_modified)
        entry = _cache().get(key)
        if entry is None:
            g.page_cache = (key, digest, last_modified)
            return None
        response = Response(_inject(entry.body), mimetype=entry.mimetype)
        response.headers["X-Careloop-Cache"] = "hit"
        return _finish(response, _etag_for(digest), last_modified)

    @app.after_request
    def store_in_cache(response: Response):
        pending = g.pop("page_cache", None)
        if pending is None:
            return response
        key, digest, last_modified = pending
        if response.status_code != 200 or response.direct_passthrough or not _anonymous():
            return response
        stripped = _strip(response.get_data(as_text=True))
        if stripped is not None:
            _cache().put(key, Entry(stripped, response.mimetype, last_modified))
            response.headers["X-Careloop-Cache"] = "miss"
        return _finish(response, _etag_for(digest), last_modified)
