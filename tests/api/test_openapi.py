"""The OpenAPI document matches the routes: every API route documented, nothing documented
that is not a route, with the same methods and path parameters."""

from __future__ import annotations

import re

from app.api.openapi import build_document

METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods if m.lower() in METHODS)
    return routes


def test_every_api_route_is_documented_and_every_documented_path_is_a_route(app):
    with app.test_request_context():
        document = build_document()
    documented = {path: {m for m in ops if m in METHODS} for path, ops in document["paths"].items()}
    assert _routes(app) == documented


def test_path_parameters_are_declared_and_every_operation_has_an_error_answer(app):
    with app.test_request_context():
        document = build_document()
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert declared == names, (path, method)
            assert "401" in operation["responses"] and "429" in operation["responses"], (path, method)
            assert "default" in operation["responses"], (path, method)
            assert operation["operationId"]


def test_the_length_limit_in_the_document_is_the_configured_one(app):
    with app.test_request_context():
        document = build_document()
    text = document["components"]["schemas"]["ReportInput"]["properties"]["text"]
    assert text["maxLength"] == app.config["CARELOOP_MAX_REPORT_CHARS"]


def test_the_document_is_valid_openapi(app):
    import schemathesis

    with app.test_request_context():
        document = build_document()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(ops) for ops in document["paths"].values())
