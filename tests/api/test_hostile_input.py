"""Hostile bodies and parameters get the right JSON 4xx, with a message naming the real
problem, and the OpenAPI document agrees with the validation (issue 15)."""

from __future__ import annotations

import json
import re

import pytest

from app.api.hostile import json_depth_exceeds
from app.models import ApiScope, Report
from tests.api.conftest import bearer


def _count(model):
    from app.extensions import db

    return db.session.scalar(db.select(db.func.count(model.id)))


def _error(response):
    assert response.is_json, response.get_data(as_text=True)[:200]
    return response.get_json()["error"]


def test_the_reviews_deeply_nested_body_is_a_400_invalid_json_not_a_500(client, app_ctx):
    body = "[" * 60000 + "]" * 60000
    response = client.post("/api/v1/reports", data=body, content_type="application/json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_json" and "nested more than 32 levels" in error["message"]
    assert _count(Report) == 0


def test_nested_objects_count_too_and_brackets_in_strings_do_not(client, app_ctx):
    objects = '{"a":' * 40 + "1" + "}" * 40
    assert client.post("/api/v1/reports", data=objects, content_type="application/json").status_code == 400
    text = "[[[ brackets in words ]]] " * 20 + "{" * 50
    fine = client.post("/api/v1/reports", json={"text": "The lift is stuck again " + text})
    assert fine.status_code == 201, fine.get_json()


def test_the_depth_scan_is_exact_at_the_limit():
    assert not json_depth_exceeds(b"[" * 32 + b"]" * 32, 32)
    assert json_depth_exceeds(b"[" * 33 + b"]" * 33, 32)
    assert not json_depth_exceeds(b'["\\"[[[[[[", {"a": "]]]]"}]', 1 + 1)


def test_broken_json_is_a_400_invalid_json(client, app_ctx):
    response = client.post("/api/v1/reports", data='{"text": "unfinished', content_type="application/json")
    assert response.status_code == 400 and _error(response)["code"] == "invalid_json"


@pytest.mark.parametrize("url, field", [("/api/v1/problems?area=Bill%00ing", "area")])
def test_a_nul_in_a_parameter_is_called_a_forbidden_character(client, app_ctx, url, field):
    response = client.get(url)
    assert response.status_code == 400
    error = _error(response)
    assert error["field"] == field and "forbidden character" in error["message"] and "too long" not in error["message"]


def test_a_nul_in_a_body_field_is_called_a_forbidden_character(client, app_ctx):
    response = client.post("/api/v1/reports", json={"text": "The lift is stuck", "location": "Lobby\u0000"})
    assert response.status_code == 422
    assert "forbidden character" in _error(response)["message"]


@pytest.mark.parametrize("url", ["/api/v1/problems?status=new&status=owned", "/api/v1/problems?limit=5&limit=50"])
def test_a_repeated_query_parameter_is_refused(client, app_ctx, url):
    response = client.get(url)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_parameter" and "more than once" in error["message"]


def _document(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_an_external_id_without_a_token_is_the_documented_401(client, app_ctx):
    response = client.post("/api/v1/reports", json={"text": "The lift is stuck again", "external_id": "mine"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _error(response)["field"] == "external_id"
    filing = _document(client)["paths"]["/api/v1/reports"]["post"]
    assert "401" in filing["responses"]
    schema = _document(client)["components"]["schemas"]["ReportInput"]["properties"]["external_id"]
    assert "without a token: 401" in json.dumps(schema)
    assert _count(Report) == 0


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_name_is_refused_for_everyone_as_the_document_says(client, app_ctx, make_token, name):
    secret, _ = make_token(ApiScope.READ_WRITE, "Desk")
    schema = _document(client)["components"]["schemas"]["ReportInput"]["properties"]["name"]
    assert re.search(schema["pattern"], name) is None  # the document calls this name invalid
    for headers in ({}, bearer(secret)):
        response = client.post("/api/v1/reports", json={"text": "The lift is stuck again", "name": name},
                               headers=headers)
        assert response.status_code == 422 and _error(response)["field"] == "name"
    assert _count(Report) == 0


def test_an_over_long_request_line_is_a_json_414(client, app_ctx):
    response = client.get("/api/v1/problems", query_string={"area": "x" * 5000})
    assert response.status_code == 414
    assert _error(response)["code"] == "uri_too_long"
