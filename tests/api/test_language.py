"""The API files a report in the person's language (issue 18), as staff can on the form."""

from __future__ import annotations

from .conftest import bearer


def test_the_api_takes_the_persons_language(client, write_token):
    body = {"text": "Die App meldet mich ständig ab.", "name": "Bea", "language": "de"}
    response = client.post("/api/v1/reports", json=body, headers=bearer(write_token))
    assert response.status_code == 201, response.json
    assert response.json["locale"] == "de"
    refused = client.post("/api/v1/reports", json={**body, "language": "tlh"}, headers=bearer(write_token))
    assert refused.status_code == 422 and refused.json["error"]["field"] == "language"
    wrong = client.post("/api/v1/reports", json={**body, "language": 7}, headers=bearer(write_token))
    assert wrong.status_code == 422 and wrong.json["error"]["field"] == "language"
