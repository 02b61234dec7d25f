"""Outgoing webhooks: endpoints admins register, deliveries written with the events that
cause them, and the sender that delivers them (``careloop send-webhooks``).

* **Where deliveries come from.** The event fan-out (``app/events.py``) calls
  ``event_recorded`` for every event of a committing transaction. When the verb maps to a
  webhook event (``VERB_EVENTS``) and an active endpoint wants it, the event is remembered;
  then (``write_deliveries``) one delivery row per endpoint is written with its body, so the
  delivery lands with the event or not at all. One indexed query per transaction decides
  "is any endpoint active?"; nothing is cached across transactions.
* **What a payload says.** The problem's id, title, status, owner's name, how many people
  are affected, and links into Careloop, as they stand when the transaction commits, plus
  what the event changed. Never a reporter's name, email address or words.
* **Sending** follows the mail outbox (``app/messaging/mail.py``): claim due rows
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional UPDATE on SQLite), commit the
  claim, send, record the outcome; a claim older than the lease is released; failures are
  retried after 1, 2, 4 … minutes (±20 % jitter, at most 6 hours) until
  ``CARELOOP_WEBHOOK_MAX_ATTEMPTS``, then the delivery is ``failed``. Every request goes
  through ``app/security/netguard.py`` (public addresses only unless allowed, pinned address, no
  redirects, timeouts).
* **Signing**: ``Careloop-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``
  with ``Careloop-Webhook-Timestamp`` (unix seconds) and ``Careloop-Webhook-Id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.i18n import default_language
from app.messaging.mail import backoff
from app.models import (
    DECLINED,
    HANDED_OVER,
    MERGED,
    PROBLEM_CREATED,
    PUBLISHED,
    REPORT_FILED,
    STATUS_CHANGED,
    TOOK_OWNERSHIP,
    Event,
    Problem,
    Report,
    Status,
    User,
    utcnow,
)
from app.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookFormat
from app.outbox import claims
from app.outbox.claims import LEASE
from app.security import netguard
from app.services.errors import PermissionDenied, ServiceError
from app.urls import external_url

log = logging.getLogger(__name__)

# Webhook event names: stable, part of the receivers' contract.
EVENTS = {
    "report.filed": _l("A report is filed (a new problem, or another person affected)"),
    "problem.owned": _l("A problem gets an owner, or is handed over"),
    "problem.status_changed": _l("A problem's status changes"),
    "change.published": _l("A change is published on “We changed this”"),
    "problem.declined": _l("A problem is declined"),
    "problem.merged": _l("A problem is merged into another"),
}
TEST_EVENT = "webhook.test"

VERB_EVENTS = {
    REPORT_FILED: "report.filed",
    TOOK_OWNERSHIP: "problem.owned",
    HANDED_OVER: "problem.owned",
    STATUS_CHANGED: "problem.status_changed",
    PUBLISHED: "change.published",
    DECLINED: "problem.declined",
    MERGED: "problem.merged",
}

FORMATS = {
    WebhookFormat.CARELOOP: _l("Careloop JSON (signed)"),
    WebhookFormat.SLACK: _l("Slack-compatible message (incoming webhook)"),
}

# Audit verbs for the endpoints themselves (events without a problem).
WEBHOOK_CREATED = "webhook_created"
WEBHOOK_UPDATED = "webhook_updated"
WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated"
WEBHOOK_DELETED = "webhook_deleted"
WEBHOOK_REDELIVERED = "webhook_redelivered"

SIGNATURE_VERSION = "v1"
_PENDING = "careloop.webhooks.pending"
_ACTIVE = "careloop.webhooks.active"


# --- Signing -------------------------------------------------------------------------------

def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """The ``Careloop-Signature`` value: ``v1=`` and the hex HMAC-SHA256 of "timestamp.body"."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- Endpoints (admin-only services) -------------------------------------------------------

def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only admins can manage webhooks."))


def _clean(name: str, url: str, events: list[str], fmt: str, allow_private: bool) -> tuple[str, str, list[str]]:
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError(_("Give the endpoint a name, for example “Team channel”."), field="name")
    if len(name) > 120:
        raise ServiceError(_("Keep the name under 120 characters."), field="name")
    url = (url or "").strip()
    if len(url) > 2000:
        raise ServiceError(_("That address is too long."), field="url")
    try:
        netguard.check_url(url, allow_private=allow_private)
    except netguard.UnsafeURL as error:
        raise ServiceError(str(error), field="url") from error
    chosen = [e for e in EVENTS if e in set(events or [])]
    if not chosen or len(chosen) != len(set(events)):
        raise ServiceError(_("Choose at least one event."), field="events")
    if fmt not in set(WebhookFormat):
        raise ServiceError(_("Choose a format."), field="format")
    return name, url, chosen


def create_endpoint(*, name: str, url: str, events: list[str], fmt: str = WebhookFormat.CARELOOP,
                    allow_private: bool = False, actor: User | None = None) -> WebhookEndpoint:
    """Register an endpoint; its secret is generated here (shown to the admin once)."""
    from app.events import record_event

    _require_admin(actor)
    name, url, chosen = _clean(name, url, events, fmt, allow_private)
    endpoint = WebhookEndpoint(name=name, url=url, secret=new_secret(), events=chosen, format=str(fmt),
                               active=True, allow_private=bool(allow_private),
                               created_by_id=actor.id if actor is not None else None)
    db.session.add(endpoint)
    db.session.flush()
    record_event(WEBHOOK_CREATED, actor, endpoint_id=endpoint.id, name=name, url=_url_for_audit(url), events=chosen,
           format=str(fmt), allow_private=bool(allow_private))
    return endpoint


def update_endpoint(endpoint: WebhookEndpoint, *, name: str, url: str, events: list[str], fmt: str,
                    allow_private: bool, actor: User | None = None) -> None:
    from app.events import record_event

    _require_admin(actor)
    name, url, chosen = _clean(name, url, events, fmt, allow_private)
    before = _settings(endpoint)
    endpoint.name, endpoint.url, endpoint.events = name, url, chosen
    endpoint.format, endpoint.allow_private = str(fmt), bool(allow_private)
    after = _settings(endpoint)
    if before != after:
        record_event(WEBHOOK_UPDATED, actor, endpoint_id=endpoint.id, before=before, after=after)
    db.session.flush()


def set_active(endpoint: WebhookEndpoint, active: bool, actor: User | None = None) -> None:
    """Pause or resume. A paused endpoint collects no new events; deliveries already waiting are
    held until it resumes."""
    from app.events import record_event

    _require_admin(actor)
    if endpoint.active != active:
        endpoint.active = active
        record_event(WEBHOOK_UPDATED, actor, endpoint_id=endpoint.id, before={"active": not active},
               after={"active": active})
    db.session.flush()


def rotate_secret(endpoint: WebhookEndpoint, actor: User | None = None) -> str:
    """A new secret, effective for every delivery sent from now on (also ones already waiting)."""
    from app.events import record_event

    _require_admin(actor)
    endpoint.secret = new_secret()
    endpoint.secret_rotated_at = utcnow()
    record_event(WEBHOOK_SECRET_ROTATED, actor, endpoint_id=endpoint.id)
    db.session.flush()
    return endpoint.secret


def delete_endpoint(endpoint: WebhookEndpoint, actor: User | None = None) -> None:
    """Delete the endpoint and its deliveries (waiting ones are dropped)."""
    from app.events import record_event

    _require_admin(actor)
    record_event(WEBHOOK_DELETED, actor, endpoint_id=endpoint.id, before=_settings(endpoint))
    db.session.execute(db.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def send_test_event(endpoint: WebhookEndpoint, actor: User | None = None) -> WebhookDelivery:
    """Queue a ``webhook.test`` delivery (also to a paused endpoint's queue)."""
    _require_admin(actor)
    delivery = WebhookDelivery(endpoint=endpoint, event_name=TEST_EVENT, webhook_id=str(uuid.uuid4()),
                               status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
    delivery.body = _body(endpoint, TEST_EVENT, delivery.webhook_id, None, None)
    db.session.add(delivery)
    db.session.flush()
    return delivery


def redeliver(delivery: WebhookDelivery, actor: User | None = None) -> WebhookDelivery:
    """Send a delivery again as a new row: same body and ``Careloop-Webhook-Id``, fresh attempts."""
    from app.events import record_event

    _require_admin(actor)
    if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
        raise ServiceError(_("This delivery is still waiting to be sent."))
    again = WebhookDelivery(endpoint_id=delivery.endpoint_id, event_id=delivery.event_id,
                            event_name=delivery.event_name, webhook_id=delivery.webhook_id, body=delivery.body,
                            status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
    db.session.add(again)
    db.session.flush()
    record_event(WEBHOOK_REDELIVERED, actor, endpoint_id=delivery.endpoint_id, delivery_id=delivery.id,
           new_delivery_id=again.id, webhook_id=delivery.webhook_id)
    return again


def _settings(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"name": endpoint.name, "url": _url_for_audit(endpoint.url), "events": list(endpoint.events),
            "format": endpoint.format, "allow_private": endpoint.allow_private, "active": endpoint.active}


def _url_for_audit(url: str) -> str:
    """Slack-style URLs carry their secret in the path: the audit log keeps only the start."""

    parts = urlsplit(url)
    path = parts.path if len(parts.path) <= 12 else parts.path[:12] + "…"
    return f"{parts.scheme}://{parts.netloc}{path}"


# --- From audit events to deliveries -------------------------------------------------------

def event_name_for(event: Event) -> str | None:
    """The webhook event an audit event causes, or None."""
    name = VERB_EVENTS.get(event.verb)
    details = event.details or {}
    if name == "change.published" and (details.get("before") or {}).get("published_at") is not None:
        return None  # an edit of a change already public, not a new publication
    # A merge writes MERGED on both problems; announce it once, from the merged-away one.
    merged_away = event.problem is not None and (details.get("before") or {}).get("problem_id") == event.problem.id
    if name == "problem.merged" and not merged_away:
        return None
    return name


def event_recorded(event: Event) -> None:
    """Called by the fan-out (app/events.py) for every committing event: remember it when
    an endpoint wants it."""
    if event.verb not in VERB_EVENTS:
        return
    name = event_name_for(event)
    if name is None:
        return
    endpoints = _active_endpoints()
    wanted = [endpoint_id for endpoint_id, events in endpoints if name in events]
    if wanted:
        db.session.info.setdefault(_PENDING, []).append((event, name, wanted))


def _active_endpoints() -> list[tuple[int, list[str]]]:
    """(id, events) of active endpoints: one query per transaction."""
    info = db.session.info
    if _ACTIVE not in info:
        with db.session.no_autoflush:
            info[_ACTIVE] = [
                (row.id, list(row.events or []))
                for row in db.session.execute(
                    db.select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True))
                )
            ]
    return info[_ACTIVE]


def write_deliveries(session: Session) -> None:
    """Called by the fan-out (app/events.py) before the commit: a row per delivery."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # events, problems and reports get their ids
    endpoints = {}
    for event, name, endpoint_ids in pending:
        if not inspect(event).persistent:
            continue  # rolled back with a savepoint
        for endpoint_id in endpoint_ids:
            endpoint = endpoints.get(endpoint_id) or session.get(WebhookEndpoint, endpoint_id)
            if endpoint is None:
                continue
            endpoints[endpoint_id] = endpoint
            webhook_id = str(uuid.uuid4())
            try:
                body = _body(endpoint, name, webhook_id, event, event.problem)
            except Exception:  # a payload bug must never lose the person's report or change
                log.exception("Could not build the %s payload for event %s", name, event.id)
                body = json.dumps({"id": webhook_id, "event": name, "problem": {"id": event.problem_id}})
            session.add(WebhookDelivery(endpoint_id=endpoint_id, event_id=event.id, event_name=name,
                                        webhook_id=webhook_id, body=body, status=DeliveryStatus.PENDING,
                                        next_attempt_at=utcnow()))
    session.flush()


def forget_transaction(session: Session) -> None:
    """Called by the fan-out when a transaction ends (commit, rollback, close)."""
    session.info.pop(_ACTIVE, None)
    session.info.pop(_PENDING, None)


# --- Payloads ------------------------------------------------------------------------------

def leader_title(problem: Problem) -> str | None:
    """The problem's title once a leader has written one; None while it is still the working
    title Careloop made from the first report's words (those are the reporter's words)."""
    created = db.session.scalar(
        db.select(Event.details).where(Event.problem_id == problem.id, Event.verb == PROBLEM_CREATED)
        .order_by(Event.id).limit(1))
    if created and created.get("title") == problem.title:
        return None
    return problem.title


def problem_payload(problem: Problem) -> dict[str, Any]:
    """What a receiver learns about a problem: no reporter's name, address or words."""
    reports = db.session.scalar(db.select(db.func.count(Report.id)).where(Report.problem_id == problem.id)) or 0
    return {
        "id": problem.id,
        "title": leader_title(problem),
        "public_title": problem.public_title,
        "area": problem.area,
        "status": problem.status,
        "status_label": Status(problem.status).label,
        "owner": problem.owner.name if problem.owner else None,
        "people_affected": problem.people_affected,
        "reports": reports,
        "url": external_url("leaders.problem", problem_id=problem.id),
        "public_url": external_url("public.change", problem_id=problem.id) if problem.published_at else None,
    }


def _event_details(name: str, event: Event | None, problem: Problem | None) -> dict[str, Any]:
    details = (event.details or {}) if event is not None else {}
    if name == "report.filed" and event is not None and event.report is not None:
        return {"report": {"id": event.report.id, "channel": event.report.channel, "source": event.report.source,
                           "new_problem": _reports_before(event) == 0}}
    if name == "problem.owned":
        after = details.get("after") or {}
        return {"owner": after.get("owner") or details.get("owner"),
                "handover": event is not None and event.verb == HANDED_OVER}
    if name == "problem.status_changed":
        return {"from": (details.get("before") or {}).get("status"), "to": (details.get("after") or {}).get("status")}
    if name == "change.published" and problem is not None:
        return {"change": {"public_title": problem.public_title, "public_summary": problem.public_summary,
                           "since": problem.change_since.isoformat() if problem.change_since else None,
                           "published_at": _iso(problem.published_at),
                           "public_url": external_url("public.change", problem_id=problem.id)}}
    if name == "problem.declined":
        return {"reason": details.get("reason")}
    if name == "problem.merged":
        target = db.session.get(Problem, (details.get("after") or {}).get("problem_id"))
        return {"merged_into": problem_payload(target) if target is not None else None}
    return {}


def _reports_before(event: Event) -> int:
    return db.session.scalar(
        db.select(db.func.count(Report.id)).where(Report.problem_id == event.report.problem_id,
                                                  Report.id < event.report.id)
    ) or 0


def _iso(when) -> str | None:
    return when.replace(microsecond=0).isoformat() + "Z" if when else None


def careloop_payload(name: str, webhook_id: str, event: Event | None, problem: Problem | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": webhook_id,
        "event": name,
        "occurred_at": _iso(event.created_at if event is not None else utcnow()),
        "organisation": current_app.config["CARELOOP_ORG_NAME"],
    }
    if problem is not None:
        payload["problem"] = problem_payload(problem)
    payload.update(_event_details(name, event, problem))
    if name == TEST_EVENT:
        payload["message"] = "A test event from Careloop: this endpoint is set up."
    return payload


def _slack_escape(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` (the notification) and ``blocks``."""
    problem = payload.get("problem") or {}
    title = _slack_escape(problem.get("public_title") or problem.get("title"))
    ref = f"#{problem.get('id')} “{title}”" if title else f"#{problem.get('id')}"
    people = problem.get("people_affected", 0)
    name = payload["event"]
    if name == "report.filed":
        if (payload.get("report") or {}).get("new_problem"):
            text = _("New problem %(ref)s.", ref=ref)
        else:
            text = _("Another report on problem %(ref)s: %(count)s people affected.", ref=ref, count=people)
    elif name == "problem.owned":
        owner = _slack_escape(payload.get("owner"))
        text = (_("Problem %(ref)s was handed over to %(owner)s.", ref=ref, owner=owner) if payload.get("handover")
                else _("%(owner)s owns problem %(ref)s.", ref=ref, owner=owner))
    elif name == "problem.status_changed":
        to = payload.get("to")
        label = Status(to).label if to in set(Status) else to
        text = _("Problem %(ref)s is now: %(status)s.", ref=ref, status=_slack_escape(label))
    elif name == "change.published":
        change = payload.get("change") or {}
        text = _("We changed this: %(title)s. %(summary)s", title=_slack_escape(change.get("public_title")),
                 summary=_slack_escape(change.get("public_summary")))
    elif name == "problem.declined":
        text = _("Problem %(ref)s was declined: %(reason)s", ref=ref, reason=_slack_escape(payload.get("reason")))
    elif name == "problem.merged":
        into = payload.get("merged_into") or {}
        text = _("Problem %(ref)s was merged into #%(into)s.", ref=ref, into=into.get("id"))
    else:
        text = _("A test event from Careloop: this endpoint is set up.")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    links = []
    if problem.get("url"):
        links.append(f"<{problem['url']}|{_slack_escape(_('Open in Careloop'))}>")
    if problem.get("public_url"):
        links.append(f"<{problem['public_url']}|{_slack_escape(_('See the public change'))}>")
    if problem:
        links.append(_slack_escape(_("%(count)s people affected", count=people)))
        if problem.get("owner"):
            links.append(_slack_escape(_("Owner: %(name)s", name=problem["owner"])))
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": text, "blocks": blocks}


def _body(endpoint: WebhookEndpoint, name: str, webhook_id: str, event: Event | None,
          problem: Problem | None) -> str:

    payload = careloop_payload(name, webhook_id, event, problem)
    if endpoint.format == WebhookFormat.SLACK:
        with force_locale(default_language()):  # the team's language, not the person's who acted
            payload = slack_payload(payload)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# --- Sending -------------------------------------------------------------------------------

@dataclass
class SendResult:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"


def claim_due(limit: int, worker: str, ids: list[int] | None = None) -> list[WebhookDelivery]:
    """Claim up to ``limit`` due deliveries of active endpoints and commit the claim."""
    active = db.select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True)).scalar_subquery()
    where = [WebhookDelivery.endpoint_id.in_(active)]
    if ids is not None:
        where.append(WebhookDelivery.id.in_(ids))
    return claims.claim_due(WebhookDelivery, pending=DeliveryStatus.PENDING, sending=DeliveryStatus.SENDING,
                            worker=worker, limit=limit, where=where)


def _still_mine(delivery: WebhookDelivery, worker: str) -> bool:
    """Renew the lease right before sending; False when another sender took it meanwhile."""
    renewed = db.session.execute(
        db.update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.claimed_by == worker,
               WebhookDelivery.status == DeliveryStatus.SENDING)
        .values(claimed_until=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(renewed)


def headers_for(delivery: WebhookDelivery, secret: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Careloop-Webhooks/1",
        "Careloop-Webhook-Id": delivery.webhook_id,
        "Careloop-Webhook-Event": delivery.event_name,
        "Careloop-Webhook-Timestamp": str(timestamp),
        "Careloop-Signature": sign(secret, timestamp, delivery.body),
    }


def deliver_due(limit: int = 20, ids: list[int] | None = None, *, verify: bool | str = True) -> SendResult:
    """Send what is due (of ``ids``, when given), once; returns counts."""
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    result = SendResult()
    for delivery in claim_due(limit, worker, ids):
        if not _still_mine(delivery, worker):
            continue
        endpoint = delivery.endpoint
        timestamp = int(time.time())
        outcome = netguard.post(endpoint.url, delivery.body.encode("utf-8"),
                                headers_for(delivery, endpoint.secret, timestamp),
                                allow_private=endpoint.allow_private, verify=verify)
        delivery.attempts += 1
        delivery.last_attempt_at = utcnow()
        delivery.response_status = outcome.status_code
        delivery.response_excerpt = outcome.body_excerpt
        delivery.duration_ms = outcome.duration_ms
        delivery.last_error = outcome.error
        delivery.claimed_by = None
        delivery.claimed_until = None
        if outcome.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = utcnow()
            result.delivered += 1
        elif delivery.attempts >= current_app.config["CARELOOP_WEBHOOK_MAX_ATTEMPTS"]:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = f"Gave up after {delivery.attempts} tries. Last error: {outcome.error}"[:2000]
            result.failed += 1
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
            result.retrying += 1
        try:
            db.session.commit()  # each outcome is saved as soon as it is known
        except StaleDataError:  # an admin deleted the endpoint (and its deliveries) meanwhile
            db.session.rollback()
    return result


def endpoint_overview() -> list[tuple[WebhookEndpoint, WebhookDelivery | None, int]]:
    """Each endpoint with its latest finished delivery and how many deliveries wait."""
    endpoints = db.session.scalars(db.select(WebhookEndpoint).order_by(WebhookEndpoint.name)).all()
    rows = []
    for endpoint in endpoints:
        last = db.session.scalar(
            db.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                             WebhookDelivery.last_attempt_at.is_not(None))
            .order_by(WebhookDelivery.last_attempt_at.desc(), WebhookDelivery.id.desc()).limit(1))
        waiting = db.session.scalar(
            db.select(db.func.count(WebhookDelivery.id)).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))) or 0
        rows.append((endpoint, last, waiting))
    return rows


def recent_deliveries(endpoint: WebhookEndpoint, limit: int = 50) -> list[WebhookDelivery]:
    return db.session.scalars(
        db.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit)
    ).all()
