"""Speaking HTTP to Jira: settings, one ``requests`` session per run, retries, errors.

Everything here returns plain data or raises :class:`app.plugin_api.SourceError` (or its
subclass :class:`~app.plugin_api.AuthenticationFailed`) with a message an administrator
can act on. Nothing here touches Careloop's database.

Waiting is polite and bounded:

* ``429 Too Many Requests``: wait at least ``Retry-After`` seconds (or until
  ``X-RateLimit-Reset``), never less, plus a little jitter; without either header, back
  off exponentially with jitter. A wait longer than ``max_wait`` stops the run instead
  (the next run resumes from the saved cursor).
* ``5xx`` and network errors: exponential back-off with jitter, at most ``max_retries``
  retries, for requests that are safe to repeat (a ``POST`` that creates an issue is only
  repeated after a ``429``, which Jira answers before doing anything).

``sleep``, ``clock`` and ``random`` are injectable so tests run in milliseconds.

The functions at the bottom (:func:`create_issue`, :func:`add_remote_link`,
:func:`status_category`) link a Careloop problem's fix to a Jira issue; the core calls
them with the source's settings.
"""

from __future__ import annotations

import hashlib
import random as _random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests

from app.plugin_api import AuthenticationFailed, RetryPolicy, SourceError, TransientError
from plugins.jira.adf import text_to_adf

__all__ = [
    "CLOUD",
    "DATACENTER",
    "IssueNotFound",
    "JiraClient",
    "JiraSettings",
    "add_remote_link",
    "create_issue",
    "status_category",
]

CLOUD = "cloud"
DATACENTER = "datacenter"
_DEPLOYMENT_ALIASES = {"cloud": CLOUD, "datacenter": DATACENTER, "data-center": DATACENTER,
                       "data_center": DATACENTER, "dc": DATACENTER, "server": DATACENTER}
ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*$")
USER_AGENT = "Careloop-Jira-importer/1.0 (+requests)"

# The environment variables (also read from app.config) this plugin understands.
URL = "CARELOOP_JIRA_URL"
EMAIL = "CARELOOP_JIRA_EMAIL"
TOKEN = "CARELOOP_JIRA_TOKEN"
PAT = "CARELOOP_JIRA_PAT"
JQL = "CARELOOP_JIRA_JQL"
DEPLOYMENT = "CARELOOP_JIRA_DEPLOYMENT"
WEBHOOK_SECRET = "CARELOOP_JIRA_WEBHOOK_SECRET"
ISSUE_TYPE = "CARELOOP_JIRA_ISSUE_TYPE"
PROJECT = "CARELOOP_JIRA_PROJECT"
DONE_WHEN = "CARELOOP_JIRA_DONE_WHEN"
DONE_RULES = ("released", "done")


class _Unparsable(SourceError):
    """A body that is not complete JSON (cut short on the way)."""


class IssueNotFound(SourceError):
    """Jira answered 404: the issue does not exist or the account may not see it."""


@dataclass(frozen=True)
class JiraSettings:
    """The source's settings, checked. Built from the mapping the core passes."""

    base_url: str
    deployment: str
    jql: str = ""
    email: str | None = None
    token: str | None = None
    pat: str | None = None
    webhook_secret: str | None = None
    issue_type: str = "Task"

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> JiraSettings:
        url = (settings.get(URL) or "").strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise SourceError(f"{URL} must be the http(s) address of your Jira site, "
                              f"for example https://your-team.atlassian.net (it is {url or 'not set'}).")
        raw = (settings.get(DEPLOYMENT) or CLOUD).strip().lower()
        deployment = _DEPLOYMENT_ALIASES.get(raw)
        if deployment is None:
            raise SourceError(f"{DEPLOYMENT} must be 'cloud' or 'datacenter' (it is {raw!r}).")
        return cls(
            base_url=url,
            deployment=deployment,
            jql=(settings.get(JQL) or "").strip(),
            email=(settings.get(EMAIL) or "").strip() or None,
            token=settings.get(TOKEN) or None,
            pat=settings.get(PAT) or None,
            webhook_secret=settings.get(WEBHOOK_SECRET) or None,
            issue_type=(settings.get(ISSUE_TYPE) or "Task").strip() or "Task",
        )

    @property
    def cloud(self) -> bool:
        return self.deployment == CLOUD

    @property
    def api(self) -> str:
        """``/rest/api/3`` on Cloud (rich text in ADF), ``/rest/api/2`` on Data Center."""
        return "/rest/api/3" if self.cloud else "/rest/api/2"

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    def issue_path(self, key: str, suffix: str = "") -> str:
        if not ISSUE_KEY.match(key or ""):
            raise ValueError(f"{key!r} is not a Jira issue key (like SUP-12).")
        return f"{self.api}/issue/{quote(key)}{suffix}"


class JiraClient:
    """One ``requests.Session`` with Jira's credentials; use as a context manager."""

    def __init__(
        self,
        settings: JiraSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        random: Callable[[], float] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 300.0,
    ):
        self.settings = settings
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.random = random or _random.random
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        if not (settings.email and settings.token) and not settings.pat:
            raise AuthenticationFailed(
                f"no credentials are set: set {EMAIL} and {TOKEN} (Jira Cloud) or {PAT} (Jira Data Center)."
            )
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if settings.email and settings.token:
            self.session.auth = (settings.email, settings.token)  # Cloud: email + API token
        else:
            self.session.headers["Authorization"] = f"Bearer {settings.pat}"  # Data Center PAT

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- requests ------------------------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post_json(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self.request("POST", path, json=body, idempotent=idempotent)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotent: bool | None = None) -> Any:
        """Send one request (with retries, the shared policy of app.plugin_api) and return
        its JSON body (None when empty). A body cut short is retried when safe to repeat."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        what = f"{method} {path}"
        policy = RetryPolicy(max_retries=self.max_retries, backoff_base=self.backoff_base,
                             backoff_cap=self.backoff_max, max_wait=self.max_wait + 10.0,
                             sleep=self._wait, random=self.random)
        return policy.run(lambda: self._once(method, path, params, json, idempotent, what), f"Jira {what}")

    def _once(self, method: str, path: str, params, json: Any, idempotent: bool, what: str) -> Any:
        url = self.settings.base_url + path
        try:
            response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
        except requests.RequestException as error:
            message = f"Jira at {self.settings.base_url} could not be reached ({what}): {_short(error)}"
            # Only a failed connection is certainly unsent; a POST is not repeated otherwise.
            if idempotent or isinstance(error, requests.ConnectTimeout):
                raise TransientError(message) from error
            raise SourceError(message) from error
        status = response.status_code
        if status == 429 or (status >= 500 and idempotent):
            asked = self._retry_after(response)
            if asked is not None and asked > self.max_wait:
                raise SourceError(f"Jira asks Careloop to wait {asked:.0f} s before calling again ({status} to "
                                  f"{what}); stopping here, the next run resumes where this one stopped.")
            if asked is not None:
                asked += self.random() * min(1.0 + asked * 0.1, 10.0)  # jitter: only ever later
            raise TransientError(f"Jira kept answering {status} to {what}", retry_after=asked)
        try:
            return self._read(response, what)
        except _Unparsable as error:
            if idempotent:
                raise TransientError(str(error)) from None
            raise SourceError(str(error)) from None

    def _read(self, response: requests.Response, what: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(
                f"Jira answered {status} to {what}: authentication failed. {_messages(response)}"
                f"Check {EMAIL} and {TOKEN} (Cloud) or {PAT} (Data Center), and that the account may "
                "browse the project."
            )
        if status == 410:
            raise SourceError(
                f"Jira answered 410 Gone to {what}: this API was removed. Jira Cloud removed the old "
                f"search (/rest/api/2/search and /rest/api/3/search) in favour of /rest/api/3/search/jql; "
                f"if this site is Jira Cloud, set {DEPLOYMENT}=cloud. {_messages(response)}".strip()
            )
        if status == 404:
            raise IssueNotFound(f"Jira answered 404 to {what}: not found, or not visible to this account. "
                                f"{_messages(response)}".strip())
        if status >= 400:
            raise SourceError(f"Jira answered {status} to {what}. {_messages(response)}".strip())
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise _Unparsable(
                f"Jira sent a response to {what} that is not complete JSON ({len(response.content)} bytes, "
                f"{_short(error)}); what was imported before it is kept and the next run resumes from there."
            ) from error

    # -- waiting -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with "equal jitter": half fixed, half random."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return delay / 2 + self.random() * delay / 2

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds Jira asked us to wait (``Retry-After``, else ``X-RateLimit-Reset``)."""
        value = response.headers.get("Retry-After")
        if value:
            value = value.strip()
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    when = parsedate_to_datetime(value)
                    return max(0.0, when.timestamp() - self.clock())
                except (TypeError, ValueError, IndexError):
                    pass
        reset = response.headers.get("X-RateLimit-Reset")
        if reset:
            when = _parse_iso(reset.strip())
            if when is not None:
                return max(0.0, when.timestamp() - self.clock())
        return None

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)


def _parse_iso(value: str) -> datetime | None:
    text = value.replace("Z", "+00:00")
    for pattern in ("%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _messages(response: requests.Response) -> str:
    """Jira's own words from an error body (``errorMessages`` and ``errors``), shortened."""
    try:
        data = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:300]
        return f"{text} " if text and "<" not in text[:1] else ""
    parts: list[str] = []
    if isinstance(data, dict):
        messages = data.get("errorMessages")
        if isinstance(messages, list):
            parts += [str(m) for m in messages if m]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        if isinstance(data.get("message"), str):
            parts.append(data["message"])
    text = " ".join(parts)[:500]
    return f"{text} " if text else ""


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or error.__class__.__name__


# --- linking a problem's fix to Jira (adapter functions; the core wires them in) -----


def _client_for(settings: Mapping[str, str], client: JiraClient | None) -> tuple[JiraSettings, JiraClient, bool]:
    if client is not None:
        return client.settings, client, False
    config = JiraSettings.from_mapping(settings)
    return config, JiraClient(config, max_retries=3, max_wait=30.0), True


def create_issue(settings: Mapping[str, str], project_key: str, summary: str, description_text: str,
                 *, issue_type: str | None = None, client: JiraClient | None = None) -> tuple[str, str]:
    """Create an issue in ``project_key`` and return ``(key, browse_url)``.

    The issue type is ``issue_type``, else ``CARELOOP_JIRA_ISSUE_TYPE``, else ``Task``. The
    description is plain text (sent as ADF on Cloud, as text on Data Center). Never retried
    after a server error, so a failure can never create two issues.
    """
    config, jira, owned = _client_for(settings, client)
    title = " ".join((summary or "").split())
    if not title:
        raise ValueError("A Jira issue needs a summary.")
    if len(title) > 255:  # Jira's limit for a summary
        title = title[:254].rstrip() + "…"
    fields: dict[str, Any] = {
        "project": {"key": project_key},
        "summary": title,
        "issuetype": {"name": issue_type or config.issue_type},
    }
    if description_text and description_text.strip():
        fields["description"] = text_to_adf(description_text) if config.cloud else description_text.strip()
    try:
        data = jira.post_json(f"{config.api}/issue", {"fields": fields})
    finally:
        if owned:
            jira.close()
    key = data.get("key") if isinstance(data, dict) else None
    if not key:
        raise SourceError("Jira created the issue but did not say its key.")
    return key, config.browse_url(key)


def add_remote_link(settings: Mapping[str, str], key: str, url: str, title: str, *,
                    summary: str | None = None, client: JiraClient | None = None) -> int | None:
    """Link ``url`` (a Careloop problem) from issue ``key``; returns the remote link's id.

    The link's ``globalId`` is derived from ``url``, so adding the same link again
    updates it instead of adding a second one (and the call is safe to retry).
    """
    config, jira, owned = _client_for(settings, client)
    global_id = f"careloop={url}"
    if len(global_id) > 255:
        global_id = "careloop-sha256=" + hashlib.sha256(url.encode()).hexdigest()
    link: dict[str, Any] = {"url": url, "title": (title or url)[:255]}
    if summary:
        link["summary"] = summary
    body = {"globalId": global_id, "application": {"type": "org.careloop", "name": "Careloop"}, "object": link}
    try:
        data = jira.post_json(config.issue_path(key, "/remotelink"), body, idempotent=True)
    finally:
        if owned:
            jira.close()
    return data.get("id") if isinstance(data, dict) else None


STATUS_CATEGORIES = ("new", "indeterminate", "done")


def done_rule(settings: Mapping[str, str]) -> str:
    """``released`` (default): work counts as done when its fix version is released;
    ``done``: when the issue reaches a done status."""
    value = (settings.get(DONE_WHEN) or "released").strip().lower()
    if value not in DONE_RULES:
        raise SourceError(f"{DONE_WHEN} must be 'released' or 'done', not {value!r}.")
    return value


def status_category(settings: Mapping[str, str], key: str, *, client: JiraClient | None = None) -> str:
    """Where the issue stands: ``"new"`` (To Do), ``"indeterminate"`` (In Progress),
    ``"done"``, or ``"done_unreleased"`` (done, but under the ``released`` rule its fix
    version is not released yet). A status without a category counts as new.

    Only ``"done"`` asks the owner to record the change."""
    rule = done_rule(settings)
    config, jira, owned = _client_for(settings, client)
    try:
        data = jira.get_json(config.issue_path(key), params={"fields": "status,fixVersions"})
    finally:
        if owned:
            jira.close()
    try:
        category = data["fields"]["status"]["statusCategory"]["key"]
    except (KeyError, TypeError):
        raise SourceError(f"Jira did not say the status of {key}.") from None
    category = category if category in STATUS_CATEGORIES else "new"
    if rule == "released":
        versions = data["fields"].get("fixVersions") or []
        released = bool(versions) and all(isinstance(v, dict) and v.get("released") is True for v in versions)
        if released:
            return "done"  # shipped: whatever the board says, the change is out
        if category == "done":
            return "done_unreleased"
    return category
