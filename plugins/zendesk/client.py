"""HTTP to one Zendesk account: authentication, timeouts, rate limits and retries.

Nothing here knows about Careloop's data; it returns parsed JSON or raises
``SourceError`` / ``AuthenticationFailed`` with a message a person can act on.
Time is injected (``clock``, ``sleep``, ``wall``, ``jitter``) so tests run fast.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from app.plugin_api import AuthenticationFailed, PermanentError, RetryPolicy, SourceError, TransientError

log = logging.getLogger(__name__)

URL = "CARELOOP_ZENDESK_URL"
EMAIL = "CARELOOP_ZENDESK_EMAIL"
TOKEN = "CARELOOP_ZENDESK_TOKEN"
OAUTH_TOKEN = "CARELOOP_ZENDESK_OAUTH_TOKEN"

TIMEOUT = (5.0, 60.0)  # connect, read (seconds); an export page of 1000 tickets can take a while
USER_AGENT = "Careloop-Zendesk/0.1 (+https://github.com/careloop)"
RETRY_STATUSES = {429, 500, 502, 503, 504}
# Statuses after which a non-idempotent request (a comment) was certainly not applied.
SAFE_TO_REPEAT = {429, 502, 503, 504}


class NotFound(PermanentError):
    """The ticket (or other record) does not exist, or no longer does."""


class RateLimiter:
    """At most ``per_minute`` calls in any sliding 60-second window; 0 or less disables it.

    ``wait()`` sleeps (through the injected ``sleep``) until a call is allowed and
    records it. Shared by every run of one source in a process, so back-to-back runs
    still keep to Zendesk's limit.
    """

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until a call is allowed; return how long it waited."""
        if self.per_minute <= 0:
            return 0.0
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock()
                while self._calls and now - self._calls[0] >= self.WINDOW:
                    self._calls.popleft()
                if len(self._calls) < self.per_minute:
                    self._calls.append(now)
                    return waited
                pause = self.WINDOW - (now - self._calls[0])
                self.sleep(pause)
                waited += pause

    def hold_off(self, seconds: float) -> None:
        """Zendesk said to wait (Retry-After): no call through this limiter before then."""
        if self.per_minute <= 0 or seconds <= 0:
            return
        with self._lock:
            # Fill the window so the next call comes no sooner than ``seconds`` from now.
            until = self.clock() + seconds - self.WINDOW
            self._calls = deque([until] * self.per_minute)


def check_settings(settings: Mapping[str, str]) -> None:
    """Raise SourceError saying exactly which setting is missing or wrong."""
    url = (settings.get(URL) or "").strip()
    if not url:
        raise SourceError(f"Zendesk is not configured: set {URL} (for example https://yourcompany.zendesk.com).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceError(f"{URL} must be an http(s) address such as https://yourcompany.zendesk.com, not {url!r}.")
    if settings.get(OAUTH_TOKEN):
        return
    email, token = settings.get(EMAIL), settings.get(TOKEN)
    if email and token:
        return
    if email or token:
        missing = TOKEN if email else EMAIL
        raise SourceError(f"Zendesk credentials are incomplete: set {missing} as well "
                          f"(an API token needs both {EMAIL} and {TOKEN}).")
    raise SourceError(f"Zendesk has no credentials: set {EMAIL} and {TOKEN} (an API token), "
                      f"or {OAUTH_TOKEN} (an OAuth access token).")


def base_url(settings: Mapping[str, str]) -> str:
    return settings[URL].strip().rstrip("/")


class ZendeskClient:
    """One ``requests.Session`` for one run (use as a context manager to close it)."""

    def __init__(
        self,
        settings: Mapping[str, str],
        *,
        export_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_retry_after: float = 300.0,
        timeout: tuple[float, float] = TIMEOUT,
        session: requests.Session | None = None,
    ):
        check_settings(settings)
        self.base = base_url(settings)
        self.export_limiter = export_limiter
        self.sleep = sleep
        self.wall = wall
        self.jitter = jitter
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if settings.get(OAUTH_TOKEN):
            self.session.headers["Authorization"] = f"Bearer {settings[OAUTH_TOKEN]}"
        else:
            self.session.auth = (f"{settings[EMAIL]}/token", settings[TOKEN])

    def __enter__(self) -> ZendeskClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- requests -------------------------------------------------------------------------

    def policy(self) -> RetryPolicy:
        """The shared retry policy (app.plugin_api), with this client's clock and limits."""
        return RetryPolicy(max_retries=self.max_retries, backoff_base=self.backoff_base,
                           backoff_cap=self.backoff_cap, max_wait=self.max_retry_after,
                           sleep=self.sleep, random=lambda: self.jitter())

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                 export: bool = False, allow: tuple[int, ...] = ()) -> tuple[int, dict]:
        """GET and parse; returns (status, body). Statuses in ``allow`` are returned, not raised.

        A body cut short (not valid JSON) is retried like a 5xx: a GET is safe to repeat."""

        def once() -> tuple[int, dict]:
            response = self._once("GET", path, params=params, payload=None, export=export,
                                  idempotent=True, allow=allow)
            try:
                return response.status_code, self.parse(response)
            except SourceError as error:
                raise TransientError(str(error)) from None

        return self.policy().run(once, f"Zendesk GET {path}")

    def put_json(self, path: str, payload: Mapping[str, Any]) -> dict:
        response = self.send("PUT", path, payload=payload, idempotent=False)
        try:
            return self.parse(response) if response.content else {}
        except SourceError:
            return {}  # applied (2xx); an unreadable answer does not undo it, nor is it repeated

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             payload: Any = None, export: bool = False, idempotent: bool = True,
             allow: tuple[int, ...] = ()) -> requests.Response:
        """One logical request, retried on 429/5xx and connection errors (bounded)."""
        return self.policy().run(
            lambda: self._once(method, path, params=params, payload=payload, export=export,
                               idempotent=idempotent, allow=allow),
            f"Zendesk {method} {path}")

    def _once(self, method: str, path: str, *, params, payload, export: bool, idempotent: bool,
              allow: tuple[int, ...]) -> requests.Response:
        """One HTTP attempt: the response, or TransientError (retry), PermanentError, SourceError."""
        url = self.base + path
        what = f"{method} {path}"
        if export and self.export_limiter is not None:
            self.export_limiter.wait()
        try:
            response = self.session.request(method, url, params=params, json=payload, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            if idempotent or isinstance(error, requests.ConnectTimeout):
                raise TransientError(f"Zendesk could not be reached ({what}): {error}") from error
            raise SourceError(f"Zendesk could not be reached ({what}): {error}") from error

        status = response.status_code
        if status in allow or 200 <= status < 300:
            return response
        if status in (401, 403):
            raise AuthenticationFailed(
                f"Zendesk authentication failed (HTTP {status} for {what}): check {EMAIL} and "
                f"{TOKEN} (or {OAUTH_TOKEN}), and that the user may read tickets. "
                f"Zendesk said: {self.describe(response)}"
            )
        if status == 404:
            raise NotFound(f"Zendesk has no such record ({what}, HTTP 404): {self.describe(response)}")
        if status == 422 and method != "GET":
            # For example an update to a closed ticket: Zendesk will refuse it every time.
            raise PermanentError(f"Zendesk refused {what} (HTTP 422, a closed ticket cannot be updated): "
                                 f"{self.describe(response)}")
        retryable = status in (RETRY_STATUSES if idempotent else SAFE_TO_REPEAT)
        if not retryable:
            if 400 <= status < 500 and status not in (408, 409, 429):
                raise PermanentError(f"Zendesk refused {what} (HTTP {status}): {self.describe(response)}")
            raise SourceError(f"Zendesk refused {what} (HTTP {status}): {self.describe(response)}")
        retry_after = self.retry_after(response)
        if retry_after is not None and export and self.export_limiter is not None \
                and retry_after <= self.max_retry_after:
            self.export_limiter.hold_off(retry_after)
        raise TransientError(f"Zendesk answered HTTP {status} to {what}", retry_after=retry_after)

    # -- helpers --------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: half fixed, half random ("equal jitter")."""
        return self.policy().backoff(attempt)

    def retry_after(self, response: requests.Response) -> float | None:
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - self.wall())

    @staticmethod
    def parse(response: requests.Response) -> dict:
        try:
            body = json.loads(response.content)
        except ValueError as error:
            raise SourceError(
                f"Zendesk sent a body that is not valid JSON for {response.request.method} "
                f"{urlsplit(response.url).path} (truncated?): {error}"
            ) from None
        if not isinstance(body, dict):
            raise SourceError(f"Zendesk sent unexpected JSON for {urlsplit(response.url).path}: not an object.")
        return body

    @staticmethod
    def describe(response: requests.Response) -> str:
        """Zendesk's own error words ({"error": ..., "description": ...}), shortened."""
        try:
            body = response.json()
        except ValueError:
            return (response.text or response.reason or "").strip()[:200] or "no details"
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                error = error.get("title") or error.get("message") or json.dumps(error)
            parts = [str(p) for p in (error, body.get("description")) if p]
            if parts:
                return ": ".join(parts)[:300]
        return json.dumps(body)[:300]
