"""Any text a person can type goes through the public and staff forms and is either stored
exactly (after the documented normalisation) or refused with a message next to the field,
with nothing stored; the same on SQLite and PostgreSQL.

The rule (``app/services/reports.py``, ``clean_text``): line breaks become LF (CRLF and CR),
leading and trailing whitespace is trimmed, text longer than ``CARELOOP_MAX_REPORT_CHARS``
after that is refused (never cut), and control characters other than tab and line breaks
(C0, DEL, C1: Unicode category Cc) and lone surrogates (Cs) are refused. Everything else
(emoji, combining marks, right-to-left text, zero-width characters, markup) is kept as typed.
"""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app import services
from app.extensions import db
from app.models import Channel, Report, Role
from app.services.errors import ServiceError

LIMIT = 120  # a small limit for the generated examples; the real default is tested below

PIECES = [
    "\t", "\n", "\r", "\r\n", " ", "\u00a0", "\u3000", "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f",
    "\x7f", "\x80", "\x85", "\x9f", "\u200b", "\u200d", "\u200e", "\u200f", "\u202e", "\u2028", "\u2029",
    "\ufeff", "\ufffd", "e\u0301", "a\u0308\u0323", "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd",
    "😀", "👩\u200d👩\u200d👧", "🏳️\u200d🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "&amp;", "&lt;b&gt;", "<script>alert(1)</script>",
    "</blockquote>", "{{ 7*7 }}", "%(name)s", "'\"", "\\", "Ω", "ß", "İ", "ǅ",
]
texts = st.one_of(
    st.text(max_size=60),  # any code point but surrogates
    st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=25).map("".join),
    st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"]), min_size=LIMIT - 4,
            max_size=LIMIT + 4),  # around the limit
)


def expected(raw: str, limit: int = LIMIT) -> str | None:
    """What must be stored for ``raw``, or None when it must be refused (an independent oracle)."""
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r" for c in raw):
        return None
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text or len(text) > limit:
        return None
    return text


def refusal_reason(raw: str, limit: int = LIMIT) -> str:
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r" for c in raw):
        return "contains a character we cannot store (U+"
    if not raw.replace("\r\n", "\n").replace("\r", "\n").strip():
        return "required" if raw else "Tell us what happened"
    return f"the limit is {limit}"


@pytest.fixture
def small_limit(app_ctx):
    app_ctx.config["CARELOOP_MAX_REPORT_CHARS"] = LIMIT
    yield LIMIT
    app_ctx.config["CARELOOP_MAX_REPORT_CHARS"] = 10000


def _reports() -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(Report.id)))


def _shown_words(client, token: str) -> list[str]:
    """The person's words as their private page shows them, HTML-unescaped."""
    page = client.get(f"/r/{token}").get_data(as_text=True)
    return [html.unescape(m) for m in re.findall(r'<blockquote class="their-words"[^>]*>(.*?)</blockquote>', page, re.DOTALL)]


def _assert_refused(response, raw: str, before: int) -> None:
    assert response.status_code == 422, repr(raw)
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="error" id="text-error">(.*?)</p>', page, re.DOTALL)
    assert error, "the message belongs next to the text field"
    assert refusal_reason(raw) in html.unescape(error.group(1))
    assert _reports() == before


@given(raw=texts)
@example(raw="line one\r\nline two\rline three")
@example(raw="  \t trimmed \n ")
@example(raw="NUL\x00inside")
@example(raw="x" * LIMIT)
@example(raw="x" * (LIMIT + 1))
@example(raw="\u202eRTL override \u0645\u0631\u062d\u0628\u0627 👩\u200d👩\u200d👧 e\u0301")
def test_the_public_form_stores_exactly_or_refuses(client, small_limit, raw):
    before = _reports()
    response = client.post("/", data={"text": raw, "problem_choice": "new", "name": "Prop Tester"})
    want = expected(raw)
    if want is None:
        _assert_refused(response, raw, before)
        return
    assert response.status_code == 302, (raw, response.get_data(as_text=True)[:500])
    token = response.headers["Location"].split("/r/")[1].split("/")[0]
    assert _reports() == before + 1
    report = db.session.scalar(db.select(Report).order_by(Report.id.desc()))
    assert report.text == want
    assert _shown_words(client, token) == [want]


@given(raw=texts)
@example(raw="tab\there, CRLF\r\nthere")
@example(raw="\x7fDEL")
@example(raw="\x85 NEL is a C1 control")
def test_the_staff_form_stores_exactly_or_refuses(client, auth, make_user, small_limit, raw):
    with client.session_transaction() as session:
        signed_in = "_user_id" in session
    if not signed_in:
        auth.login(make_user(Role.STAFF))
    before = _reports()
    response = client.post("/staff/report", data={
        "on_behalf": "customer", "customer_name": "Prop Customer", "text": raw, "problem_choice": "new"})
    want = expected(raw)
    if want is None:
        _assert_refused(response, raw, before)
        return
    assert response.status_code == 302, (raw, response.get_data(as_text=True)[:500])
    assert _reports() == before + 1
    report = db.session.scalar(db.select(Report).order_by(Report.id.desc()))
    assert report.text == want and report.channel == Channel.STAFF
    assert _shown_words(client, report.reporter.token) == [want]


@given(before=st.text(max_size=20), surrogate=st.integers(0xD800, 0xDFFF), after=st.text(max_size=20))
def test_lone_surrogates_are_refused_by_the_service_on_every_database(app_ctx, before, surrogate, after):
    """Python strings can hold lone surrogates (forms cannot send them: see the next test);
    neither database can store them, so the service refuses them with a message."""
    raw = before + chr(surrogate) + after
    try:
        with pytest.raises(ServiceError) as refused:
            services.file_report(text=raw, reporter=services.new_reporter(), channel=Channel.WEB)
        assert refused.value.field == "text"
        assert "contains a character we cannot store (U+" in refused.value.message
    finally:
        db.session.rollback()
    assert _reports() == 0


@pytest.mark.parametrize("encoded", [
    b"%ED%A0%80",  # a surrogate encoded as UTF-8: not valid UTF-8
    b"%FF%FE",
    b"%C3",  # a sequence cut short
])
def test_bytes_that_are_not_utf8_are_kept_as_their_percent_escapes(client, encoded):
    """Werkzeug leaves an invalid UTF-8 sequence percent-encoded, so such a form is stored
    as the visible text it arrived as: no lone surrogate ever reaches the database."""
    body = b"problem_choice=new&text=before" + encoded + b"after"
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    assert db.session.scalar(db.select(Report.text)) == f"before{encoded.decode()}after"


def test_the_real_limit_keeps_ten_thousand_characters_and_refuses_one_more(client, app_ctx):
    limit = app_ctx.config["CARELOOP_MAX_REPORT_CHARS"]
    assert limit == 10000
    long_words = ("ä😀" * limit)[:limit]
    response = client.post("/", data={"text": long_words + "x", "problem_choice": "new"})
    assert response.status_code == 422
    assert "10,001 characters long; the limit is 10,000" in response.get_data(as_text=True)
    assert long_words in response.get_data(as_text=True)  # kept for the person to shorten
    assert _reports() == 0
    response = client.post("/", data={"text": long_words, "problem_choice": "new"})
    assert response.status_code == 302
    assert db.session.scalar(db.select(Report.text)) == long_words
