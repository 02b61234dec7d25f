"""The API is limited per token, and per address without one, in the database-backed limiter."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import ApiScope, clock_at
from tests.api.conftest import bearer


def test_a_token_over_its_limit_gets_a_json_429_with_retry_after(client, make_token, limits):
    limits["CARELOOP_API_RATE_LIMIT"] = "3/minute"
    mine, _ = make_token(ApiScope.READ, "Busy")
    other, _ = make_token(ApiScope.READ, "Quiet")
    start = datetime(2031, 1, 1, 12, 0, 15)
    with clock_at(start):
        for _i in range(3):
            assert client.get("/api/v1/problems", headers=bearer(mine)).status_code == 200
        refused = client.get("/api/v1/problems", headers=bearer(mine))
        assert refused.status_code == 429
        assert refused.json["error"]["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another token has its own allowance; anonymous callers are counted by address.
        assert client.get("/api/v1/problems", headers=bearer(other)).status_code == 200
        assert client.get("/api/v1/problems").status_code == 200
    with clock_at(start + timedelta(minutes=1)):  # the next window
        assert client.get("/api/v1/problems", headers=bearer(mine)).status_code == 200


def test_anonymous_callers_are_limited_per_address(client, app_ctx, limits):
    limits["CARELOOP_API_ANONYMOUS_RATE_LIMIT"] = "2/minute"
    with clock_at(datetime(2031, 1, 1, 12, 0, 0)):
        assert client.get("/api/v1/problems").status_code == 200
        assert client.get("/api/v1/problems", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200
        assert client.get("/api/v1/problems").status_code == 200
        response = client.get("/api/v1/problems")
        assert response.status_code == 429 and response.headers["Retry-After"] == "60"
        assert client.get("/api/v1/problems", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_anonymous_filing_has_the_public_forms_limit(client, app_ctx, limits):
    limits["CARELOOP_RATELIMIT_FILING"] = "2/hour"
    texts = ["The bus app shows the wrong times.", "A second, different report about parking fees.",
             "A third report about the broken lift."]
    assert client.post("/api/v1/reports", json={"text": texts[0]}).status_code == 201
    assert client.post("/api/v1/reports", json={"text": texts[1]}).status_code == 201
    refused = client.post("/api/v1/reports", json={"text": texts[2]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_the_global_switch_turns_the_api_limits_off(client, make_token, limits):
    limits["CARELOOP_API_RATE_LIMIT"] = "1/minute"
    limits["CARELOOP_RATELIMIT_ENABLED"] = False
    secret, _ = make_token(ApiScope.READ)
    for _i in range(4):
        assert client.get("/api/v1/problems", headers=bearer(secret)).status_code == 200
