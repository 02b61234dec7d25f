"""Trace one report from the public form to its reporter's inbox, and count the way it takes.

    .venv/bin/python bench/trace_report.py

Files a report through the real public form (GET, then POST with its hidden fields), a
leader takes ownership of its problem (the first news a reporter gets), then `careloop
send-mail` delivers to a real SMTP server on loopback. Counts the calls into Careloop's own
code (app/ and plugins/) on the way: calls, distinct functions, distinct files. Only the
three steps are traced, not start-up or signing in. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from tests.mailserver import SmtpServer  # noqa: E402

OWN = (str(ROOT / "app") + os.sep, str(ROOT / "plugins") + os.sep)


class Tracer:
    def __init__(self):
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(OWN):
            code = frame.f_code
            self.calls[(code.co_filename, code.co_qualname)] += 1

    def __enter__(self):
        sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)


def main() -> None:
    smtp = SmtpServer()
    smtp.start()
    folder = tempfile.mkdtemp()
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/trace.sqlite",
        "SECRET_KEY": "trace", "WTF_CSRF_ENABLED": False, "CARELOOP_SPAM_MIN_SECONDS": 0, "CARELOOP_RATELIMIT_ENABLED": False,
        "CARELOOP_GROUPING_BACKEND": "lexical",
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port,
    })
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()
    made = runner.invoke(args=["users", "create", "--name", "Dana Okafor", "--email", "dana@example.org",
                               "--role", "leader", "--password", "trace-password-1"])
    assert made.exit_code == 0, made.output
    client = app.test_client()
    leader = app.test_client()
    leader.post("/login", data={"email": "dana@example.org", "password": "trace-password-1"})
    page = client.get("/").get_data(as_text=True)
    hidden = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', page))
    hidden.update(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    form = {**hidden, "text": "The lift at the station has been broken for a week.",
            "name": "Ada Lovelace", "email": "ada@example.org", "contact_ok": "y"}
    with Tracer() as tracer:
        answer = client.post("/", data=form)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
        owned = leader.post("/problems/1/own")
        assert owned.status_code == 302, owned.get_data(as_text=True)[:2000]
        result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert smtp.inbox.to("ada@example.org"), "the reporter got no email"
    smtp.stop()
    files = {name for name, _ in tracer.calls}
    print(json.dumps({
        "calls": sum(tracer.calls.values()),
        "functions": len(tracer.calls),
        "files": len(files),
        "emails_to_reporter": len(smtp.inbox.to("ada@example.org")),
    }))


if __name__ == "__main__":
    main()
