"""Careloop in German: the public side, signing in, errors and email, chosen by the
switcher, the cookie or the browser; dates and numbers in German; a German reporter
hears back in German, quoting their own words as they wrote them."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date, datetime

import pytest
from flask import current_app
from flask_babel import force_locale, refresh

from app import services
from app.extensions import db
from app.models import Message, MessageKind, Report, Role, clock_at
from app.templating import format_date, format_datetime, format_duration, format_number
from tests.i18n import english_left, visible_text

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
CHANGE = "Erstattungen gehen jetzt innerhalb von 3 Werktagen auf die ursprüngliche Karte zurück."
WORDS = "Meine Erstattung für den Wasserkocher dauert schon <fünf Wochen> & mehr."


def assert_german(text: str, *phrases: str) -> None:
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} missing"
    leftovers = english_left(text)
    assert not leftovers, f"English left in the German text: {leftovers}"


@pytest.fixture
def published(make_user, make_report):
    """A change published on "We changed this", first reported by a German reporter."""
    leader = make_user(Role.LEADER, name="Dana Okafor", email="dana@example.org")
    with _german_request(), clock_at(datetime(2026, 11, 20, 9, 30)):
        report = make_report(text=WORDS, name="Jonas Weber", email="jonas@example.net")
    problem = report.problem
    with clock_at(datetime(2026, 11, 23, 10, 0)):
        services.assign_owner(problem, leader, leader)
        services.record_change(problem, leader, since=date(2026, 11, 22), what=CHANGE,
                               evidence_url="https://example.org/hinweise/erstattungen")
        services.publish(problem, leader, public_title="Schnellere Erstattungen",
                         public_summary="Erstattungen laufen jetzt täglich.")
        db.session.commit()
    return {"leader": leader, "report": report, "problem": problem, "reporter": report.reporter}


@contextmanager
def _german_request():
    """A request from a German browser inside the test's application context. Flask-Babel
    caches the locale in ``g``, which that context shares: start and end afresh."""
    with current_app.test_request_context("/", headers=GERMAN):
        refresh()
        try:
            yield
        finally:
            refresh()


# --- pages -----------------------------------------------------------------------


def test_the_public_pages_speak_german(client, published):
    reporter = published["reporter"]
    problem = published["problem"]
    pages = {
        "/": ("Sagen Sie uns, was nicht funktioniert", "Was funktioniert nicht?", "Meine Meldung senden",
              "Kürzlich geändert, weil Menschen es uns gesagt haben"),
        "/changes": ("Das haben wir geändert", "Was anders ist", "Gemeldet von", "1 Person"),
        f"/changes/{problem.id}": ("Schnellere Erstattungen", "Seit", "22. November 2026", "← Alle Änderungen"),
        f"/r/{reporter.token}": ("Ihre Meldung", "Geändert", "hat die Änderung umgesetzt", "Tritt das bei Ihnen weiterhin auf?"),
        f"/r/{reporter.token}/thanks": ("Vielen Dank. Wir haben Ihre Meldung erhalten.", "Ihr privater Link"),
        f"/r/{reporter.token}/unsubscribe": ("E-Mails zu Ihren Meldungen abbestellen?", "Alle E-Mails abbestellen"),
        "/login": ("Anmeldung für Mitarbeitende", "Passwort", "Auf diesem Gerät angemeldet bleiben"),
    }
    for url, phrases in pages.items():
        response = client.get(url, headers=GERMAN)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert '<html lang="de" dir="ltr">' in page, url
        assert_german(visible_text(page), *phrases)


def test_form_errors_and_error_pages_in_german(client):
    response = client.post("/", data={"text": "", "email": "kein-at-zeichen"}, headers=GERMAN)
    assert response.status_code == 422
    assert_german(visible_text(response.get_data(as_text=True)),
                  "Bitte prüfen Sie die unten markierten Felder.",
                  "Erzählen Sie uns in Ihren eigenen Worten, was passiert ist.",
                  "Das sieht nicht wie eine E-Mail-Adresse aus.")
    missing = client.get("/gibt-es-nicht", headers=GERMAN)
    assert missing.status_code == 404
    assert_german(visible_text(missing.get_data(as_text=True)),
                  "Fehler 404", "Wir konnten diese Seite nicht finden", "Zur Startseite")
    refused = client.post("/login", data={"email": "niemand@example.org", "password": "falsch"}, headers=GERMAN)
    assert "Diese E-Mail-Adresse und dieses Passwort passen zu keinem aktiven Konto." in visible_text(
        refused.get_data(as_text=True))


def test_a_too_long_report_is_refused_in_german_with_german_numbers(client, app_ctx):
    limit = app_ctx.config["CARELOOP_MAX_REPORT_CHARS"]
    app_ctx.config["CARELOOP_MAX_REPORT_CHARS"] = 1000
    try:
        response = client.post("/", data={"text": "x" * 1001}, headers=GERMAN)
    finally:
        app_ctx.config["CARELOOP_MAX_REPORT_CHARS"] = limit
    assert response.status_code == 422
    text = visible_text(response.get_data(as_text=True))
    assert "„Was nicht funktioniert“ ist 1.001 Zeichen lang; erlaubt sind höchstens 1.000." in text


# --- choosing the language ---------------------------------------------------------


def test_the_switcher_is_a_form_in_the_header_naming_each_language_in_itself(client):
    page = client.get("/changes").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/language".*?</form>', page, re.S).group(0)
    assert 'name="csrf_token"' in form and 'name="next" value="/changes"' in form
    assert '<span class="lang-current" lang="en" aria-current="true">English</span>' in form
    assert '<button class="link" type="submit" name="lang" value="de" lang="de">Deutsch</button>' in form
    assert 'value="ar" lang="ar">العربية</button>' in form


def test_the_switcher_sets_a_cookie_for_a_year_and_returns_to_the_page(client):
    response = client.post("/language", data={"lang": "de", "next": "/changes?page=1"})
    assert response.status_code == 302 and response.headers["Location"] == "/changes?page=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("careloop_lang=de;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    # The next page is German, even for a browser that asks for English.
    page = client.get("/changes?page=1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="de"' in page and "Das haben wir geändert" in page
    assert '<span class="lang-current" lang="de" aria-current="true">Deutsch</span>' in page
    # And back.
    client.post("/language", data={"lang": "en", "next": "/changes"})
    assert "We changed this" in client.get("/changes", headers=GERMAN).get_data(as_text=True)


def test_the_switcher_stays_on_this_site_and_ignores_unknown_languages(client):
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)", ""):
        response = client.post("/language", data={"lang": "de", "next": target})
        assert response.headers["Location"] == "/", target
    response = client.post("/language", data={"lang": "fr", "next": "/changes"})
    assert response.headers["Location"] == "/changes" and "Set-Cookie" not in response.headers


def test_the_switcher_needs_its_csrf_token(client, app_ctx):
    app_ctx.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/language", data={"lang": "de", "next": "/changes"})
    assert response.status_code == 400 and "careloop_lang" not in response.headers.get("Set-Cookie", "")


def test_the_browser_language_is_used_and_an_unknown_one_falls_back_to_english(client):
    assert '<html lang="de"' in client.get("/", headers={"Accept-Language": "de-AT"}).get_data(as_text=True)
    for header in ({"Accept-Language": "fr-FR,fr;q=0.9"}, {}):
        page = client.get("/", headers=header).get_data(as_text=True)
        assert '<html lang="en" dir="ltr">' in page and "Tell us what isn't working" in page
    client.set_cookie("careloop_lang", "xx")
    assert '<html lang="de"' in client.get("/", headers=GERMAN).get_data(as_text=True)


def test_the_feed_follows_the_language(client, published):
    feed = client.get("/changes.atom", headers=GERMAN).get_data(as_text=True)
    assert "<language>de</language>" in feed or 'xml:lang="de"' in feed
    assert "Das haben wir geändert" in feed and "Seit dem 22. November 2026." in feed


# --- a German reporter's messages ------------------------------------------------------


def test_filing_in_german_stores_the_language(client):
    response = client.post("/", data={"text": WORDS, "name": "Jonas Weber", "email": "jonas@example.net",
                                      "contact_ok": "y"}, headers=GERMAN)
    assert response.status_code == 302
    report = db.session.scalar(db.select(Report))
    assert report.locale == "de" and report.reporter.locale == "de"
    assert report.text == WORDS
    thanks = client.get(response.headers["Location"], headers=GERMAN).get_data(as_text=True)
    assert "Wir schreiben außerdem an jonas@example.net, wenn sich etwas ändert." in visible_text(thanks)


def test_without_a_request_reports_get_the_default_language(make_report):
    report = make_report(text="Imported from the help desk.")
    assert report.locale == "en" and report.reporter.locale == "en"


def test_a_german_reporter_hears_we_changed_this_in_german_quoting_their_words(published, make_report):
    reporter = published["reporter"]
    changed = db.session.scalar(db.select(Message).where(Message.kind == MessageKind.CHANGED,
                                                         Message.reporter_id == reporter.id))
    assert changed.subject == "Das haben wir geändert: Schnellere Erstattungen"
    text = changed.body_text
    assert WORDS in text  # their words, unchanged (plain text: nothing escaped)
    assert_german(text, "Guten Tag Jonas Weber,", "Am 20. November 2026 haben Sie uns geschrieben:",
                  "Das haben wir geändert. Was jetzt anders ist:", CHANGE,
                  "Anders seit dem 22. November 2026.",
                  "Dana Okafor war für dieses Problem verantwortlich und hat die Änderung umgesetzt.",
                  "Ihre private Seite dazu:", "Diese E-Mails abbestellen:")
    html = changed.body_html
    assert '<html lang="de" dir="ltr">' in html
    assert "Meine Erstattung für den Wasserkocher dauert schon &lt;fünf Wochen&gt; &amp; mehr." in html
    assert_german(visible_text(html), "Guten Tag Jonas Weber,", "Nachweis ansehen", "Diese E-Mails abbestellen")
    owned = db.session.scalar(db.select(Message).where(Message.kind == MessageKind.OWNED,
                                                       Message.reporter_id == reporter.id))
    assert owned.subject == "Dana Okafor ist jetzt für das Problem verantwortlich, das Sie uns gemeldet haben"


def test_english_reporters_and_staff_copies_stay_in_the_default_language(published, make_user, make_report):
    staff = make_user(Role.STAFF, name="Frankie Hall", email="frankie@example.org")
    problem = published["problem"]
    customer = services.new_reporter(name="Aisha Khan", email="aisha@example.net", contact_ok=True)
    services.file_report(text="Refund a month late.", reporter=customer, problem=problem,
                         channel="staff", filed_by=staff)
    services.reopen(problem, published["leader"])
    services.decline(problem, published["leader"], "Wir ändern das nicht, weil das neue Gesetz es verlangt.")
    db.session.commit()
    declined = {m.to_address: m for m in db.session.scalars(db.select(Message).where(
        Message.kind.in_([MessageKind.DECLINED, MessageKind.STAFF_COPY])))}
    assert declined["aisha@example.net"].subject == "Our answer about the problem you told us about"
    assert declined["jonas@example.net"].subject == "Unsere Antwort zu dem Problem, das Sie uns gemeldet haben"
    assert "Wir haben entschieden, dies nicht zu ändern" in declined["jonas@example.net"].body_text
    copy = declined["frankie@example.org"]
    assert copy.subject == "Aisha Khan was told: our answer" and "Hello Frankie Hall," in copy.body_text


# --- dates and numbers ---------------------------------------------------------------


def test_dates_durations_and_numbers_follow_the_language(app_ctx):
    day = date(2026, 11, 22)
    moment = datetime(2026, 11, 22, 14, 5)
    start = datetime(2026, 11, 1)
    with _german_request():
        assert format_date(day) == "22. November 2026"
        assert format_datetime(moment) == "22. Nov. 2026, 14:05 UTC"
        assert format_number(12345) == "12.345"
        assert format_duration(start, datetime(2026, 11, 4)) == "3 Tage"
        assert format_duration(start, datetime(2026, 11, 2)) == "24 Stunden"
        assert format_duration(start, datetime(2026, 12, 6)) == "5 Wochen"
        assert format_duration(start, start) == "unter einer Stunde"
        with force_locale("en"):
            assert format_date(day) == "22 November 2026"
    with app_ctx.test_request_context("/"):
        refresh()
        assert format_date(day) == "22 November 2026"
        assert format_datetime(moment) == "22 Nov 2026, 14:05 UTC"
        assert format_number(12345) == "12,345"
        assert format_duration(start, datetime(2026, 11, 2)) == "24 hours"
        assert format_duration(start, datetime(2026, 11, 1, 1, 30)) == "2 hours"


def test_the_export_says_which_language_each_report_was_written_in(client, runner):
    import json

    client.post("/", data={"text": WORDS}, headers=GERMAN)
    client.post("/", data={"text": "The lift at the station is broken again."})
    result = runner.invoke(args=["export", "reports"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert {r["text"]: r["locale"] for r in rows} == {WORDS: "de", "The lift at the station is broken again.": "en"}
