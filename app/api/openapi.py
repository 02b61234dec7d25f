"""The OpenAPI 3.1 document of ``/api/v1``, in one place.

``build_document()`` returns it as a dict (served at ``/api/v1/openapi.json``). Limits
that come from the configuration (the longest report) are read when it is built, so the
document says what this installation accepts. Tests check that every API route is
documented here and every documented path is a route, and fuzz the API against it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api.routes import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT
from app.models import Channel, Status

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}


def _schemas(max_chars: int) -> dict[str, Any]:
    person = _object({"id": ID, "name": STRING}, additionalProperties=False)
    change = _object({
        "what": STRING,
        "since": _nullable(DATE),
        "evidence_url": _nullable(STRING),
        "changed_at": _nullable(DATETIME),
    }, additionalProperties=False)
    statuses = {"type": "string", "enum": [s.value for s in Status]}
    return {
        "Error": _object({
            "error": _object({
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "code": {"type": "string", "description": "A stable word for programs: invalid_field, "
                         "invalid_parameter, invalid_token, insufficient_scope, not_found, ..."},
                "message": {"type": "string", "description": "What went wrong, for a person."},
                "field": {"type": "string", "description": "The body field or query parameter at fault."},
                "existing_report_id": {**ID, "description": "On 409: the report filed earlier with this external id."},
            }, required=["status", "code", "message"]),
        }),
        "Person": person,
        "Change": change,
        "PublicProblem": _object({
            "id": ID,
            "public_title": _nullable(STRING),
            "public_summary": _nullable(STRING),
            "status": statuses,
            "owner_name": _nullable(STRING),
            "people": {"type": "integer", "minimum": 0},
            "change": _nullable(_ref("Change")),
            "published_at": DATETIME,
            "links": _object({"self": STRING, "html": STRING}),
        }, additionalProperties=False, description="A published change, exactly as the public "
                                                   "\"We changed this\" page shows it (no personal data)."),
        "Problem": _object({
            "id": ID,
            "title": STRING,
            "public_title": _nullable(STRING),
            "public_summary": _nullable(STRING),
            "area": _nullable(STRING),
            "status": statuses,
            "owner": _nullable(_ref("Person")),
            "due_on": _nullable(DATE),
            "created_at": DATETIME,
            "updated_at": DATETIME,
            "people": {"type": "integer", "minimum": 0},
            "reports": {"type": "integer", "minimum": 0},
            "handoffs": {"type": "integer", "minimum": 0},
            "first_report_at": _nullable(DATETIME),
            "latest_report_at": _nullable(DATETIME),
            "change": _nullable(_ref("Change")),
            "decline_reason": _nullable(STRING),
            "published_at": _nullable(DATETIME),
            "merged_into_id": _nullable(ID),
            "links": _object({"self": STRING, "events": STRING, "reports": STRING, "html": STRING}),
        }, additionalProperties=False, description="A problem as a leader sees it (token callers)."),
        "Event": _object({
            "id": ID,
            "verb": {"type": "string", "description": "What happened: report_filed, took_ownership, "
                     "handed_over, change_recorded, published, merged, ..."},
            "created_at": DATETIME,
            "problem_id": _nullable(ID),
            "report_id": _nullable(ID),
            "actor": _nullable(_ref("Person")),
            "subject_user": _nullable(_ref("Person")),
            "details": {"type": "object"},
        }, additionalProperties=False),
        "Report": _object({
            "id": ID,
            "problem_id": {**_nullable(ID), "description": "Null while the report is held for moderation."},
            "text": _nullable(STRING),
            "location": _nullable(STRING),
            "occurred_on": _nullable(DATE),
            "impact": _nullable(STRING),
            "channel": {"type": "string", "enum": [c.value for c in Channel]},
            "source": _nullable(STRING),
            "external_id": _nullable(STRING),
            "external_url": _nullable(STRING),
            "grouping": _nullable(STRING),
            "grouping_score": _nullable({"type": "number"}),
            "moderation": {"type": ["string", "null"], "enum": ["held", "rejected", None],
                           "description": "held: a public report waiting for a leader (CARELOOP_MODERATE_PUBLIC); "
                                          "rejected: spam, its words removed."},
            "locale": {"type": "string", "description": "The language it was filed in."},
            "created_at": DATETIME,
            "removed_at": _nullable(DATETIME),
            "deleted": {"type": "boolean", "description": "True once the imported ticket it came from was "
                                                          "deleted (at removed_at); its text is then null."},
            "reporter": _object({
                "id": ID,
                "kind": {"type": "string", "enum": ["customer", "staff"]},
                "name": _nullable(STRING),
                "email": _nullable(STRING),
                "contact_ok": {"type": "boolean"},
                "can_be_emailed": {"type": "boolean"},
            }, additionalProperties=False),
            "filed_by": _nullable(_ref("Person")),
            "links": _object({"self": STRING, "problem": _nullable(STRING)}),
            "private_url": {"type": "string", "description": "Only when just filed: the person's private page."},
        }, required=["id", "problem_id", "text", "location", "occurred_on", "impact", "channel", "source",
                     "external_id", "external_url", "grouping", "grouping_score", "moderation", "locale",
                     "created_at", "removed_at", "deleted",
                     "reporter", "filed_by", "links"], additionalProperties=False,
            description="One person's report, in their own words (token callers). `text` is null once "
                        "the imported ticket it came from was deleted."),
        "ReportInput": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": r"\S",
                         "description": "What isn't working, in the person's own words."},
                "location": _nullable({"type": "string", "maxLength": 200}),
                "occurred_on": _nullable({**DATE, "description": "Not in the future."}),
                "impact": _nullable({"type": "string", "maxLength": max_chars}),
                "name": _nullable({"type": "string", "maxLength": 120, "pattern": r"\S",
                                   "description": "The person this happened to; leave it out or null for an "
                                                  "anonymous report (a blank name is refused). Required with a "
                                                  "token: a filing by a token without it gets 422."}),
                "email": _nullable({"type": "string", "format": "email", "maxLength": 254}),
                "contact_ok": {"type": "boolean", "description": "The person agreed to be emailed about "
                                                                  "what changes (needs `email`)."},
                "problem_id": _nullable({**ID, "description": "\"Me too\": an open problem the caller may "
                                         "see offered (anonymous: one with an approved public title)."}),
                "external_id": _nullable({"type": "string", "maxLength": 200, "description":
                                          "Tokens only: your id for this report; filing it again gives 409. "
                                          "Sent without a token: 401 (the token is what is missing)."}),
                "language": _nullable({"type": "string", "maxLength": 16, "description":
                                       "The person's language (one the site offers, e.g. `de`): their "
                                       "messages are written in it. Default: the request's language."}),
            },
        },
        "Filed": _object({
            "id": ID,
            "created_at": DATETIME,
            "private_url": {"type": "string", "description": "The person's private page: give it to them."},
            "held": {"type": "boolean", "description": "True when it waits for a leader's approval "
                                                       "(CARELOOP_MODERATE_PUBLIC)."},
        }, additionalProperties=False, description="What an anonymous filing returns."),
        "Moved": _object({
            "merged_into": ID,
            "location": STRING,
            "message": STRING,
        }, additionalProperties=False),
        "ProblemPage": _page_of({"anyOf": [_ref("Problem"), _ref("PublicProblem")]}),
        "EventPage": _page_of(_ref("Event")),
        "ReportPage": _page_of(_ref("Report")),
    }


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return _object({
        "data": {"type": "array", "items": item},
        "next": {"type": ["string", "null"], "description": "The next page's address, or null on the last page."},
    }, additionalProperties=False)


def _error(description: str, *headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref("Error")}}}
    if headers:
        response["headers"] = {h: {"$ref": f"#/components/headers/{h}"} for h in headers}
    return response


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": ID, "example": 1}


PAGING = [
    {"$ref": "#/components/parameters/limit"},
    {"$ref": "#/components/parameters/cursor"},
]
OPTIONAL_TOKEN = [{}, {"bearerAuth": []}]
TOKEN = [{"bearerAuth": []}]


def _ok(schema: str, description: str, *headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref(schema)}}}
    if headers:
        response["headers"] = {h: {"$ref": f"#/components/headers/{h}"} for h in headers}
    return response


COMMON_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "414": {"$ref": "#/components/responses/UriTooLong"},
    "429": {"$ref": "#/components/responses/TooManyRequests"},
    "default": {"$ref": "#/components/responses/Error"},
}


def build_document() -> dict[str, Any]:
    max_chars = current_app.config["CARELOOP_MAX_REPORT_CHARS"]
    org = current_app.config["CARELOOP_ORG_NAME"]
    paths = {
        "/api/v1/problems": {"get": {
            "operationId": "listProblems",
            "summary": "List problems, newest first",
            "description": "Without a token: published changes only (what \"We changed this\" shows), as "
                           "`PublicProblem`. With a token: every problem not merged away, as `Problem`.",
            "security": OPTIONAL_TOKEN,
            "parameters": [
                *PAGING,
                _query("status", "Only problems with this status.", {"type": "string", "enum": [s.value for s in Status]}),
                _query("area", "Only problems in this area (any case).", {"type": "string", "maxLength": 200}),
                _query("owner_id", "Tokens only (401 without one): problems owned by this account.", ID),
            ],
            "responses": {
                "200": _ok("ProblemPage", "A page of problems.", "Link"),
                "400": {"$ref": "#/components/responses/BadParameter"},
                **COMMON_ERRORS,
            },
        }},
        "/api/v1/problems/{problem_id}": {"get": {
            "operationId": "getProblem",
            "summary": "One problem",
            "description": "A merged problem answers 301 with the problem it was merged into. Without a "
                           "token only published changes exist (others are 404).",
            "security": OPTIONAL_TOKEN,
            "parameters": [_path("problem_id", "The problem's id.")],
            "responses": {
                "200": {"description": "The problem (`Problem` with a token, else `PublicProblem`).",
                        "content": {JSON: {"schema": {"anyOf": [_ref("Problem"), _ref("PublicProblem")]}}}},
                "301": _ok("Moved", "The problem was merged into another; follow `Location`.", "Location"),
                "404": {"$ref": "#/components/responses/NotFound"},
                **COMMON_ERRORS,
            },
        }},
        "/api/v1/problems/{problem_id}/events": {"get": {
            "operationId": "listProblemEvents",
            "summary": "A problem's history, oldest first",
            "description": "Every audit event recorded on the problem (who did what, when). Tokens only.",
            "security": TOKEN,
            "parameters": [_path("problem_id", "The problem's id."), *PAGING],
            "responses": {
                "200": _ok("EventPage", "A page of events.", "Link"),
                "400": {"$ref": "#/components/responses/BadParameter"},
                "404": {"$ref": "#/components/responses/NotFound"},
                **COMMON_ERRORS,
            },
        }},
        "/api/v1/reports": {
            "get": {
                "operationId": "listReports",
                "summary": "List reports, newest first",
                "description": "People's reports with their names and contact details. Tokens only.",
                "security": TOKEN,
                "parameters": [
                    *PAGING,
                    _query("problem_id", "Only reports in this problem.", ID),
                    _query("channel", "Only reports that came this way.",
                           {"type": "string", "enum": [c.value for c in Channel]}),
                ],
                "responses": {
                    "200": _ok("ReportPage", "A page of reports.", "Link"),
                    "400": {"$ref": "#/components/responses/BadParameter"},
                    **COMMON_ERRORS,
                },
            },
            "post": {
                "operationId": "fileReport",
                "summary": "File a report",
                "description": "The same checks as the forms. Without a token: like the public form, limited "
                               "per address (`CARELOOP_RATELIMIT_FILING`), answered with the person's private "
                               "link only. With a `read_write` token: on behalf of a named person (`name` "
                               "required), answered with the whole report. A `read` token gets 403.",
                "security": OPTIONAL_TOKEN,
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("ReportInput")}}},
                "responses": {
                    "201": {"description": "Filed. With a token: the report (and `Location`); without: `Filed`.",
                            "headers": {"Location": {"$ref": "#/components/headers/Location"}},
                            "content": {JSON: {"schema": {"anyOf": [_ref("Report"), _ref("Filed")]}}}},
                    "400": _error("The body is not valid JSON, or nests arrays and objects more than "
                                  "`CARELOOP_API_MAX_JSON_DEPTH` (32) deep: `error.code` is `invalid_json`."),
                    "403": _error("The token may only read.", "WWW-Authenticate"),
                    "409": _error("This token already filed a report with this `external_id` "
                                  "(`error.existing_report_id`).", "Location"),
                    "413": _error("The body is too large."),
                    "415": _error("The body is not sent as `application/json`."),
                    "422": _error("A field is missing or not valid; `error.field` names it. Nothing was stored. "
                                  "Beyond this schema: with a token `name` is required; `occurred_on` is "
                                  "not in the future; `problem_id` must be a problem the caller may see."),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/reports/{report_id}": {"get": {
            "operationId": "getReport",
            "summary": "One report",
            "security": TOKEN,
            "parameters": [_path("report_id", "The report's id.")],
            "responses": {
                "200": _ok("Report", "The report."),
                "404": {"$ref": "#/components/responses/NotFound"},
                **COMMON_ERRORS,
            },
        }},
        "/api/v1/openapi.json": {"get": {
            "operationId": "getOpenApiDocument",
            "summary": "This document",
            "security": OPTIONAL_TOKEN,
            "responses": {
                "200": {"description": "The OpenAPI document.", "content": {JSON: {"schema": {"type": "object"}}}},
                **COMMON_ERRORS,
            },
        }},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{org} Careloop API",
            "version": "1.0.0",
            "description": (
                "Problems, their history and people's reports, for integrations. Send a token made by an "
                "admin as `Authorization: Bearer <token>`. Scopes: `read` sees problems, events and "
                "reports as a leader does; `read_write` may also file reports on behalf of a named "
                "person. Without a token only published changes can be read and reports filed as on "
                "the public form. Every error is JSON (`Error`). Requests are limited per token "
                "(and per address without one); over the limit the answer is 429 with `Retry-After`. "
                "Lists are newest first (events oldest first) and paged with `next`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": OPTIONAL_TOKEN,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API token (`cl_…`) made under Admin → API tokens."}},
            "schemas": _schemas(max_chars),
            "parameters": {
                "limit": _query("limit", f"Items per page (default {DEFAULT_LIMIT}).",
                                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
                "cursor": _query("cursor", "Where the page starts: take it from `next`.",
                                 {"type": "integer", "minimum": 0, "maximum": MAX_ID}),
            },
            "headers": {
                "Retry-After": {"description": "Seconds to wait before trying again.",
                                "schema": {"type": "integer", "minimum": 1}},
                "Location": {"description": "Where the resource is.", "schema": {"type": "string"}},
                "Link": {"description": "`<next page>; rel=\"next\"` when there is one.", "schema": {"type": "string"}},
                "WWW-Authenticate": {"description": "The bearer challenge.", "schema": {"type": "string"}},
            },
            "responses": {
                "Unauthorized": _error("The token is missing (where one is needed, as for `external_id`), unknown or revoked.",
                                       "WWW-Authenticate"),
                "NotFound": _error("Nothing the caller may see has this id."),
                "BadParameter": _error("A query parameter is not valid, or given more than once; "
                                       "`error.field` names it."),
                "UriTooLong": _error("The request line is longer than the server takes "
                                     "(`CARELOOP_API_MAX_REQUEST_LINE`, 4094 bytes by default)."),
                "TooManyRequests": _error("Over the rate limit.", "Retry-After"),
                "Error": _error("Any other error (405, 500, ...), in the same shape."),
            },
        },
    }
