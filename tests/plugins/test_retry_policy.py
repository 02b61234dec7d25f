"""The one retry policy both plugins use (app.plugin_api.RetryPolicy), and a real
connection reset on loopback: retried, then the page arrives."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from app.plugin_api import PermanentError, RetryPolicy, SourceError, TransientError
from plugins.jira.client import JiraClient, JiraSettings
from plugins.zendesk.client import ZendeskClient


def policy(sleeps: list[float], **kw) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, random=lambda: 0.5, **kw)


def failing(times: int, error: Exception, then="ok"):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return then

    return call, calls


def test_transient_failures_are_retried_with_growing_back_off_then_succeed():
    sleeps = []
    call, calls = failing(3, TransientError("HTTP 503"))
    assert policy(sleeps).run(call, "GET /x") == "ok"
    assert len(calls) == 4 and sleeps == [0.75, 1.5, 3.0]


def test_retries_are_bounded_and_the_last_error_says_what_to_do():
    sleeps = []
    call, calls = failing(99, TransientError("HTTP 503"))
    with pytest.raises(SourceError, match="HTTP 503 .*gave up after 4 attempts.*resumes from the last page"):
        policy(sleeps, max_retries=3).run(call, "GET /x")
    assert len(calls) == 4 and len(sleeps) == 3


def test_retry_after_is_honoured_never_sooner_and_a_long_one_stops():
    sleeps = []
    call, _ = failing(1, TransientError("HTTP 429", retry_after=17.0))
    assert policy(sleeps).run(call, "GET /x") == "ok" and sleeps == [17.0]
    call, calls = failing(1, TransientError("HTTP 429", retry_after=900.0))
    with pytest.raises(SourceError, match="asked to wait 900 s"):
        policy(sleeps, max_wait=300).run(call, "GET /x")
    assert len(calls) == 1


@pytest.mark.parametrize("error", [PermanentError("HTTP 404"), SourceError("HTTP 400"), ValueError("bug")])
def test_anything_not_transient_is_raised_at_once(error):
    sleeps = []
    call, calls = failing(1, error)
    with pytest.raises(type(error)):
        policy(sleeps).run(call, "GET /x")
    assert len(calls) == 1 and sleeps == []


class ResetThenServe:
    """A loopback server that resets the first ``resets`` connections (RST, no answer)
    and answers the next ones with ``body`` as JSON."""

    def __init__(self, body: dict, resets: int = 1):
        self.body = json.dumps(body).encode()
        self.resets = resets
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            if self.accepted <= self.resets:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST: "connection reset by peer"
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(self.body)).encode() + b"\r\n\r\n" + self.body)
            conn.close()

    def close(self):
        self.sock.close()


def test_a_reset_connection_is_retried_by_zendesk():
    server = ResetThenServe({"tickets": [], "end_of_stream": True})
    sleeps = []
    try:
        client = ZendeskClient({"CARELOOP_ZENDESK_URL": server.url, "CARELOOP_ZENDESK_OAUTH_TOKEN": "t"},
                               sleep=sleeps.append, jitter=lambda: 0.0)
        status, body = client.get_json("/api/v2/incremental/tickets/cursor.json")
    finally:
        server.close()
    assert (status, body["end_of_stream"]) == (200, True)
    assert server.accepted == 2 and len(sleeps) == 1


def test_a_reset_connection_is_retried_by_jira():
    server = ResetThenServe({"issues": [], "isLast": True}, resets=2)
    sleeps = []
    try:
        config = JiraSettings(base_url=server.url, deployment="cloud", jql="project = SUP", pat="p")
        with JiraClient(config, sleep=sleeps.append, random=lambda: 0.0) as jira:
            body = jira.get_json("/rest/api/3/search/jql")
    finally:
        server.close()
    assert body["isLast"] is True and server.accepted == 3 and len(sleeps) == 2
