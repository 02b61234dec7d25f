"""Browser tests: Debian's Chromium, driven by Playwright, against a live Careloop server.

One real HTTP server runs for the whole session on a free loopback port, in a
daemon thread, serving the session ``app`` from tests/conftest.py (a database
built by the migrations). Every test starts from empty tables, with CSRF
protection switched ON so the real forms, tokens and cookies are exercised.

Screenshots go to ``test-artifacts/`` at the repository root: named ones of
key pages in ``test-artifacts/screenshots/`` (for people to look at), and a
full-page one of every open page in ``test-artifacts/failures/`` when a test fails.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import services
from app.extensions import db
from app.models import Role, User, utcnow
from tests.conftest import PASSWORD, empty_tables

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
FAILURES = ARTIFACTS / "failures"
AXE_DEFAULT = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


# --- Chromium -----------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium; never a downloaded browser, never the network."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


# --- The live server -------------------------------------------------------------


@pytest.fixture(scope="session")
def live_server_url(app):
    """A real threaded HTTP server for the session ``app``; its base URL, no trailing slash."""
    from .htmlcheck import HtmlRecorder

    # Every HTML page served to the browser is kept for the HTML check (test_zz_valid_html.py).
    server = make_server("127.0.0.1", 0, HtmlRecorder(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="careloop-e2e-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(url + "/changes", timeout=10) as response:
            assert response.status == 200
    except Exception:
        server.shutdown()
        raise
    yield url
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(live_server_url):
    """pytest-playwright passes this to every context, so ``page.goto("/")`` works."""
    return live_server_url


@pytest.fixture
def live_server(app, live_server_url):
    """Empty tables and CSRF on for one test; yields the server's base URL."""
    with app.app_context():
        empty_tables()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield live_server_url
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
        with app.app_context():
            empty_tables()


@pytest.fixture
def page(page, live_server):
    """The plugin's page, on a clean live server; short timeouts so a broken flow fails fast."""
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(15_000)
    return page


@pytest.fixture
def phone_page(new_context, live_server):
    """A page in a phone-sized context (375x740, touch, mobile viewport rules)."""
    context = new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


# --- Data set up through the real services ------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    password: str = PASSWORD


@pytest.fixture
def create_user(app, live_server):
    """Create an account through the service; returns plain data usable from any thread."""
    serial = iter(range(1, 1000))

    def create(role: Role = Role.STAFF, name: str | None = None) -> Person:
        n = next(serial)
        name = name or f"{str(role).title()} Person {n}"
        email = f"{role}{n}@example.org"
        with app.app_context():
            services.create_user(name=name, email=email, role=role, password=PASSWORD)
            db.session.commit()
        return Person(name=name, email=email)

    return create


@pytest.fixture
def file_report_directly(app, live_server):
    """File a report through the service (no browser); returns the new problem's id."""

    def file(text: str, name: str = "Maria Lopez", email: str = "maria@example.net", location=None) -> int:
        with app.app_context():
            reporter = services.new_reporter(name=name, email=email, contact_ok=True)
            report = services.file_report(text=text, reporter=reporter, location=location)
            db.session.commit()
            return report.problem_id

    return file


@dataclass(frozen=True)
class PublishedChange:
    problem_id: int
    public_title: str
    public_summary: str
    what: str
    owner: Person


@pytest.fixture
def published_change(app, live_server, create_user) -> PublishedChange:
    """A problem taken all the way through the workflow by the services: reported,
    owned, changed and published on "We changed this"."""
    owner = create_user(Role.LEADER, name="Aisha Khan")
    title = "Refunds now go back to your card within 3 working days"
    summary = ("Several people told us refunds took weeks and nobody could say when the money "
               "would arrive. Refunds are now sent to the original card automatically.")
    what = ("Refunds are now issued automatically to the original card and arrive within "
            "3 working days; the branch no longer has to request them by post.")
    with app.app_context():
        leader = db.session.scalar(db.select(User).filter_by(email=owner.email))
        reporter = services.new_reporter(name="Tom Price")
        report = services.file_report(
            text="I waited five weeks for a refund and every time I phoned I was told to wait.",
            reporter=reporter,
            location="Billing",
        )
        problem = report.problem
        services.assign_owner(problem, leader, leader)
        services.record_change(problem, leader, what=what, since=utcnow().date() - timedelta(days=7))
        services.publish(problem, leader, public_title=title, public_summary=summary)
        db.session.commit()
        problem_id = problem.id
    return PublishedChange(problem_id, title, summary, what, owner)


def sign_in(page, person: Person) -> None:
    """Sign in through the real form at /login."""
    page.goto("/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {person.name}.").wait_for()


# --- Screenshots -----------------------------------------------------------------


def shot(page, name: str) -> Path:
    """A named full-page screenshot of a key page, kept for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def _fresh_failure_screenshots():
    """Screenshots of earlier runs' failures would mislead; start each run without them."""
    for old in FAILURES.glob("*.png"):
        old.unlink()
    from .htmlcheck import clear

    clear()  # the HTML check covers the pages of this run only


# tryfirst: outside pytest's own xfail handling, so an expected failure is not photographed.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """On a failure, a full-page screenshot of every page the test still has open.

    Taken here, in the report of the failing phase, because the pages are still
    open then; the plugin's fixtures close them during teardown.
    """
    report = yield
    if report.when in ("setup", "call") and report.failed:
        _screenshot_open_pages(item, report)
    return report


def _screenshot_open_pages(item, report) -> None:
    pages = []
    funcargs = getattr(item, "funcargs", {})
    for value in funcargs.values():
        if hasattr(value, "screenshot") and hasattr(value, "is_closed"):
            pages.append(value)
    for value in list(pages):
        pages.extend(p for p in value.context.pages if p not in pages)
    FAILURES.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1]).strip("_")
    for i, page in enumerate(pages):
        if page.is_closed() or page.url == "about:blank":
            continue
        path = FAILURES / f"{slug}{'-' + str(i) if i else ''}.png"
        try:
            page.screenshot(path=str(path), full_page=True, timeout=5_000)
            report.sections.append(("screenshot", f"{path} (of {page.url})"))
        except Exception as error:  # the test's own failure is the one to report
            report.sections.append(("screenshot", f"could not save {path}: {error}"))


# --- axe-core ----------------------------------------------------------------------


def axe_script() -> Path:
    """axe.min.js from AXE_CORE_JS or the project's venv; missing means FAIL, never skip."""
    path = Path(os.environ.get("AXE_CORE_JS") or AXE_DEFAULT)
    if not path.is_file():
        pytest.fail(
            f"axe-core is missing: no file at {path}. Install it with "
            "`npm install --prefix .venv/axe axe-core@4 --no-audit --no-fund` "
            "(or point AXE_CORE_JS at axe.min.js). The accessibility checks cannot run without it.",
            pytrace=False,
        )
    return path


SERIOUS = ("serious", "critical")


def axe_violations(page) -> list[dict]:
    """Run axe-core on the current page; all its violations (every impact)."""
    page.add_script_tag(path=str(axe_script()))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return result["violations"]


def describe_violations(url: str, violations: list[dict]) -> str:
    lines = [f"axe-core found {len(violations)} serious/critical violation(s) on {url}:"]
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}")
            lines.append(f"    html: {node['html'][:200]}")
    return "\n".join(lines)


@pytest.fixture
def axe_page(new_context, live_server):
    """A page whose context may inject axe-core despite the app's strict CSP.

    The app sends ``script-src 'self'``, which (rightly) blocks the inline script
    that ``add_script_tag`` adds; only the accessibility checks bypass it.
    """
    context = new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


class AxeChecker:
    """``check(page, name)`` runs axe-core on a page and collects serious/critical
    violations; ``assert_clean()`` fails with all of them, so one run shows every page."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.checked: list[str] = []

    def check(self, page, name: str) -> None:
        found = axe_violations(page)
        self.checked.append(name)
        minor = [f"{v['id']} ({v['impact']})" for v in found if v.get("impact") not in SERIOUS]
        if minor:
            print(f"axe-core, not failing the test, on {name}: {', '.join(minor)}")
        violations = [v for v in found if v.get("impact") in SERIOUS]
        if violations:
            text = describe_violations(f"{name} ({page.url})", violations)
            print(text)
            self.found.append(text)

    def assert_clean(self) -> None:
        assert not self.found, "\n\n".join(self.found)

    @staticmethod
    def require_installed() -> None:
        """Call first in a test: FAIL (not error, never skip) when axe-core is missing."""
        axe_script()


@pytest.fixture
def axe():
    return AxeChecker()
