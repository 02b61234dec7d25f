"""Outgoing webhooks against a real HTTP server on loopback.

The receiver checks every signature with the algorithm documented in README
("Outgoing webhooks"), written out again here so a change to the app's signing
breaks these tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from app import services
from app.extensions import db
from app.models import Event, Role, clock_at, utcnow
from app.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.security import netguard
from app.services.errors import ServiceError
from app.services.grouping import merge_problems
from app.webhooks import outgoing as hooks

ALL_EVENTS = list(hooks.EVENTS)
REPORT_TEXT = "The lift at the Elm Street branch has been out of order for two weeks now."
OTHER_TEXT = "Parking tickets bought through the mobile app are charged twice on my credit card statement."


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """The README's verification recipe."""
    timestamp = headers["Careloop-Webhook-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["Careloop-Signature"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def received(server):
    return [(request, response) for request, response in server.log]


def make_endpoint(url, *, events=ALL_EVENTS, fmt="careloop", allow_private=True, name="Receiver"):
    endpoint = hooks.create_endpoint(name=name, url=url, events=events, fmt=fmt, allow_private=allow_private)
    db.session.commit()
    return endpoint


def deliveries(endpoint=None):
    query = db.select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.expire_all()
    return db.session.scalars(query).all()


@pytest.fixture
def leader(make_user):
    return make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")


def test_each_event_reaches_the_receiver_signed_and_without_personal_data(app_ctx, receiver, leader, make_report):
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks")
    endpoint = make_endpoint(receiver.url_for("/hook"))

    report = make_report(text=REPORT_TEXT, name="Maria Lopez", email="maria@example.net")
    problem = report.problem
    make_report(text="Still broken: the lift at Elm Street, I had to carry my pram upstairs.",
                name="Tom Becker", email="tom@example.net", problem=problem)
    services.assign_owner(problem, leader, leader)
    db.session.commit()
    services.record_change(problem, leader, since=utcnow().date(),
                           what="The lift now has a maintenance contract with a four hour call-out time.")
    services.publish(problem, leader, public_title="The Elm Street lift is fixed faster",
                     public_summary="Breakdowns are now repaired within four hours.")
    db.session.commit()
    other = make_report(text=OTHER_TEXT, name="Aisha Khan", email="aisha@example.net").problem
    third = make_report(text="The hold music on the phone line is painfully loud and distorted.",
                        name="Ben Ode", email="ben@example.net").problem
    assert len({problem.id, other.id, third.id}) == 3
    services.decline(other, leader, "The charges come from the bank's side; we checked every statement with them.")
    db.session.commit()
    merge_problems(third, problem, leader)
    db.session.commit()

    result = hooks.deliver_due()
    assert result.failed == 0 and result.retrying == 0
    log = received(receiver)
    assert len(log) == result.delivered == len(deliveries())
    bodies = []
    for request, response in log:
        body = request.get_data()
        assert verify(endpoint.secret, request.headers, body), "signature must verify with the documented recipe"
        assert request.headers["Content-Type"].startswith("application/json")
        payload = json.loads(body)
        assert payload["id"] == request.headers["Careloop-Webhook-Id"]
        assert payload["event"] == request.headers["Careloop-Webhook-Event"]
        bodies.append(payload)
        text = body.decode()
        for personal in ("Maria", "Lopez", "maria@example.net", "Tom Becker", "tom@", "pram", "Aisha", "Ben Ode",
                         "two weeks", "credit card statement", "hold music"):
            assert personal not in text, f"{personal!r} leaked into {payload['event']}"
    names = [p["event"] for p in bodies]
    assert names.count("report.filed") == 4
    assert set(names) == set(ALL_EVENTS)
    assert names.count("change.published") == 1 and names.count("problem.merged") == 1

    owned = next(p for p in bodies if p["event"] == "problem.owned")
    assert owned["owner"] == "Dana Okafor" and owned["handover"] is False
    assert owned["problem"]["owner"] == "Dana Okafor"
    assert owned["problem"]["people_affected"] == 2
    assert owned["problem"]["url"] == f"http://careloop.test/problems/{problem.id}"
    statuses = [(p["from"], p["to"]) for p in bodies if p["event"] == "problem.status_changed"]
    assert ("new", "owned") in statuses and ("owned", "changed") in statuses and ("owned", "declined") in statuses
    published = next(p for p in bodies if p["event"] == "change.published")
    assert published["change"]["public_title"] == "The Elm Street lift is fixed faster"
    assert published["change"]["public_url"] == f"http://careloop.test/changes/{problem.id}"
    declined = next(p for p in bodies if p["event"] == "problem.declined")
    assert declined["problem"]["id"] == other.id and "bank" in declined["reason"]
    merged = next(p for p in bodies if p["event"] == "problem.merged")
    assert merged["problem"]["id"] == third.id and merged["merged_into"]["id"] == problem.id
    first_filed = next(p for p in bodies if p["event"] == "report.filed")
    assert first_filed["report"]["new_problem"] is True and first_filed["report"]["channel"] == "web"
    assert {d.status for d in deliveries()} == {DeliveryStatus.DELIVERED}
    assert deliveries()[0].response_excerpt == "thanks" and deliveries()[0].response_status == 200


def test_an_endpoint_gets_only_the_events_it_chose_and_nothing_without_endpoints(app_ctx, receiver, leader, make_report):
    make_report(text=REPORT_TEXT)
    assert deliveries() == []  # no endpoint: nothing written
    receiver.expect_request("/hook").respond_with_data("ok")
    endpoint = make_endpoint(receiver.url_for("/hook"), events=["change.published"])
    report = make_report(text=OTHER_TEXT)
    services.assign_owner(report.problem, leader, leader)
    db.session.commit()
    assert deliveries(endpoint) == []
    hooks.set_active(endpoint, False)
    db.session.commit()
    services.record_change(report.problem, leader, since=utcnow().date(),
                           what="Card payments in the app are now checked against the bank before charging.")
    services.publish(report.problem, leader, public_title="No more double charges", public_summary="Fixed.")
    db.session.commit()
    assert deliveries(endpoint) == []  # paused endpoints collect nothing


def test_a_rolled_back_transaction_leaves_no_delivery(app_ctx, receiver, leader, make_report):
    make_endpoint(receiver.url_for("/hook"))
    reporter = services.new_reporter(name="X", email=None, contact_ok=False)
    services.file_report(text=REPORT_TEXT, reporter=reporter)
    db.session.rollback()
    assert deliveries() == []
    report = make_report(text=REPORT_TEXT)
    assert [(d.event_name, d.event_id is not None) for d in deliveries()] == [("report.filed", True)]
    event = db.session.get(Event, deliveries()[0].event_id)
    assert event.report_id == report.id


def test_slack_format_posts_text_and_blocks(app_ctx, receiver, leader, make_report):
    receiver.expect_request("/services/T000/B000/XXXX", method="POST").respond_with_data("ok")
    make_endpoint(receiver.url_for("/services/T000/B000/XXXX"), fmt="slack",
                  events=["report.filed", "problem.owned", "change.published"])
    report = make_report(text="Opening hours on the website are wrong for the Elm Street branch, I came for nothing.")
    problem = report.problem
    services.edit_problem(problem, leader, title="Branch <hours> & times wrong online", area=None, due_on=None)
    services.assign_owner(problem, leader, leader)
    db.session.commit()
    services.record_change(problem, leader, since=utcnow().date(),
                           what="The website now reads opening hours from the branch rota, updated daily.")
    services.publish(problem, leader, public_title="Opening hours <always> right",
                     public_summary="The website shows each branch's hours from its rota.")
    db.session.commit()
    assert hooks.deliver_due().delivered == 3
    (filed, _), (owned, _), (published, _) = received(receiver)
    assert "Careloop-Signature" in filed.headers  # the headers come along, even if Slack ignores them
    body = json.loads(filed.get_data())
    assert set(body) == {"text", "blocks"}
    # The working title is the reporter's words: not sent until a leader writes a title.
    assert body["text"] == f"New problem #{problem.id}."
    assert body["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}
    context = body["blocks"][1]["elements"][0]["text"]
    assert f"<http://careloop.test/problems/{problem.id}|Open in Careloop>" in context
    body = json.loads(owned.get_data())
    assert body["text"] == f"Dana Okafor owns problem #{problem.id} “Branch &lt;hours&gt; &amp; times wrong online”."
    body = json.loads(published.get_data())
    assert body["text"].startswith("We changed this: Opening hours &lt;always&gt; right.")
    assert f"<http://careloop.test/changes/{problem.id}|See the public change>" in body["blocks"][1]["elements"][0]["text"]


def test_receiver_down_then_failing_then_back_loses_nothing_and_delivers_once(app_ctx, leader, make_report):
    port = free_port()
    endpoint = make_endpoint(f"http://127.0.0.1:{port}/hook")
    make_report(text=REPORT_TEXT)
    start = utcnow()

    with clock_at(start):  # nobody listens: connection refused
        assert hooks.deliver_due().retrying == 1
    (d,) = deliveries()
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1 and d.response_status is None
    assert "Connection" in d.last_error
    first_wait = d.next_attempt_at - start
    assert timedelta(seconds=47) <= first_wait <= timedelta(seconds=73)  # 1 minute ±20 %
    with clock_at(start + timedelta(seconds=30)):
        assert hooks.deliver_due().retrying == 0  # not due yet

    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_request("/hook").respond_with_response(Response("x" * 10_000, status=500))
    server.start()
    try:
        with clock_at(start + timedelta(minutes=2)):
            assert hooks.deliver_due().retrying == 1
        (d,) = deliveries()
        assert d.attempts == 2 and d.response_status == 500 and d.last_error == "HTTP 500"
        assert len(d.response_excerpt) == netguard.RESPONSE_KEPT  # kept, but only the first 2 KB
        second_wait = d.next_attempt_at - (start + timedelta(minutes=2))
        assert timedelta(seconds=95) <= second_wait <= timedelta(seconds=145)  # 2 minutes ±20 %

        server.clear()
        server.expect_request("/hook").respond_with_data("ok")
        with clock_at(start + timedelta(minutes=10)):
            assert hooks.deliver_due().delivered == 1
            assert hooks.deliver_due().delivered == 0
        with clock_at(start + timedelta(days=1)):
            assert hooks.deliver_due().delivered == 0
        assert len(server.log) == 1
        request, _ = server.log[0]
        assert verify(endpoint.secret, request.headers, request.get_data())
        (d,) = deliveries()
        assert d.status == DeliveryStatus.DELIVERED and d.attempts == 3 and d.delivered_at is not None
    finally:
        server.clear()
        server.stop()


def test_gives_up_after_the_maximum_and_an_admin_redelivers(app_ctx, receiver, make_user, make_report, client, auth):
    app_ctx.config["CARELOOP_WEBHOOK_MAX_ATTEMPTS"] = 2
    try:
        receiver.expect_request("/hook").respond_with_data("busy", status=503)
        endpoint = make_endpoint(receiver.url_for("/hook"))
        make_report(text=REPORT_TEXT)
        with clock_at(utcnow()):
            hooks.deliver_due()
        with clock_at(utcnow() + timedelta(hours=1)):
            assert hooks.deliver_due().failed == 1
        (failed,) = deliveries()
        assert failed.status == DeliveryStatus.FAILED and failed.attempts == 2
        assert failed.last_error.startswith("Gave up after 2 tries")

        receiver.clear()
        receiver.expect_request("/hook").respond_with_data("ok now")
        admin = make_user(Role.ADMIN)
        auth.login(admin)
        page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "Gave up after 2 tries" in page and "busy" in page and "Redeliver" in page
        response = client.post(f"/admin/webhooks/deliveries/{failed.id}/redeliver", follow_redirects=True)
        assert "Delivered: the receiver answered 200" in response.get_data(as_text=True)
        old, new = deliveries()
        assert old.status == DeliveryStatus.FAILED and new.status == DeliveryStatus.DELIVERED
        assert new.webhook_id == old.webhook_id and new.body == old.body
        (request, _), = received(receiver)
        assert request.headers["Careloop-Webhook-Id"] == old.webhook_id
        assert db.session.scalar(db.select(Event).where(Event.verb == hooks.WEBHOOK_REDELIVERED)).actor_id == admin.id
    finally:
        app_ctx.config["CARELOOP_WEBHOOK_MAX_ATTEMPTS"] = 10


def test_loopback_is_refused_without_the_admins_explicit_permission(app_ctx, receiver, make_user, client, auth):
    url = receiver.url_for("/hook")
    with pytest.raises(ServiceError) as refused:
        hooks.create_endpoint(name="Inside", url=url, events=ALL_EVENTS)
    assert refused.value.field == "url"
    db.session.rollback()

    auth.login(make_user(Role.ADMIN))
    form = {"name": "Inside", "url": url, "events": ["report.filed"], "format": "careloop"}
    response = client.post("/admin/webhooks", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="url-error"' in page and "private" in page and url in page  # next to the field, text kept
    assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 0

    response = client.post("/admin/webhooks", data={**form, "allow_private": "y"})
    assert response.status_code == 201
    endpoint = db.session.scalar(db.select(WebhookEndpoint))
    assert endpoint.allow_private
    event = db.session.scalar(db.select(Event).where(Event.verb == hooks.WEBHOOK_CREATED))
    assert event.problem_id is None and event.details["allow_private"] is True


def test_each_delivery_checks_the_address_again(app_ctx, receiver, make_report, monkeypatch):
    """DNS may change after registration: the check runs again right before sending."""
    receiver.expect_request("/hook").respond_with_data("should never be reached")
    answers = {"hooks.example.test": ["93.184.216.34"]}
    monkeypatch.setattr(netguard, "resolve", lambda host, port: answers[host])
    endpoint = make_endpoint(f"http://hooks.example.test:{receiver.port}/hook", allow_private=False)
    answers["hooks.example.test"] = ["127.0.0.1"]  # now it points at this machine
    make_report(text=REPORT_TEXT)
    assert hooks.deliver_due().retrying == 1
    (d,) = deliveries(endpoint)
    assert d.last_error.startswith("Refused:") and "127.0.0.1" in d.last_error
    assert received(receiver) == []


def test_the_connection_goes_to_the_checked_address_with_the_real_host_name(app_ctx, receiver, make_report, monkeypatch):
    receiver.expect_request("/hook").respond_with_data("ok")
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    make_endpoint(f"http://receiver.example.test:{receiver.port}/hook", allow_private=True)
    make_report(text=REPORT_TEXT)
    assert hooks.deliver_due().delivered == 1
    (request, _), = received(receiver)
    assert request.headers["Host"] == f"receiver.example.test:{receiver.port}"


def test_redirects_are_not_followed(app_ctx, receiver, make_report):
    receiver.expect_request("/hook").respond_with_response(
        Response("", status=302, headers={"Location": receiver.url_for("/elsewhere")}))
    receiver.expect_request("/elsewhere").respond_with_data("followed!")
    make_endpoint(receiver.url_for("/hook"))
    make_report(text=REPORT_TEXT)
    assert hooks.deliver_due().retrying == 1
    assert [r.path for r, _ in received(receiver)] == ["/hook"]
    (d,) = deliveries()
    assert d.response_status == 302 and "not followed" in d.last_error and d.status == DeliveryStatus.PENDING


def test_admin_pages_secret_once_then_masked_rotate_pause_test_delete(app_ctx, receiver, make_user, client, auth):
    receiver.expect_request("/hook").respond_with_data("pong")
    admin = make_user(Role.ADMIN)
    auth.login(admin)
    response = client.post("/admin/webhooks", data={"name": "Ops", "url": receiver.url_for("/hook"),
                                                  "events": ["report.filed", "problem.owned"],
                                                  "format": "careloop", "allow_private": "y"})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    endpoint = db.session.scalar(db.select(WebhookEndpoint))
    assert len(endpoint.secret) >= 43 and endpoint.secret in response.get_data(as_text=True)
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret not in page and endpoint.secret[-4:] in page
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "Ops" in listing and endpoint.secret not in listing

    old_secret = endpoint.secret
    response = client.post(f"/admin/webhooks/{endpoint.id}/rotate")
    db.session.expire_all()
    assert endpoint.secret != old_secret and endpoint.secret in response.get_data(as_text=True)

    response = client.post(f"/admin/webhooks/{endpoint.id}/test", follow_redirects=True)
    assert "Delivered: the receiver answered 200" in response.get_data(as_text=True)
    (request, _), = received(receiver)
    assert json.loads(request.get_data())["event"] == "webhook.test"
    assert verify(endpoint.secret, request.headers, request.get_data())
    assert not verify(old_secret, request.headers, request.get_data())

    client.post(f"/admin/webhooks/{endpoint.id}/pause")
    db.session.expire_all()
    assert not endpoint.active
    response = client.post(f"/admin/webhooks/{endpoint.id}/test", follow_redirects=True)
    assert "Queued" in response.get_data(as_text=True)
    assert len(received(receiver)) == 1  # held while paused
    client.post(f"/admin/webhooks/{endpoint.id}/resume")
    assert hooks.deliver_due().delivered == 1

    response = client.post(f"/admin/webhooks/{endpoint.id}", data={
        "name": "Ops channel", "url": receiver.url_for("/hook"), "events": ["problem.owned"], "format": "slack"})
    assert response.status_code == 422  # unticking "allow private" for a loopback address is refused
    db.session.expire_all()
    assert endpoint.name == "Ops" and endpoint.allow_private
    client.post(f"/admin/webhooks/{endpoint.id}", data={
        "name": "Ops channel", "url": receiver.url_for("/hook"), "events": ["problem.owned"], "format": "slack",
        "allow_private": "y"})
    db.session.expire_all()
    assert (endpoint.name, endpoint.events, endpoint.format) == ("Ops channel", ["problem.owned"], "slack")

    client.post(f"/admin/webhooks/{endpoint.id}/delete")
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 0
    assert deliveries() == []
    verbs = db.session.scalars(db.select(Event.verb).where(Event.verb.like("webhook_%")).order_by(Event.id)).all()
    assert verbs == ["webhook_created", "webhook_secret_rotated", "webhook_updated", "webhook_updated",
                     "webhook_updated", "webhook_deleted"]


def test_non_admins_cannot_manage_webhooks(app_ctx, make_user, client, auth):
    auth.login(make_user(Role.LEADER))
    assert client.get("/admin/webhooks").status_code == 403
    assert client.post("/admin/webhooks", data={"name": "x", "url": "https://example.com/",
                                                "events": ["report.filed"]}).status_code == 403
    with pytest.raises(ServiceError):
        hooks.create_endpoint(name="x", url="https://93.184.216.34/", events=ALL_EVENTS,
                              actor=make_user(Role.LEADER))


def test_forms_need_csrf_tokens(app_ctx, make_user, client, auth):
    endpoint = make_endpoint("https://93.184.216.34/hook", allow_private=False)
    auth.login(make_user(Role.ADMIN))
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/admin/webhooks/{endpoint.id}/delete").status_code == 400
    assert client.post(f"/admin/webhooks/{endpoint.id}/rotate").status_code == 400
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id) is not None


def test_two_senders_claim_each_delivery_once(app_ctx, receiver, make_report):
    receiver.expect_request("/hook").respond_with_data("ok")
    make_endpoint(receiver.url_for("/hook"))
    make_report(text=REPORT_TEXT)
    make_report(text=OTHER_TEXT)
    first = hooks.claim_due(10, "sender-a")
    assert len(first) == 2
    assert hooks.claim_due(10, "sender-b") == []
    with clock_at(utcnow() + timedelta(minutes=6)):  # sender-a died: its claim lapses
        assert len(hooks.claim_due(10, "sender-b")) == 2


def test_send_webhooks_command(app_ctx, receiver, runner, make_report):
    receiver.expect_request("/hook").respond_with_data("ok")
    make_endpoint(receiver.url_for("/hook"))
    make_report(text=REPORT_TEXT)
    result = runner.invoke(args=["send-webhooks"])
    assert result.exit_code == 0, result.output
    assert "1 delivered, 0 to retry, 0 failed" in result.output
    assert len(received(receiver)) == 1


@pytest.fixture
def tls_receiver(tmp_path):
    """A real HTTPS server on loopback whose certificate names receiver.example.test."""
    import ssl

    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.example.test").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = HTTPServer(host="127.0.0.1", port=free_port(), ssl_context=context)
    server.start()
    yield server, str(ca_file)
    server.clear()
    server.stop()


def test_https_goes_to_the_checked_address_but_verifies_the_real_host_name(tls_receiver, monkeypatch):
    server, ca_file = tls_receiver
    server.expect_request("/hook").respond_with_data("secure ok")
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    url = f"https://receiver.example.test:{server.port}/hook"
    outcome = netguard.post(url, b"{}", {"Content-Type": "application/json"}, allow_private=True, verify=ca_file)
    assert outcome.ok and outcome.body_excerpt == "secure ok"
    (request, _), = server.log
    assert request.headers["Host"] == f"receiver.example.test:{server.port}"

    # A host name the certificate does not cover fails the TLS check, though the address is the same.
    outcome = netguard.post(f"https://impostor.example.test:{server.port}/hook", b"{}", {}, allow_private=True,
                            verify=ca_file)
    assert not outcome.ok and "SSLError" in outcome.error
    assert len(server.log) == 1
