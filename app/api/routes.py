"""The API's endpoints. Thin: check the caller and the input, call a service or a query,
answer in JSON. Filing goes through the same ``file_report`` service as the forms."""

from __future__ import annotations

import re
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.api import serializers
from app.api.auth import current_token
from app.api.blueprint import bp
from app.api.errors import ApiError
from app.extensions import db
from app.models import Channel, Event, Problem, Report, Status
from app.queries import problems_with_stats
from app.security.limits import too_many_message
from app.security.ratelimit import RateLimited, client_ip
from app.services.errors import NotFound, PermissionDenied, ServiceError
from app.services.filing import DuplicateExternalId, Person, Submission, submit_report
from app.urls import external_url

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
_DIGITS = re.compile(r"^[0-9]{1,18}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


# ---- callers -------------------------------------------------------------------------

def require_token():
    token = current_token()
    if token is None:
        raise ApiError(401, _("This needs an API token: send it as 'Authorization: Bearer <token>'."),
                       headers={"WWW-Authenticate": 'Bearer realm="careloop"'})
    return token


# ---- query parameters and pagination -------------------------------------------------

def _int_arg(name: str, *, default: int | None = None, low: int = 1, high: int = MAX_ID) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.match(raw) or not low <= int(raw) <= high:
        bounds = f"{low}–{high}"
        raise ApiError(400, _("'%(name)s' must be a whole number (%(bounds)s).", name=name, bounds=bounds),
                       field=name, code="invalid_parameter")
    return int(raw)


def _choice_arg(name: str, choices) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in {str(c) for c in choices}:
        raise ApiError(400, _("'%(name)s' must be one of: %(choices)s.", name=name,
                              choices=", ".join(str(c) for c in choices)), field=name, code="invalid_parameter")
    return raw


def _text_arg(name: str, limit: int = 200) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if "\x00" in raw:
        raise ApiError(400, _("'%(name)s' contains a forbidden character (NUL).", name=name), field=name,
                       code="invalid_parameter")
    if len(raw) > limit:
        raise ApiError(400, _("'%(name)s' is too long (at most %(limit)d characters).", name=name, limit=limit),
                       field=name, code="invalid_parameter")
    return raw.strip()


def _page(query, id_column, *, descending: bool, serialize, endpoint: str, **url_args):
    """One page by keyset on ``id_column``: stable while rows are added, with a ``next``
    link carrying the cursor (the last id seen) and the same filters."""
    limit = _int_arg("limit", default=DEFAULT_LIMIT, high=MAX_LIMIT)
    cursor = _int_arg("cursor", low=0)
    if cursor is not None:
        query = query.where(id_column < cursor if descending else id_column > cursor)
    query = query.order_by(id_column.desc() if descending else id_column.asc()).limit(limit + 1)
    rows = list(db.session.execute(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [serialize(row) for row in rows]
    next_url = None
    if more:
        args = {k: v for k, v in url_args.items() if v is not None}
        next_url = url_for(endpoint, cursor=items[-1]["id"], limit=limit, **args)
    response = jsonify(data=items, next=next_url)
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


# ---- problems ------------------------------------------------------------------------

def _published():
    return problems_with_stats().where(Problem.published_at.is_not(None))


@bp.get("/problems")
def problems():
    status = _choice_arg("status", [s.value for s in Status])
    area = _text_arg("area")
    token = current_token()
    owner_id = _int_arg("owner_id")
    if token is None:
        if owner_id is not None:
            require_token()  # who owns what beyond published changes is not public
        query = _published()
        serialize = serializers.public_problem
    else:
        query = problems_with_stats()
        serialize = serializers.full_problem
    query = query.where(Problem.merged_into_id.is_(None)).options(selectinload(Problem.owner))
    if status:
        query = query.where(Problem.status == status)
    if area:
        query = query.where(func.lower(Problem.area) == area.lower())
    if owner_id is not None:
        query = query.where(Problem.owner_id == owner_id)
    return _page(query, Problem.id, descending=True, serialize=serialize, endpoint="api.problems",
                 status=status, area=area, owner_id=owner_id)


def _visible_row(problem_id: int):
    query = problems_with_stats() if current_token() else _published()
    return db.session.execute(query.where(Problem.id == problem_id)).first()


@bp.get("/problems/<int(max=2147483647):problem_id>")
def problem(problem_id: int):
    problem = db.session.get(Problem, problem_id)
    if problem is not None and problem.merged_into_id is not None:
        target, seen = problem.merged_into, {problem.id}
        while target.merged_into_id is not None and target.id not in seen:
            seen.add(target.id)
            target = target.merged_into
        if _visible_row(target.id) is not None:
            location = url_for("api.problem", problem_id=target.id)
            response = jsonify(merged_into=target.id, location=location,
                               message=_("This problem was merged into problem %(id)d.", id=target.id))
            response.status_code = 301
            response.headers["Location"] = location
            return response
    row = _visible_row(problem_id) if problem is not None else None
    if row is None:
        raise ApiError(404, _("There is no problem %(id)d you can see.", id=problem_id))
    serialize = serializers.full_problem if current_token() else serializers.public_problem
    return jsonify(serialize(row))


@bp.get("/problems/<int(max=2147483647):problem_id>/events")
def problem_events(problem_id: int):
    require_token()
    if db.session.get(Problem, problem_id) is None:
        raise ApiError(404, _("There is no problem %(id)d.", id=problem_id))
    query = select(Event).where(Event.problem_id == problem_id).options(
        selectinload(Event.actor), selectinload(Event.subject_user))
    return _page(query, Event.id, descending=False, serialize=lambda row: serializers.event(row[0]),
                 endpoint="api.problem_events", problem_id=problem_id)


# ---- reports -------------------------------------------------------------------------

@bp.get("/reports")
def reports():
    require_token()
    problem_id = _int_arg("problem_id")
    channel = _choice_arg("channel", [c.value for c in Channel])
    query = select(Report).options(selectinload(Report.reporter), selectinload(Report.filed_by))
    if problem_id is not None:
        query = query.where(Report.problem_id == problem_id)
    if channel:
        query = query.where(Report.channel == channel)
    return _page(query, Report.id, descending=True, serialize=lambda row: serializers.report(row[0]),
                 endpoint="api.reports", problem_id=problem_id, channel=channel)


@bp.get("/reports/<int(max=2147483647):report_id>")
def report(report_id: int):
    require_token()
    item = db.session.get(Report, report_id)
    if item is None:
        raise ApiError(404, _("There is no report %(id)d.", id=report_id))
    return jsonify(serializers.report(item))


# Fields a filing may carry: name -> JSON types allowed. Lengths and dates are checked by
# the same service as the forms (file_report, new_reporter), so limits stay in one place.
REPORT_FIELDS = {
    "text": (str,), "location": (str, type(None)), "occurred_on": (str, type(None)),
    "impact": (str, type(None)), "name": (str, type(None)), "email": (str, type(None)),
    "contact_ok": (bool,), "problem_id": (int, type(None)), "external_id": (str, type(None)),
    "language": (str, type(None)),
}


def _invalid(field: str, message: str):
    return ApiError(422, message, field=field)


def _report_input() -> dict:
    if not request.is_json:
        raise ApiError(415)
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, _("The body is not valid JSON."), code="invalid_json")
    if not isinstance(body, dict):
        raise _invalid("body", _("The body must be a JSON object."))
    for name, value in body.items():
        if name not in REPORT_FIELDS:
            raise _invalid(name or "body", _("Unknown field '%(name)s'.", name=name))
        allowed = REPORT_FIELDS[name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise _invalid(name, _("'%(name)s' has the wrong type.", name=name))
        if isinstance(value, str) and "\x00" in value:
            raise _invalid(name, _("'%(name)s' contains a forbidden character (NUL).", name=name))
        if isinstance(value, str) and not _storable(value):
            raise _invalid(name, _("'%(name)s' contains a character we cannot store.", name=name))
        if name == "name" and isinstance(value, str) and not re.search(r"\S", value):
            raise _invalid(name, _("'name' is blank: leave it out (or null) for an anonymous report."))
    if "text" not in body:
        raise _invalid("text", _("What isn't working is required."))
    return body


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate (JSON allows both; no database stores them)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _occurred_on(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if not _DAY.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid("occurred_on", _("Give the date as YYYY-MM-DD.")) from None


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise _invalid("email", _("That does not look like an email address.")) from None
    return value.strip()


@bp.post("/reports")
def create_report():
    """File one person's report. Anonymous: like the public form (rate limited per
    address). A read_write token: on behalf of a named person, as staff do."""
    token = current_token()
    if token is not None and not token.can_write:
        raise ApiError(403, _("This token may only read; filing needs a read_write token."),
                       code="insufficient_scope",
                       headers={"WWW-Authenticate": 'Bearer realm="careloop", error="insufficient_scope", scope="read_write"'})
    body = _report_input()
    if token is None and body.get("external_id") is not None:  # documented: 401 (a token is what is missing)
        raise ApiError(401, _("Only integrations with a token may give an external id: send "
                              "'Authorization: Bearer <token>'."), field="external_id",
                       headers={"WWW-Authenticate": 'Bearer realm="careloop"'})
    submission = Submission(
        text=body["text"], location=body.get("location"), occurred_on=_occurred_on(body.get("occurred_on")),
        impact=body.get("impact"), problem_id=body.get("problem_id"), external_id=body.get("external_id"),
        person=Person(body.get("name"), _email(body.get("email")), bool(body.get("contact_ok"))),
        language=body.get("language"),
    )
    try:
        result = submit_report(submission, channel=Channel.API, client=client_ip(),
                               token_id=token.id if token is not None else None)
        db.session.commit()
    except RateLimited as error:
        db.session.rollback()
        raise ApiError(429, too_many_message(error.retry_after),
                       headers={"Retry-After": str(error.retry_after)}) from None
    except DuplicateExternalId as error:
        db.session.rollback()
        raise ApiError(409, error.message, field="external_id", existing_report_id=error.existing_report_id,
                       headers={"Location": url_for("api.report", report_id=error.existing_report_id)}) from None
    except PermissionDenied as error:
        db.session.rollback()
        raise ApiError(403, error.message) from None
    except NotFound as error:
        db.session.rollback()
        raise ApiError(404, error.message) from None
    except IntegrityError:  # the same external id filed by a concurrent request
        db.session.rollback()
        raise ApiError(409, _("A report with this external id was already filed with this token."),
                       field="external_id") from None
    except ServiceError as error:
        db.session.rollback()
        raise _invalid(error.field or "body", error.message) from None
    report = result.report
    private_url = external_url("public.my_report", token=report.reporter.token)
    if token is None:
        response = jsonify(id=report.id, created_at=serializers.when(report.created_at), private_url=private_url,
                           held=report.moderation is not None)
    else:
        response = jsonify({**serializers.report(report), "private_url": private_url})
        response.headers["Location"] = url_for("api.report", report_id=report.id)
    response.status_code = 201
    return response


@bp.get("/openapi.json")
def openapi():
    from app.api.openapi import build_document

    return jsonify(build_document())
