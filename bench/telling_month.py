"""A simulated month of telling people (issue 14): is every person told exactly once, in
their own words, whatever happens to the mail?

End to end, in one process, on a fresh database built by the migrations (a SQLite file, or
DATABASE_URL for PostgreSQL):

* ~140 people file ~156 reports over three weeks through the **real forms and API** (Flask's
  test client, CSRF tokens read from the pages): the public form (new, or "me too" on a
  problem a leader titled), the staff form (customers with and without an email address,
  staff's third-person words), and ``POST /api/v1/reports`` with a read-write token. Some
  people file twice, with their address in different case.
* Leaders clean up triage before anyone owns a problem (merges), take ownership, record and
  publish changes (8) or decline (2), and merge late duplicates into published problems
  (late joins) - through the services, as the views call them, with a commit each.
* ``send-mail``'s delivery runs every 30 simulated minutes against a **real SMTP server on
  loopback** (aiosmtpd), which is **stopped for 20 hours** in the middle (while changes are
  published and people file) and started again.

Every report carries a unique detail (an order number), so any email quoting someone
else's words is found. The figures, per person (an address with consent to email) in a
changed or declined problem:

    reachable people, told exactly once, told twice, not told,
    messages quoting someone else's words, housekeeping emails before ownership,
    lost or stuck after the outage

    .venv/bin/python bench/telling_month.py            # SQLite in a temporary folder
    DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/telling_month.py

Prints a table and one JSON line; exits 1 unless 100 % are told exactly once and every
other figure is 0.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flask.testing import FlaskClient  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    TOOK_OWNERSHIP,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Problem,
    Report,
    Reporter,
    Role,
    clock_at,
)
from tests.mailserver import SmtpServer  # noqa: E402

START = datetime(2026, 3, 2, 8, 0)
PASSWORD = "correct horse battery"
THEMES = [  # (words people use, what happens)
    ("refund to my card took weeks", "changed"),
    ("the lift at the Elm Street entrance is out of order", "changed"),
    ("the phone line drops my call after twenty minutes on hold", "changed"),
    ("the password reset email never arrives", "changed"),
    ("delivery vans block the ramp every morning", "changed"),
    ("my letters still go to my old address", "changed"),
    ("the self-checkout freezes on coupons", "changed"),
    ("the app logs me out every few minutes", "changed"),
    ("please open the branch on Sundays", "declined"),
    ("the parking machine only takes coins", "declined"),
    ("the website chat never answers", "open"),
    ("the queue at the counter is too long at lunch", "open"),
]
OUTCOMES = {"changed": 8, "declined": 2}


class IsolatedClient(FlaskClient):
    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    return found.group(1) if found else ""


class Month:
    def __init__(self, database_url: str):
        self.smtp = SmtpServer()
        self.smtp.start()
        self.app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench", "CARELOOP_BASE_URL": "http://care.test",
            "CARELOOP_SPAM_MIN_SECONDS": 0, "CARELOOP_RATELIMIT_FILING": "100000/hour",
            "CARELOOP_RATELIMIT_LOGIN_IP": "100000/hour", "CARELOOP_RATELIMIT_LOGIN_ACCOUNT": "100000/hour",
            "CARELOOP_GROUPING_ENABLED": False,
            "CARELOOP_GROUPING_BACKEND": "lexical",
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.smtp.port, "MAIL_FROM": "Care <care@example.org>",
        })
        self.app.test_client_class = IsolatedClient
        self.rng = random.Random(14)
        self.now = START
        self.words: dict[str, str] = {}  # unique detail -> the address that wrote it ("" for none)
        self.serial = 0
        self.outage = (START + timedelta(days=14, hours=12), START + timedelta(days=15, hours=8))
        self.mail_down = False
        self.problems: list[str] = []  # what went wrong, printed under the figures
        self.scenario: Counter = Counter()  # what the month exercised

    # --- set-up -----------------------------------------------------------------------------

    def setup(self):
        from flask_migrate import upgrade

        from app import services
        from app.services.api_tokens import create_token

        with self.app.app_context():
            upgrade()
            with clock_at(self.now):
                self.leaders = [services.create_user(name=n, email=e, role=Role.LEADER, password=PASSWORD).id
                                for n, e in (("Sam Reyes", "sam@example.org"), ("Dana Okafor", "dana@example.org"))]
                services.create_user(name="Frankie Hall", email="frankie@example.org", role=Role.STAFF,
                                     password=PASSWORD)
                self.api_token = create_token(name="crm", scope="read_write", actor=None).secret
                db.session.commit()
        self.public = self.app.test_client()
        self.staff = self.app.test_client()
        page = self.staff.get("/login").get_data(as_text=True)
        self.staff.post("/login", data={"email": "frankie@example.org", "password": PASSWORD, "csrf_token": csrf(page)})
        self.api = self.app.test_client()

    # --- filing through the forms and the API ----------------------------------------------

    def detail(self, address: str | None, filer: str | None = None) -> str:
        """A unique detail for one report, and who may read it: its person, and the staff
        member who wrote it down for them."""
        self.serial += 1
        word = f"order {40000 + self.serial * 7}"
        self.words[word] = {(address or "").lower(), filer or ""} - {""}
        return word

    def file_public(self, text, name, address, problem_id=None):
        page = self.public.get("/").get_data(as_text=True)
        data = {"text": text, "name": name or "", "email": address or "", "csrf_token": csrf(page),
                "problem_choice": str(problem_id) if problem_id else "new", "suggestions_seen": "1",
                "shown": re.search(r'name="shown" type="hidden" value="([^"]*)"', page).group(1)}
        if address:
            data["contact_ok"] = "y"
        response = self.public.post("/", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        self.public.get(response.headers["Location"])  # the thank-you page

    def file_staff(self, text, name, address, problem_id=None):
        page = self.staff.get("/staff/report").get_data(as_text=True)
        data = {"text": text, "on_behalf": "customer", "customer_name": name or "Customer",
                "customer_email": address or "", "csrf_token": csrf(page),
                "problem_choice": str(problem_id) if problem_id else "new", "suggestions_seen": "1"}
        if address:
            data["customer_contact_ok"] = "y"
        response = self.staff.post("/staff/report", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    def file_api(self, text, name, address, problem_id=None):
        body = {"text": text, "name": name or "Caller", "email": address, "contact_ok": bool(address)}
        if problem_id:
            body["problem_id"] = problem_id
        response = self.api.post("/api/v1/reports", json=body, headers={"Authorization": f"Bearer {self.api_token}"})
        assert response.status_code == 201, response.get_data(as_text=True)

    # --- the month ----------------------------------------------------------------------------

    def plan(self):
        """Who files what, when: 139 people, 156 reports (17 people twice)."""
        filings = []
        people = []
        for n in range(139):
            theme = n % len(THEMES)
            kind = self.rng.random()
            address = None if kind < 0.10 else f"person{n}@example.net"
            channel = "public" if kind < 0.70 else "staff" if kind < 0.85 else "api"
            people.append((n, theme, address, channel))
            day = self.rng.uniform(0, 20) if theme >= 0 else 0
            filings.append((day, n, theme, address, channel))
        twice = self.rng.sample([p for p in people if p[2]], 17)
        for n, theme, address, channel in twice:
            variant = address.upper() if n % 2 else address.title()
            filings.append((self.rng.uniform(2, 27), n, theme, variant, "public"))
        # Late duplicates after the changes are published: new problems merged in later.
        return sorted(filings)

    def tick(self, until: datetime):
        """Advance the clock, running the sender every 30 minutes (the mail server may be down)."""
        while self.now < until:
            self.now = min(until, self.now + timedelta(minutes=30))
            down = self.outage[0] <= self.now < self.outage[1]
            if down and not self.mail_down:
                self.smtp.stop()
                self.mail_down = True
            elif not down and self.mail_down:
                self.smtp.start()
                self.mail_down = False
            with self.app.app_context(), clock_at(self.now):
                from app.messaging.mail import deliver_due

                deliver_due()

    def run(self):

        self.setup()
        problem_of_theme: dict[int, int] = {}
        themed_text = {}
        for day, n, theme, address, channel in self.plan():
            self.tick(START + timedelta(days=day))
            words, _ = THEMES[theme]
            if channel == "staff":
                text = f"Customer came to the counter upset: {words} ({self.detail(address, 'frankie@example.org')})."
            else:
                text = f"{words.capitalize()}. It cost me an afternoon ({self.detail(address)})."
            name = f"Person {n}" if address or self.rng.random() < 0.5 else None
            target = problem_of_theme.get(theme)
            with self.app.app_context():
                target_problem = db.session.get(Problem, target) if target else None
                open_titled = target_problem is not None and target_problem.is_open and target_problem.public_title
            me_too = open_titled and self.rng.random() < 0.6
            self.scenario[f"filed through the {channel} {'form' if channel != 'api' else ''}".strip()] += 1
            self.scenario["said \"me too\""] += bool(me_too)
            filer = {"public": self.file_public, "staff": self.file_staff, "api": self.file_api}[channel]
            with clock_at(self.now):
                filer(text, name, address, target if me_too else None)
            with self.app.app_context():
                newest = db.session.scalar(db.select(Report).order_by(Report.id.desc()).limit(1))
                problem_of_theme.setdefault(theme, newest.problem_id)
                themed_text.setdefault(newest.problem_id, theme)
            self.leaders_act(problem_of_theme)
        self.tick(START + timedelta(days=29))
        self.leaders_act(problem_of_theme, final=True)
        self.tick(START + timedelta(days=31))
        return self.figures()

    def leaders_act(self, problem_of_theme, final=False):
        """Triage and decisions, as the views call the services (one commit each)."""
        from app import services
        from app.services.grouping import merge_problems

        day = (self.now - START).days
        with self.app.app_context(), clock_at(self.now):
            from app.models import User

            sam = db.session.get(User, self.leaders[0])
            for theme, (words, outcome) in enumerate(THEMES):
                main_id = problem_of_theme.get(theme)
                if main_id is None:
                    continue
                main = db.session.get(Problem, main_id)
                # Every other problem of the same theme (filed as new) is merged into the main one:
                # housekeeping before an owner, or a late join after its change is published.
                others = db.session.scalars(db.select(Problem).join(Report).where(
                    Problem.merged_into_id.is_(None), Problem.id != main.id,
                    Report.text.contains(words.capitalize()) | Report.text.contains(words))
                    .distinct()).all()
                for other in others:
                    if other.owner_id is None and (day >= 2 or final):
                        late = not main.is_open
                        self.scenario["late joins (merged into a decided problem)" if late else
                                      "triage merges before an owner" if main.owner_id is None else
                                      "merges into an owned problem"] += len(other.reports)
                        merge_problems(other, main, sam)
                        db.session.commit()
                if day >= 3 and main.owner_id is None:
                    services.assign_owner(main, sam, sam)
                    services.edit_problem(main, sam, title=f"Theme {theme}", area=None, due_on=None,
                                          public_title=words.capitalize())
                    db.session.commit()
                decide_on = 8 + theme  # decisions on days 8–19; those on day 15 fall in the outage
                if main.owner_id is not None and day >= decide_on and main.is_open:
                    if outcome == "changed":
                        services.record_change(main, sam, since=self.now.date(),
                                               what=f"We fixed it: {words} no longer happens because the "
                                                    "process behind it was changed for everyone.")
                        services.publish(main, sam, public_title=words.capitalize(),
                                         public_summary="Changed for everyone.")
                        db.session.commit()
                    elif outcome == "declined":
                        services.decline(main, sam, "We cannot do this this year; here is why, in plain words "
                                                    "for everyone who asked.")
                        db.session.commit()

    # --- the figures ------------------------------------------------------------------------

    def figures(self) -> dict:
        with self.app.app_context():
            received = self.smtp.inbox.messages
            by_id = Counter(m["Message-ID"] for m in received)
            rows = {f"<careloop-message-{m.id}.{m.problem_id or 0}@example.org>": m
                    for m in db.session.scalars(db.select(Message))}
            outcome_problems = {p.id: p for p in db.session.scalars(db.select(Problem).where(
                Problem.merged_into_id.is_(None), Problem.status.in_(("changed", "declined"))))}
            # People: an address with consent to email, with a report in a problem with an outcome.
            people: dict[str, set[int]] = defaultdict(set)
            for report in db.session.scalars(db.select(Report).join(Reporter)):
                if report.reporter.can_be_emailed and report.problem_id in outcome_problems:
                    people[report.reporter.email].add(report.problem_id)
            told = Counter()
            for mail in received:
                row = rows.get(mail["Message-ID"])
                if row and row.kind in (MessageKind.CHANGED, MessageKind.DECLINED):
                    told[(mail["To"], row.problem_id)] += 0 if by_id[mail["Message-ID"]] == 0 else 1
            once = twice = never = 0
            for address, problem_ids in people.items():
                counts = [told[(address, pid)] for pid in problem_ids]
                if all(c == 1 for c in counts):
                    once += 1
                elif any(c > 1 for c in counts):
                    twice += 1
                else:
                    never += 1
            foreign = 0
            for mail in received:
                body = mail.get_body(("plain",)).get_content() + mail["Subject"]
                for word in re.findall(r"order \d+", body):
                    if mail["To"].lower() not in self.words.get(word, ()):
                        foreign += 1
                        self.problems.append(f"{mail['To']} read {word} ({mail['Subject']})")
                        break
            first_owner = dict(db.session.execute(db.select(Event.problem_id, db.func.min(Event.created_at))
                                                  .where(Event.verb == TOOK_OWNERSHIP).group_by(Event.problem_id))
                               .all())
            housekeeping = 0
            for mail in received:
                row = rows.get(mail["Message-ID"])
                if row is None or row.kind in (MessageKind.RECEIPT, MessageKind.LINK_AGAIN, MessageKind.STAFF_COPY):
                    continue
                owned_at = first_owner.get(row.problem_id)
                if owned_at is None or row.created_at < owned_at:
                    housekeeping += 1
            sent_rows = [m for m in rows.values() if m.to_address and "@" in m.to_address]
            stuck = [m for m in sent_rows if m.status != MessageStatus.SENT]
            lost = [m for key, m in rows.items() if m.status == MessageStatus.SENT and "@" in m.to_address
                    and by_id[key] == 0]
            self.problems += [f"stuck #{m.id} {m.kind} {m.status} {m.last_error}" for m in stuck]
            self.problems += [f"lost #{m.id} {m.kind} to {m.to_address}" for m in lost]
            stuck, lost = len(stuck), len(lost)
            duplicates = sum(n - 1 for n in by_id.values() if n > 1)
            retried = sum(1 for m in rows.values() if m.status == MessageStatus.SENT and m.attempts > 1)
            self.scenario["emails sent after failed tries (the outage)"] = retried
            filed_twice = db.session.scalar(db.select(db.func.count()).select_from(
                db.select(Reporter.email).where(Reporter.email.is_not(None)).group_by(Reporter.email)
                .having(db.func.count(Reporter.id) > 1).subquery()))
            self.scenario["people who filed twice"] = filed_twice
            reports = db.session.scalar(db.select(db.func.count(Report.id)))
            reporters = db.session.scalar(db.select(db.func.count(db.distinct(db.func.lower(Reporter.email)))))
            return {
                "reports": reports, "addresses": reporters, "emails_received": len(received),
                "changed": sum(1 for p in outcome_problems.values() if p.status == "changed"),
                "declined": sum(1 for p in outcome_problems.values() if p.status == "declined"),
                "outage_hours": (self.outage[1] - self.outage[0]).total_seconds() / 3600,
                "reachable_people": len(people), "told_exactly_once": once,
                "told_exactly_once_pct": round(100 * once / max(len(people), 1), 1),
                "told_twice": twice, "not_told": never, "quoting_someone_else": foreign,
                "housekeeping_before_owner": housekeeping, "lost_or_stuck_after_outage": stuck + lost + duplicates,
            }


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.mkdtemp(prefix="careloop-month-")
        url = f"sqlite:///{tmp}/month.sqlite"
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    month = Month(url)
    try:
        figures = month.run()
    finally:
        month.smtp.stop()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.replace('_', ' '):<{width}}  {value}")
    print("What the month exercised:")
    for key, value in month.scenario.items():
        print(f"  {key}: {value}")
    for line in month.problems[:20]:
        print("  !", line)
    print(json.dumps(figures))
    ok = (figures["told_exactly_once"] == figures["reachable_people"] > 0 and not figures["told_twice"]
          and not figures["not_told"] and not figures["quoting_someone_else"]
          and not figures["housekeeping_before_owner"] and not figures["lost_or_stuck_after_outage"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
