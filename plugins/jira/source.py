"""The Jira ticket source: polling by JQL, webhooks, and issue-to-ticket mapping.

Polling
-------
Which issues are reports is the administrator's JQL (``CARELOOP_JIRA_JQL``). Each run asks
for ``(<that JQL>) AND updated >= <epoch ms> ORDER BY updated ASC, key ASC``. A number is
used, not a date string, because JQL reads date strings in the Jira account's time zone.

The cursor saved after every page is a small JSON object::

    {"v": 1, "updated": 1767225600123, "since": 1767225000123,
     "seen": {"SUP-7": 1767225600123, "SUP-9": 1767225512000}}

``updated`` is the watermark, the newest ``updated`` imported. ``since`` is where the next
run's query starts: ``OVERLAP_MS`` (10 minutes) behind the watermark, or less when more than
``OVERLAP_MAX_ISSUES`` issues were updated in those minutes (a bulk change), so a run never
re-reads more than a few pages. ``seen`` is every issue imported with ``updated >= since``,
with the ``updated`` it had; the next run skips an issue whose key and ``updated`` are in it.
So:

* an issue updated in the same millisecond as the last one imported is still found (the
  query uses ``>=``), and the ones already imported are skipped: a run resumes exactly;
* an issue that reaches Jira Cloud's search index late (the search is eventually
  consistent, "a few seconds to minutes" per Atlassian), behind one already imported, is
  still found by the next run, as long as it is inside the overlap;
* an issue edited again has a newer ``updated``, comes again, and the core updates its report.

Paging:

* Cloud: ``GET /rest/api/3/search/jql``, paged by ``nextPageToken`` until ``isLast``. The
  fields are always asked for (this endpoint returns only ids otherwise). The old
  ``/rest/api/3/search`` answers 410 Gone; a 410 is reported as such.
* Data Center: ``GET /rest/api/2/search`` with ``startAt``/``maxResults``/``total``. After
  a page that moved the watermark, the next page is asked for from the new watermark at
  ``startAt=0``; ``startAt`` grows only over pages that did not move it (issues already
  seen, or a bulk change within one millisecond). A plain growing ``startAt`` over one
  result list would skip an issue whenever an earlier one is edited during the run (the
  edited issue moves to the end and everything behind it shifts up by one).

Webhooks
--------
``POST /hooks/jira`` must carry either Jira's ``X-Hub-Signature: sha256=<hmac>`` (a
webhook created with a secret in Jira's admin screen) or ``X-Careloop-Webhook-Secret:
<secret>`` (for senders that can only add a header, such as an Automation rule's "Send web
request"), checked in constant time against ``CARELOOP_JIRA_WEBHOOK_SECRET``. The invocation
id is ``X-Atlassian-Webhook-Identifier`` (unchanged across Jira's retries) or else a hash
of the body. The issue named in the body is fetched again from the API, so a webhook
imports exactly what polling would; ``jira:issue_deleted`` removes the report.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from app.plugin_api import (
    Setting,
    SourceError,
    Ticket,
    TicketPage,
    TicketSource,
    WebhookRejected,
    WebhookResult,
)
from plugins.jira import client as jira_client
from plugins.jira.adf import adf_to_text
from plugins.jira.client import ISSUE_KEY, IssueNotFound, JiraClient, JiraSettings

log = logging.getLogger(__name__)

NAME = "jira"
# Every field the mapping reads. Jira Cloud's search returns only ids unless asked.
FIELDS = ("summary", "description", "reporter", "created", "updated", "status")
PAGE_SIZE = 100  # Jira's largest page when fields are asked for
OVERLAP_MS = 10 * 60 * 1000  # each run looks this far behind its watermark (late indexing)...
OVERLAP_MAX_ISSUES = 300  # ...but never over more issues than this (after a bulk change)
SECRET_HEADER = "X-Careloop-Webhook-Secret"
SIGNATURE_HEADER = "X-Hub-Signature"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
WEBHOOK_MAX_AGE = timedelta(days=3)  # older signed bodies are refused (replays)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SIGNATURE_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}

SETTINGS = (
    Setting(jira_client.URL, "Address of your Jira site, e.g. https://your-team.atlassian.net "
            "(Cloud) or https://jira.example.org (Data Center).", required=True),
    Setting(jira_client.JQL, "JQL choosing the issues that are reports, e.g. "
            "project = SUP AND type = Bug (no ORDER BY needed).", required=True),
    Setting(jira_client.DEPLOYMENT, "cloud (default) or datacenter.", default="cloud"),
    Setting(jira_client.EMAIL, "Cloud: the email address of the account that reads issues."),
    Setting(jira_client.TOKEN, "Cloud: that account's API token (id.atlassian.com > Security > "
            "API tokens).", secret=True),
    Setting(jira_client.PAT, "Data Center: a personal access token (instead of email and token).",
            secret=True),
    Setting(jira_client.WEBHOOK_SECRET, "Shared secret of the Jira webhook (POST /hooks/jira); "
            "webhooks are refused while it is unset.", secret=True),
    Setting(jira_client.PROJECT, "Project key for issues Careloop creates to carry a problem's fix, e.g. OPS."),
    Setting(jira_client.ISSUE_TYPE, "Issue type used when Careloop creates an issue for a fix.",
            default="Task"),
    Setting(jira_client.DONE_WHEN, "When linked work counts as done and the owner is asked to record the "
            "change: released (its fix version is released; default) or done (a done status).",
            default="released"),
)


def invalid_settings(settings: Mapping[str, str]) -> list[str]:
    """Mistyped values, for start-up (empty when every value is one Careloop understands)."""
    wrong = []
    raw = (settings.get(jira_client.DEPLOYMENT) or "").strip().lower()
    if raw and raw not in jira_client._DEPLOYMENT_ALIASES:
        wrong.append(f"{jira_client.DEPLOYMENT} must be 'cloud' or 'datacenter', not {raw!r}.")
    try:
        jira_client.done_rule(settings)
    except SourceError as error:
        wrong.append(str(error))
    return wrong


class JiraSource:
    """The source's behaviour, with its waiting and clock injectable for tests."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        random: Callable[[], float] | None = None,
        page_size: int = PAGE_SIZE,
        overlap_ms: int = OVERLAP_MS,
        overlap_max_issues: int = OVERLAP_MAX_ISSUES,
        client_options: Mapping[str, Any] | None = None,
    ):
        self.sleep = sleep
        self.clock = clock
        self.random = random
        self.page_size = page_size
        self.overlap_ms = overlap_ms
        self.overlap_max_issues = overlap_max_issues
        self.client_options = dict(client_options or {})

    def ticket_source(self) -> TicketSource:
        return TicketSource(name=NAME, title="Jira", settings=SETTINGS, fetch=self.fetch,
                            handle_webhook=self.handle_webhook, create_work_item=self.create_work_item,
                            link_back=jira_client.add_remote_link, work_status=jira_client.status_category,
                            item_url=lambda settings, key: JiraSettings.from_mapping(settings).browse_url(key),
                            validate=invalid_settings, test_connection=self.test_connection)

    def test_connection(self, settings: Mapping[str, str]) -> str:
        """Who Careloop signs in as (``GET /myself``), for the Sources page."""
        config = JiraSettings.from_mapping(settings)
        with self.client(config, max_retries=1, max_wait=5.0) as jira:
            me = _expect_object(jira.get_json(f"{config.api}/myself"), "myself")
        name = me.get("displayName") or me.get("name") or me.get("emailAddress") or "an unnamed account"
        return f"Signed in to Jira ({config.deployment}) as {name}."

    @staticmethod
    def create_work_item(settings: Mapping[str, str], summary: str, description: str) -> tuple[str, str]:
        """A new issue for a problem's fix, in CARELOOP_JIRA_PROJECT."""
        project = settings.get(jira_client.PROJECT)
        if not project:
            raise SourceError(f"Set {jira_client.PROJECT} to the project key new issues go to.")
        return jira_client.create_issue(settings, project, summary, description)

    def client(self, config: JiraSettings, **overrides: Any) -> JiraClient:
        options = {**self.client_options, **overrides}
        return JiraClient(config, sleep=self.sleep, clock=self.clock, random=self.random, **options)

    # -- polling -------------------------------------------------------------------------

    def fetch(self, settings: Mapping[str, str], cursor: str | None) -> Iterator[TicketPage]:
        """Pages of tickets from ``cursor`` (None: from the beginning) to the newest issue."""
        config = JiraSettings.from_mapping(settings)
        if not config.jql:
            raise SourceError(f"{jira_client.JQL} is not set: say which issues are reports, "
                              "e.g. project = SUP AND type = Bug.")
        mark = Watermark.decode(cursor, self.overlap_ms, self.overlap_max_issues)
        with self.client(config) as jira:
            pages = self._cloud_pages if config.cloud else self._datacenter_pages
            yield from pages(jira, config, mark, cursor)

    def _cloud_pages(self, jira: JiraClient, config: JiraSettings, mark: Watermark,
                     cursor: str | None) -> Iterator[TicketPage]:
        jql = build_jql(config.jql, mark.since)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": ",".join(FIELDS), "maxResults": self.page_size}
            if token:
                params["nextPageToken"] = token
            data = _expect_object(jira.get_json(f"{config.api}/search/jql", params=params), "search/jql")
            issues = _issues(data)
            tickets = [issue_to_ticket(issue, config) for issue in issues if mark.take(issue)]
            next_token = data.get("nextPageToken")
            last = data.get("isLast") is True or not next_token or not issues
            yield TicketPage(tickets=tickets, cursor=mark.encode(default=cursor), done=last)
            if last:
                return
            if next_token == token:
                raise SourceError("Jira returned the same nextPageToken twice; stopping to avoid a loop.")
            token = next_token

    def _datacenter_pages(self, jira: JiraClient, config: JiraSettings, mark: Watermark,
                          cursor: str | None) -> Iterator[TicketPage]:
        since = mark.since  # the first page looks behind the watermark, the next ones from it
        start = 0  # issues to step over on pages that did not move the watermark
        while True:
            before = mark.updated
            params = {"jql": build_jql(config.jql, since), "startAt": start,
                      "maxResults": self.page_size, "fields": ",".join(FIELDS)}
            data = _expect_object(jira.get_json(f"{config.api}/search", params=params), "search")
            issues = _issues(data)
            tickets = [issue_to_ticket(issue, config) for issue in issues if mark.take(issue)]
            total = data.get("total")
            served_from = data.get("startAt") if isinstance(data.get("startAt"), int) else start
            last = not issues or not isinstance(total, int) or served_from + len(issues) >= total
            yield TicketPage(tickets=tickets, cursor=mark.encode(default=cursor), done=last)
            if last:
                return
            # A page that moved the watermark: ask again from it. A page that did not (all seen
            # already, or a bulk change within one millisecond): step over it.
            if mark.updated != before:
                since, start = mark.updated, 0
            else:
                start = served_from + len(issues)

    # -- webhooks ------------------------------------------------------------------------

    def handle_webhook(self, settings: Mapping[str, str], headers: Mapping[str, str],
                       body: bytes) -> WebhookResult:
        """Verify a webhook call and return the issue it names, fetched fresh from Jira."""
        secret = settings.get(jira_client.WEBHOOK_SECRET)
        if not secret:
            raise WebhookRejected(f"Jira webhooks are not enabled: set {jira_client.WEBHOOK_SECRET}.")
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        verify_webhook(secret, lower, body)

        payload = json.loads(body.decode("utf-8"))  # ValueError: the core answers 400
        if not isinstance(payload, dict):
            raise ValueError("a Jira webhook body is a JSON object")
        self._check_age(payload)
        identifier = lower.get(IDENTIFIER_HEADER.lower(), "").strip()
        if identifier and len(identifier) <= 150:
            invocation_id = f"jira:{identifier}"
        else:
            invocation_id = "sha256:" + hashlib.sha256(body).hexdigest()

        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
        if not isinstance(key, str) or not ISSUE_KEY.match(key):
            return WebhookResult(invocation_id=invocation_id)  # not about an issue: nothing to store
        if payload.get("webhookEvent") == "jira:issue_deleted":
            return WebhookResult(invocation_id=invocation_id,
                                 tickets=[Ticket(external_id=key, text="", status="deleted")])

        config = JiraSettings.from_mapping(settings)
        if not config.jql:
            raise SourceError(f"{jira_client.JQL} is not set.")
        # Jira waits for the answer: wait little, and let Jira retry if Jira itself is busy.
        with self.client(config, max_retries=2, max_wait=10.0, timeout=(5.0, 10.0)) as jira:
            try:
                issue = jira.get_json(config.issue_path(key), params={"fields": ",".join(FIELDS)})
            except IssueNotFound:
                # Gone or hidden since: the deletion webhook (or the next poll) says which.
                return WebhookResult(invocation_id=invocation_id)
            ticket = issue_to_ticket(issue, config)
            if not matches_jql(jira, config, key, issue.get("id")):
                return WebhookResult(invocation_id=invocation_id)  # not a report: polling would skip it too
        return WebhookResult(invocation_id=invocation_id, tickets=[ticket])

    def _check_age(self, payload: dict) -> None:
        stamp = payload.get("timestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            return
        now = (self.clock or _now)()
        if now - stamp / 1000 > WEBHOOK_MAX_AGE.total_seconds():
            raise WebhookRejected("This Jira webhook call is too old to be accepted.")


def _now() -> float:
    return datetime.now(UTC).timestamp()


def matches_jql(jira: JiraClient, config: JiraSettings, key: str, issue_id: Any) -> bool:
    """Whether issue ``key`` is one of the reports (matches ``CARELOOP_JIRA_JQL``) right now.

    On Cloud the search is eventually consistent, so the issue's id is passed as
    ``reconcileIssues``: Jira then answers with the issue as it is now, not as indexed.
    """
    if not ISSUE_KEY.match(key):
        return False
    base = strip_order_by(config.jql).strip()
    params: dict[str, Any] = {"jql": f"({base}) AND key = {key}", "fields": "id", "maxResults": 1}
    if config.cloud:
        if isinstance(issue_id, str | int) and str(issue_id).isdigit():
            params["reconcileIssues"] = str(issue_id)
        data = jira.get_json(f"{config.api}/search/jql", params=params)
    else:
        data = jira.get_json(f"{config.api}/search", params=params)
    issues = _issues(_expect_object(data, "search"))
    return any(isinstance(i, dict) and (i.get("key") == key or (issue_id and str(i.get("id")) == str(issue_id)))
               for i in issues)


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise WebhookRejected unless the call carries the shared secret or its HMAC.

    ``headers`` has lower-case names. ``X-Hub-Signature: sha256=<hex>`` is an HMAC of the
    raw body keyed with the secret (Jira Cloud and Data Center webhooks with a secret);
    ``X-Careloop-Webhook-Secret`` carries the secret itself. Both compared in constant time.
    """
    signature = headers.get(SIGNATURE_HEADER.lower())
    if signature:
        method, _, digest = signature.strip().partition("=")
        algorithm = _SIGNATURE_ALGORITHMS.get(method.strip().lower())
        if algorithm is None or not digest:
            raise WebhookRejected("The Jira webhook signature is not in the form sha256=<hex>.")
        expected = hmac.new(secret.encode("utf-8"), body, algorithm).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest.strip().lower().encode()):
            raise WebhookRejected("The Jira webhook signature does not match the shared secret.")
        return
    given = headers.get(SECRET_HEADER.lower())
    if given is not None:
        if not hmac.compare_digest(secret.encode("utf-8"), given.strip().encode("utf-8")):
            raise WebhookRejected("The Jira webhook secret is wrong.")
        return
    raise WebhookRejected(f"A Jira webhook call must carry {SIGNATURE_HEADER} or {SECRET_HEADER}.")


# --- the cursor ------------------------------------------------------------------------


class Watermark:
    """The newest ``updated`` imported (epoch ms), where the next query starts, and the
    issues imported since then (key: ``updated``)."""

    def __init__(self, updated: int | None = None, seen: dict[str, int] | None = None,
                 since: int | None = None, overlap_ms: int = OVERLAP_MS,
                 max_seen: int = OVERLAP_MAX_ISSUES, sums: dict[str, str] | None = None):
        self.updated = updated
        self.seen: dict[str, int] = dict(seen or {})
        # A digest of what was imported for the issues at the watermark's exact time: an edit
        # that keeps that time (Jira keeping no milliseconds, or two writes in one) differs
        # in its digest and is taken, where the time alone would say "seen".
        self.sums: dict[str, str] = dict(sums or {})
        self.overlap_ms = overlap_ms
        self.max_seen = max_seen
        self._since = since

    @property
    def since(self) -> int | None:
        """Where the next query starts (``updated >= since``)."""
        if self.updated is None:
            return None
        if self._since is not None:
            return min(self._since, self.updated)
        return max(0, self.updated - self.overlap_ms)

    @classmethod
    def decode(cls, cursor: str | None, overlap_ms: int = OVERLAP_MS,
               max_seen: int = OVERLAP_MAX_ISSUES) -> Watermark:
        if not cursor:
            return cls(overlap_ms=overlap_ms, max_seen=max_seen)
        text = cursor.strip()
        if text.isdigit():  # a bare epoch-ms watermark, e.g. set by hand to re-import from a date
            return cls(int(text), overlap_ms=overlap_ms, max_seen=max_seen)
        try:
            data = json.loads(text)
            updated, seen, since = data["updated"], data.get("seen", {}), data.get("since")
            sums = data.get("sums", {})
            if not isinstance(updated, int) or not isinstance(seen, dict) or not all(
                    isinstance(k, str) and isinstance(v, int) for k, v in seen.items()) or not (
                    since is None or isinstance(since, int)) or not isinstance(sums, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            # Starting again is safe: the core stores tickets idempotently by issue key.
            log.warning("Unreadable Jira cursor %r; importing from the beginning.", cursor[:200])
            return cls(overlap_ms=overlap_ms, max_seen=max_seen)
        return cls(updated, seen, since, overlap_ms, max_seen, {str(k): str(v) for k, v in sums.items()})

    def encode(self, default: str | None = None) -> str | None:
        """The cursor: the next run starts ``overlap_ms`` behind the watermark, or later if
        that would mean re-reading more than ``max_seen`` issues."""
        if self.updated is None:
            return default
        floor = self.updated - self.overlap_ms
        recent = sorted((v for v in self.seen.values() if v >= floor), reverse=True)
        if len(recent) > self.max_seen:
            floor = recent[self.max_seen - 1]  # keeps every issue of that millisecond: exact
        self.seen = {k: v for k, v in self.seen.items() if v >= floor}
        self._since = max(0, floor)
        self.sums = {k: v for k, v in self.sums.items() if self.seen.get(k) == self.updated}
        data = {"v": 1, "updated": self.updated, "since": self._since, "seen": dict(sorted(self.seen.items()))}
        if self.sums:
            data["sums"] = dict(sorted(self.sums.items()))
        return json.dumps(data, separators=(",", ":"))

    def take(self, issue: Mapping[str, Any]) -> bool:
        """Whether this version of ``issue`` is new; records it and moves the watermark."""
        key, updated = _key_and_updated(issue)
        digest = _digest(issue)
        if self.seen.get(key) == updated and (key not in self.sums or self.sums[key] == digest):
            return False
        self.seen[key] = updated
        self.sums[key] = digest
        if self.updated is None or updated > self.updated:
            self.updated = updated
        return True


def _digest(issue: Mapping[str, Any]) -> str:
    """A short digest of the fields the import reads (what a report would change by)."""
    fields = issue.get("fields") or {}
    picked = {name: fields.get(name) for name in FIELDS if name != "updated"}
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_jql(jql: str, since: int | None) -> str:
    """``(<jql>) AND updated >= <since> ORDER BY updated ASC, key ASC``."""
    base = strip_order_by(jql).strip()
    clause = f"({base})" if base else ""
    if since is not None:
        clause = f"{clause} AND updated >= {int(since)}" if clause else f"updated >= {int(since)}"
    return f"{clause} ORDER BY updated ASC, key ASC".strip()


_JQL_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|\border\s+by\b', re.IGNORECASE)


def strip_order_by(jql: str) -> str:
    """The JQL without its ORDER BY clause (the importer needs its own order)."""
    for match in _JQL_TOKENS.finditer(jql or ""):
        if match.group(0)[0] not in "\"'":
            return jql[: match.start()]
    return jql or ""


# --- mapping ---------------------------------------------------------------------------


def issue_to_ticket(issue: Any, config: JiraSettings) -> Ticket:
    """A Jira issue (search result or GET issue) as a Careloop ticket."""
    key, _ = _key_and_updated(issue)
    fields = issue["fields"]
    description = fields.get("description")
    text = adf_to_text(description) if isinstance(description, dict | list) else (description or "").strip()
    reporter = fields.get("reporter") if isinstance(fields.get("reporter"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    summary = fields.get("summary")
    return Ticket(
        external_id=key,
        title=summary.strip() if isinstance(summary, str) and summary.strip() else None,
        text=text,
        requester_name=reporter.get("displayName") or None,
        requester_email=reporter.get("emailAddress") or None,  # hidden by some Cloud privacy settings
        created_at=_naive_utc(parse_jira_time(fields.get("created"))),
        updated_at=_naive_utc(parse_jira_time(fields.get("updated"))),
        status="closed" if category.get("key") == "done" else "open",
        url=config.browse_url(key),
    )


def _key_and_updated(issue: Any) -> tuple[str, int]:
    fields = issue.get("fields") if isinstance(issue, dict) else None
    key = issue.get("key") if isinstance(issue, dict) else None
    if not isinstance(key, str) or not key or not isinstance(fields, dict) or "updated" not in fields:
        raise SourceError(
            "Jira returned an issue without its key or the fields asked for "
            f"({', '.join(FIELDS)}); got {_describe(issue)}."
        )
    when = parse_jira_time(fields["updated"])
    if when is None:
        raise SourceError(f"Jira returned issue {key} with an unreadable 'updated' time: {fields['updated']!r}.")
    return key, epoch_ms(when)


_JIRA_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_jira_time(value: Any) -> datetime | None:
    """Jira's ``2024-03-05T14:05:20.974+0100`` (or epoch ms) as an aware datetime."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _EPOCH + timedelta(milliseconds=int(value))
    if not isinstance(value, str):
        return None
    match = _JIRA_TIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micros,
                        tzinfo=UTC) - offset
    except ValueError:
        return None


def epoch_ms(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _naive_utc(when: datetime | None) -> datetime | None:
    return when.astimezone(UTC).replace(tzinfo=None) if when else None


def _issues(data: Mapping[str, Any]) -> list[Any]:
    issues = data.get("issues", [])
    if not isinstance(issues, list):
        raise SourceError("Jira's search answer has no list of issues.")
    return issues


def _expect_object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise SourceError(f"Jira's answer to {what} is not a JSON object.")
    return data


def _describe(issue: Any) -> str:
    if not isinstance(issue, dict):
        return type(issue).__name__
    fields = issue.get("fields")
    names = sorted(fields)[:8] if isinstance(fields, dict) else []
    return f"keys {sorted(issue)[:8]}" + (f", fields {names}" if names else ", no fields")
