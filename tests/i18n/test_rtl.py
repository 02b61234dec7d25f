"""Arabic in a real browser: the pages are mirrored right to left and still accessible.

Chromium (Debian's, through Playwright) loads the home page, "We changed this" and a
leader's problem page with the ``careloop_lang=ar`` cookie, on a desktop and on a 390 px
phone, and checks what a reader of Arabic sees: the page runs right to left, the brand is
at the right of the header with the navigation to its left, form labels sit at the right
edge of their fields, nothing spills sideways, and axe-core finds nothing serious.
Screenshots land in ``test-artifacts/screenshots/rtl-*.png``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import services
from app.extensions import db
from app.models import Role, User
from tests.e2e.conftest import (  # noqa: F401 - the browser tests' fixtures, shared here
    AxeChecker,
    Person,
    axe,
    axe_page,
    base_url,
    browser_type_launch_args,
    create_user,
    live_server,
    live_server_url,
    published_change,
    shot,
)

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _arabic_page(new_context, live_server_url, **options):
    """A page with the Arabic cookie set; CSP bypassed only so axe-core can be injected."""
    context = new_context(bypass_csp=True, **options)
    context.add_cookies([{"name": "careloop_lang", "value": "ar", "url": live_server_url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not on the page"
    return box


def _text_box(page, selector: str) -> dict:
    """Where an element's text is drawn (not its block box, which spans the whole width)."""
    return page.locator(selector).first.evaluate(
        """el => { const r = document.createRange(); r.selectNodeContents(el);
                   const b = r.getBoundingClientRect(); return {left: b.left, right: b.right}; }""")


def assert_mirrored(page, *, same_row_nav: bool) -> None:
    assert page.evaluate("document.dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    header = _box(page, ".header-row")
    brand = _box(page, ".brand")
    # The brand starts the header: at its right edge (inside the 1rem padding).
    assert abs((brand["x"] + brand["width"]) - (header["x"] + header["width"] - 16)) < 3, (brand, header)
    links = page.locator("nav .nav a")
    first, second = links.nth(0).bounding_box(), links.nth(1).bounding_box()
    # The navigation reads from right to left: its first link is to the right of the second.
    assert first["x"] > second["x"] + second["width"] - 1, (first, second)
    if same_row_nav:
        nav = _box(page, "nav .nav")
        assert nav["x"] + nav["width"] <= brand["x"] + 1, (nav, brand)
    # Nothing is pushed out sideways (no horizontal scrolling).
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")


def assert_label_at_the_right(page, label: str, field: str) -> None:
    assert page.locator(label).first.evaluate("el => getComputedStyle(el).textAlign") in ("start", "right")
    text = _text_box(page, label)
    box = _box(page, field)
    right_edge = box["x"] + box["width"]
    assert abs(text["right"] - right_edge) < 3, (text, box)
    assert text["left"] > box["x"] + 20, (text, box)  # the text hugs the right, not the left


def test_public_pages_are_mirrored_in_arabic(new_context, live_server, live_server_url, published_change, axe):
    axe.require_installed()
    for name, options in (("desktop", DESKTOP), ("phone", PHONE)):
        page = _arabic_page(new_context, live_server_url, **options)
        page.goto("/")
        expect(page.get_by_role("heading", level=1)).to_have_text("أخبرنا بما لا يعمل")
        assert_mirrored(page, same_row_nav=name == "desktop")
        assert_label_at_the_right(page, "label[for=text]", "#text")
        assert_label_at_the_right(page, "label[for=email]", "#email")
        # An email address is typed left to right, at the right-hand edge like everything else.
        assert page.locator("#email").evaluate("el => getComputedStyle(el).direction") == "ltr"
        axe.check(page, f"home, Arabic, {name}")
        shot(page, f"rtl-{name}-home")

        page.goto("/changes")
        expect(page.get_by_role("link", name=published_change.public_title)).to_be_visible()
        assert_mirrored(page, same_row_nav=name == "desktop")
        axe.check(page, f"/changes, Arabic, {name}")
        shot(page, f"rtl-{name}-changes")
        page.context.close()
    axe.assert_clean()


def _sign_in_in_arabic(page, person: Person) -> None:
    page.goto("/login")
    page.locator("#email").fill(person.email)
    page.locator("#password").fill(person.password)
    page.locator("main button[type=submit]").click()
    page.get_by_text(f"سجّلت الدخول باسم {person.name}.").wait_for()


def test_a_leaders_problem_page_is_mirrored_in_arabic(app, new_context, live_server, live_server_url,
                                                      create_user, axe):
    axe.require_installed()
    leader = create_user(Role.LEADER, name="Dana Okafor")
    with app.app_context():
        dana = db.session.scalar(db.select(User).filter_by(email=leader.email))
        reporter = services.new_reporter(name="ليلى حداد", email="layla@example.net", contact_ok=True)
        report = services.file_report(text="آلة الدفع عند المكتب الأمامي ترفض البطاقات اللاتلامسية كل صباح.",
                                      reporter=reporter, location="Billing")
        services.assign_owner(report.problem, dana, dana)
        db.session.commit()
        problem_id = report.problem_id

    for name, options in (("desktop", DESKTOP), ("phone", PHONE)):
        page = _arabic_page(new_context, live_server_url, **options)
        _sign_in_in_arabic(page, leader)
        page.goto(f"/problems/{problem_id}")
        expect(page.get_by_role("heading", name="ما الخطوة التالية")).to_be_visible()
        assert_mirrored(page, same_row_nav=False)
        if name == "desktop":
            # The two columns swap sides: the reports at the right, "What happens next" at the left.
            main, actions = _box(page, ".problem-main"), _box(page, ".problem-actions")
            assert actions["x"] + actions["width"] <= main["x"] + 1, (main, actions)
            # The person's words are quoted with the bar on their right-hand side.
            quote = page.locator("blockquote.their-words").first
            assert quote.evaluate("el => getComputedStyle(el).borderRightWidth") == "4px"
        assert_label_at_the_right(page, "label[for=text]", "#text")  # the internal note
        axe.check(page, f"problem page, Arabic, {name}")
        shot(page, f"rtl-{name}-leader-problem")

        page.locator("#what").fill("آسف.")
        page.get_by_role("button", name="وسمها بأنها غُيّرت").click()
        expect(page.locator("#what-error")).to_be_visible()
        assert_label_at_the_right(page, "label[for=what]", "#what")
        axe.check(page, f"problem page with an error, Arabic, {name}")
        page.context.close()
    axe.assert_clean()


def test_the_dashboard_charts_stay_readable_in_arabic(app, new_context, live_server, live_server_url,
                                                      create_user, published_change, axe):
    axe.require_installed()
    leader = create_user(Role.LEADER, name="Sam Reyes")
    page = _arabic_page(new_context, live_server_url, **DESKTOP)
    _sign_in_in_arabic(page, leader)
    page.goto("/dashboard")
    chart = page.locator("#chart-owners")
    expect(chart).to_be_visible()
    # The charts keep their left-to-right drawing, so every label stays inside the picture.
    assert chart.evaluate("el => getComputedStyle(el).direction") == "ltr"
    inside = chart.evaluate("""svg => { const b = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].every(t => { const r = t.getBoundingClientRect();
          return r.width === 0 || (r.left >= b.left - 1 && r.right <= b.right + 60); }); }""")
    assert inside
    # An Arabic label starts with an Arabic letter, so it reads right to left inside the drawing.
    label = page.locator("#chart-handoffs text", has_text="مرات أو أكثر").first
    assert label.evaluate("t => t.textContent.startsWith('\u2068') && t.textContent.endsWith('\u2069')")
    axe.check(page, "dashboard, Arabic")
    shot(page, "rtl-desktop-dashboard")
    page.goto("/backlog")
    assert_mirrored(page, same_row_nav=False)
    axe.check(page, "backlog, Arabic")
    shot(page, "rtl-desktop-backlog")
    axe.assert_clean()
