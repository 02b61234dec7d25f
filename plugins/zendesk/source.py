"""The Zendesk ticket source: incremental import, write-back and webhooks.

A plain adapter: settings in, ``Ticket`` data out. It never touches the database;
the core stores each page together with the cursor returned here.

Cursors (stored by the core between runs):

- ``start:<epoch seconds>``: nothing read yet; the next run asks the cursor-based
  export for tickets changed since then (``?start_time=...``).
- ``cursor:<after_cursor>``: Zendesk's own cursor after the last stored page; the next
  run continues from exactly there (``?cursor=...``), even after ``end_of_stream``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from app.plugin_api import (
    PermanentError,
    Setting,
    SourceError,
    Ticket,
    TicketPage,
    TicketSource,
    WebhookRejected,
    WebhookResult,
)
from plugins.zendesk import filters, mapping, selection
from plugins.zendesk.client import (
    EMAIL,
    OAUTH_TOKEN,
    TOKEN,
    URL,
    NotFound,
    RateLimiter,
    ZendeskClient,
    base_url,
    check_settings,
)
from plugins.zendesk.filters import TicketFilter
from plugins.zendesk.selection import Selection

log = logging.getLogger(__name__)

START = "CARELOOP_ZENDESK_START"
WEBHOOK_SECRET = "CARELOOP_ZENDESK_WEBHOOK_SECRET"
WRITE_BACK = "CARELOOP_ZENDESK_WRITE_BACK"
REQUESTS_PER_MINUTE = "CARELOOP_ZENDESK_REQUESTS_PER_MINUTE"

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
EXPORT_LIMIT_PER_MINUTE = 10  # Zendesk's limit for incremental exports
TOO_RECENT = 60  # Zendesk refuses a start_time within the last minute (HTTP 422)
DEFAULT_START_DAYS = 30
WEBHOOK_MAX_AGE = 300  # seconds: older signed calls are refused (replays)
WEBHOOK_MAX_SKEW = 60  # seconds a timestamp may be ahead of our clock

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"

SETTINGS = (
    Setting(URL, "Your Zendesk address, e.g. https://yourcompany.zendesk.com", required=True),
    Setting(EMAIL, "Email of the Zendesk agent whose API token is used"),
    Setting(TOKEN, "Zendesk API token (Admin Center > Apps and integrations > Zendesk API)", secret=True),
    Setting(OAUTH_TOKEN, "Instead of email + token: an OAuth access token (sent as Bearer)", secret=True),
    Setting(START, "Where the first import begins: a date (2024-01-31), a UTC time or epoch seconds; "
                   f"default {DEFAULT_START_DAYS} days ago"),
    Setting(WEBHOOK_SECRET, "Signing secret of the Zendesk webhook that calls /hooks/zendesk", secret=True),
    Setting(WRITE_BACK, "Post a public reply on the ticket when a change is published (on/off)", default="on"),
    Setting(REQUESTS_PER_MINUTE, "Incremental export requests per minute (Zendesk allows 10; 0 = no limit, "
                                 "for local test servers only)", default=str(EXPORT_LIMIT_PER_MINUTE)),
    *filters.SETTINGS,
    *selection.SETTINGS,
)


def invalid_settings(settings: Mapping[str, str]) -> list[str]:
    """Mistyped values, one line each, checked at start-up (empty when all are understood)."""
    wrong = []
    try:
        flag(settings, WRITE_BACK, True)
    except SourceError as error:
        wrong.append(str(error))
    raw = (settings.get(REQUESTS_PER_MINUTE) or "").strip()
    if raw and not raw.lstrip("-").isdigit():
        wrong.append(f"{REQUESTS_PER_MINUTE} must be a whole number (10 for Zendesk), not {raw!r}.")
    try:
        parse_start(settings.get(START), time.time())
    except SourceError as error:
        wrong.append(str(error))
    return wrong + filters.problems(settings) + selection.problems(settings)

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def flag(settings: Mapping[str, str], name: str, default: bool) -> bool:
    value = (settings.get(name) or "").strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SourceError(f"{name} must be on or off, not {settings.get(name)!r}.")


def parse_start(value: str | None, now: float) -> int:
    """CARELOOP_ZENDESK_START as epoch seconds (default: 30 days before ``now``)."""
    if value is None or not value.strip():
        return int(now - DEFAULT_START_DAYS * 86400)
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(
            f"{START} must be a date like 2024-01-31, a time like 2024-01-31T09:00:00Z or epoch seconds, "
            f"not {value!r}."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_cursor(cursor: str | None, settings: Mapping[str, str], now: float) -> tuple[str, str]:
    """("start", epoch) or ("cursor", after_cursor) from the cursor the core saved."""
    if not cursor:
        return "start", str(parse_start(settings.get(START), now))
    kind, _, value = cursor.partition(":")
    if kind == "start" and value.isdigit():
        return kind, value
    if kind == "cursor" and value:
        return kind, value
    raise SourceError(f"The saved Zendesk cursor {cursor!r} is not one this plugin wrote; "
                      "reset the source's cursor to import again from CARELOOP_ZENDESK_START.")


class ZendeskSource:
    """The Zendesk source of one app. Time is injectable (tests use a fake clock).

    ``clock``/``sleep`` drive the rate limiter and retries, ``wall`` is the real time
    (start times, webhook timestamps, HTTP dates), ``jitter`` returns 0..1 for back-off.
    """

    name = "zendesk"
    title = "Zendesk"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time, jitter: Callable[[], float] = random.random):
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.jitter = jitter
        self.limiters: dict[tuple[str, int], RateLimiter] = {}
        self._lock = threading.Lock()

    def ticket_source(self) -> TicketSource:
        return TicketSource(name=self.name, title=self.title, settings=SETTINGS, fetch=self.fetch,
                            write_back=self.write_back, handle_webhook=self.handle_webhook,
                            check=_missing_settings, write_back_enabled=lambda s: flag(s, WRITE_BACK, True),
                            validate=invalid_settings, test_connection=self.test_connection)

    def test_connection(self, settings: Mapping[str, str]) -> str:
        """Who Careloop signs in as (``GET /api/v2/users/me.json``), for the Sources page."""
        with self.client(settings) as client:
            client.max_retries = 1
            _, body = client.get_json("/api/v2/users/me.json")
        user = body.get("user") if isinstance(body.get("user"), Mapping) else {}
        if not user.get("id"):
            raise SourceError("Zendesk answered as an anonymous user: check the email and API token.")
        return f"Signed in to Zendesk as {user.get('name') or user.get('email')} ({user.get('role') or 'unknown role'})."

    # -- plumbing -------------------------------------------------------------------------

    def limiter(self, settings: Mapping[str, str]) -> RateLimiter:
        """One limiter per Zendesk account for the life of the process (runs share it)."""
        raw = (settings.get(REQUESTS_PER_MINUTE) or str(EXPORT_LIMIT_PER_MINUTE)).strip()
        try:
            per_minute = int(raw)
        except ValueError:
            raise SourceError(f"{REQUESTS_PER_MINUTE} must be a whole number (10 for Zendesk), not {raw!r}.") from None
        key = (base_url(settings), per_minute)
        with self._lock:
            if key not in self.limiters:
                self.limiters[key] = RateLimiter(per_minute, clock=self.clock, sleep=self.sleep)
            return self.limiters[key]

    def client(self, settings: Mapping[str, str], *, export: bool = False) -> ZendeskClient:
        check_settings(settings)
        return ZendeskClient(settings, export_limiter=self.limiter(settings) if export else None,
                             sleep=self.sleep, wall=self.wall, jitter=self.jitter)

    # -- import ---------------------------------------------------------------------------

    def fetch(self, settings: Mapping[str, str], cursor: str | None) -> Iterator[TicketPage]:
        """Pages of the cursor-based incremental ticket export, users side-loaded.

        One page per HTTP page; ``done`` at ``end_of_stream``. A failure raises after the
        pages already yielded, so the core keeps them and the next run resumes.
        """
        kind, value = parse_cursor(cursor, settings, self.wall())
        wanted = TicketFilter.from_settings(settings)
        chosen = Selection.from_settings(settings)  # a view is listed once, for this run
        client = self.client(settings, export=True)
        base = client.base
        try:
            while True:
                current = f"{kind}:{value}"
                if kind == "start":
                    if int(value) > self.wall() - TOO_RECENT:
                        # Zendesk refuses a start_time within the last minute: nothing new yet.
                        yield TicketPage(tickets=[], cursor=current, done=True)
                        return
                    params = {"start_time": value, "include": "users"}
                else:
                    params = {"cursor": value, "include": "users"}
                status, body = client.get_json(EXPORT_PATH, params, export=True, allow=(422,))
                if status == 422:
                    if self._too_recent(body, kind, value):
                        yield TicketPage(tickets=[], cursor=current, done=True)
                        return
                    raise SourceError(f"Zendesk refused the export from {current} (HTTP 422): "
                                      f"{_describe(body)}")
                raw_tickets = body.get("tickets")
                if not isinstance(raw_tickets, list):
                    raise SourceError("Zendesk's export page has no list of tickets; "
                                      f"keys were {sorted(body)[:10]}.")
                tickets = self._tickets(client, base, raw_tickets, body.get("users"), wanted, chosen)
                after = body.get("after_cursor")
                # The end: Zendesk says so, gives no cursor, or sends us back where we were.
                end = bool(body.get("end_of_stream")) or not after or (
                    kind == "cursor" and str(after) == value and not raw_tickets)
                yield TicketPage(tickets=tickets, cursor=f"cursor:{after}" if after else current, done=end)
                if end:
                    return
                kind, value = "cursor", str(after)
        finally:
            client.close()

    def _too_recent(self, body: Mapping[str, Any], kind: str, value: str) -> bool:
        """A 422 that means "start_time too recent": Zendesk says so, or our start time is
        within a few minutes of now (our clock may lag Zendesk's)."""
        if "recent" in _describe(body).lower():
            return True
        return kind == "start" and int(value) > self.wall() - 5 * TOO_RECENT

    def _tickets(self, client: ZendeskClient, base: str, raw_tickets: list, raw_users: Any,
                 wanted: TicketFilter | None = None, chosen: Selection | None = None) -> list[Ticket]:
        users = mapping.users_by_id(raw_users if isinstance(raw_users, list) else ())
        alive = [raw for raw in raw_tickets if isinstance(raw, Mapping) and mapping.ticket_id(raw) is not None
                 and mapping.careloop_status(raw) != "deleted"]
        # The view or search is asked only about tickets the field filters let through.
        outside = chosen.outside(client, [raw for raw in alive if wanted is None or wanted.why_not(raw) is None]) \
            if chosen is not None and chosen.active else {}
        tickets = []
        for raw in raw_tickets:
            if not isinstance(raw, Mapping) or mapping.ticket_id(raw) is None:
                # Skipped, not fatal: stopping here would stop every later run at this page.
                log.warning("Skipped an entry without a ticket id in Zendesk's answer: %.200r", raw)
                continue
            deleted = mapping.careloop_status(raw) == "deleted"
            excluded = None if deleted else (
                (wanted.why_not(raw) if wanted is not None else None) or outside.get(mapping.ticket_id(raw)))
            if excluded:
                tickets.append(Ticket(external_id=str(mapping.ticket_id(raw)), text="", excluded=excluded,
                                      url=mapping.agent_url(base, mapping.ticket_id(raw))))
                continue
            merged_into = None
            if not deleted and mapping.closed_by_merge(raw):
                merged_into = mapping.merge_target(raw) or self._merge_target(client, mapping.ticket_id(raw))
            tickets.append(mapping.to_ticket(raw, users, base, merged_into=merged_into))
        return mapping.targets_first(tickets)

    def _merge_target(self, client: ZendeskClient, ticket_id: int) -> str | None:
        """The ticket a merge closed this one into, from its latest comments."""
        try:
            _, body = client.get_json(f"/api/v2/tickets/{ticket_id}/comments.json",
                                      {"sort_order": "desc", "page[size]": 20})
        except NotFound:
            return None
        comments = body.get("comments")
        target = mapping.merge_target_from_comments(comments if isinstance(comments, list) else ())
        if target is None:
            log.warning("Zendesk ticket %s is tagged %s but no merge target was found in its comments",
                        ticket_id, mapping.MERGED_TAG)
        return target

    def fetch_ticket(self, settings: Mapping[str, str], ticket_id: str) -> Ticket:
        """One ticket by id (``GET /api/v2/tickets/{id}.json?include=users``); a ticket that
        no longer exists comes back as deleted."""
        with self.client(settings) as client:
            try:
                _, body = client.get_json(f"/api/v2/tickets/{ticket_id}.json", {"include": "users"})
            except NotFound:
                return Ticket(external_id=str(ticket_id), text="", status="deleted")
            raw = body.get("ticket")
            if not isinstance(raw, Mapping):
                raise SourceError(f"Zendesk's answer for ticket {ticket_id} has no ticket in it.")
            tickets = self._tickets(client, client.base, [raw], body.get("users"),
                                    TicketFilter.from_settings(settings), Selection.from_settings(settings))
            if not tickets:
                raise SourceError(f"Zendesk's answer for ticket {ticket_id} has no ticket id in it.")
            return tickets[0]

    # -- write-back -----------------------------------------------------------------------

    def write_back(self, settings: Mapping[str, str], external_id: str, body: str) -> None:
        """Post ``body`` as a public comment on the ticket (PUT /api/v2/tickets/{id}.json)."""
        if not flag(settings, WRITE_BACK, True):
            # Never pretend: the core withdraws replies while write-back is off.
            raise PermanentError(f"Zendesk write-back is off ({WRITE_BACK}); the reply was withdrawn, not posted.")
        ticket_id = str(external_id).strip()
        if not ticket_id.isdigit():
            raise SourceError(f"{external_id!r} is not a Zendesk ticket id.")
        if not (body or "").strip():
            raise SourceError("An empty reply is not posted to Zendesk.")
        with self.client(settings) as client:
            client.put_json(f"/api/v2/tickets/{ticket_id}.json",
                            {"ticket": {"comment": {"body": body, "public": True}}})

    # -- webhooks -------------------------------------------------------------------------

    def handle_webhook(self, settings: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> WebhookResult:
        """Verify a Zendesk webhook call and fetch the ticket it names.

        Signature: ``base64(HMAC-SHA256(secret, timestamp + raw body))`` in
        X-Zendesk-Webhook-Signature, the timestamp in X-Zendesk-Webhook-Signature-Timestamp.
        The body names the ticket: ``{"ticket_id": "123"}`` (a trigger or automation
        webhook with that JSON body) or Zendesk's event shape ``{"type":
        "zen:event-type:ticket...", "detail": {"id": "123", ...}}``.
        """
        secret = settings.get(WEBHOOK_SECRET)
        if not secret:
            raise WebhookRejected(f"Zendesk webhooks are refused: {WEBHOOK_SECRET} is not set.")
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        signature = lower.get(SIGNATURE_HEADER.lower(), "").strip()
        stamp = lower.get(TIMESTAMP_HEADER.lower(), "").strip()
        if not signature or not stamp:
            raise WebhookRejected(f"The call has no {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers.")
        if not verify_signature(secret, stamp, body, signature):
            raise WebhookRejected("The Zendesk webhook signature does not match (check the signing secret).")
        sent_at = parse_webhook_time(stamp)
        if sent_at is None:
            raise WebhookRejected(f"The {TIMESTAMP_HEADER} header is not a time: {stamp[:40]!r}.")
        age = self.wall() - sent_at
        if age > WEBHOOK_MAX_AGE:
            raise WebhookRejected(f"The webhook call was signed {int(age)} s ago; older than "
                                  f"{WEBHOOK_MAX_AGE // 60} minutes is refused.")
        if age < -WEBHOOK_MAX_SKEW:
            raise WebhookRejected("The webhook call is signed with a time in the future; refused.")
        # Zendesk sends one id per invocation (the same on its retries); without it the
        # signature itself identifies the call, so a replayed copy is still refused.
        invocation_id = lower.get(INVOCATION_HEADER.lower(), "").strip() or f"signature:{signature}"
        ticket_id = webhook_ticket_id(body)
        return WebhookResult(invocation_id=invocation_id, tickets=[self.fetch_ticket(settings, ticket_id)])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


def parse_webhook_time(value: str) -> float | None:
    """Zendesk's signature timestamp ("2024-05-01T10:00:00Z"); epoch seconds also accepted."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def webhook_ticket_id(body: bytes) -> str:
    """The ticket id named by a webhook body; ValueError (answered 400) when there is none."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(payload, Mapping):
        raise ValueError('expected a JSON object such as {"ticket_id": "123"}')
    candidates = [payload.get("ticket_id")]
    if isinstance(payload.get("ticket"), Mapping):
        candidates.append(payload["ticket"].get("id"))
    if isinstance(payload.get("detail"), Mapping):
        candidates.append(payload["detail"].get("id"))
    subject = payload.get("subject")
    if isinstance(subject, str) and subject.startswith("zen:ticket:"):
        candidates.append(subject.rsplit(":", 1)[1])
    for candidate in candidates:
        text = str(candidate).strip() if candidate is not None else ""
        if text.isdigit():
            return text
    raise ValueError('no ticket id in the webhook body: send {"ticket_id": "{{ticket.id}}"} '
                     "or subscribe to Zendesk ticket events")


def _describe(body: Mapping[str, Any]) -> str:
    parts = []
    for key in ("error", "description", "message"):
        value = body.get(key)
        if isinstance(value, Mapping):
            value = value.get("title") or value.get("message") or json.dumps(value)
        if value:
            parts.append(str(value))
    return ": ".join(parts)[:300] or json.dumps(body)[:300]



def _missing_settings(settings: Mapping[str, str]) -> list[str]:
    """What is missing or wrong, for the Sources page and ``careloop import`` (empty when ready)."""
    try:
        check_settings(settings)
    except SourceError as error:
        return [str(error)]
    return []
