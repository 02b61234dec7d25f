"""Rules of a single row and pure helpers: what counts as a change, quotes, titles,
the status workflow, and which ``?next=`` targets are followed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from app.models import TRANSITIONS, Problem, Report, Status, clock_at
from app.services.problems import MIN_CHANGE_CHARS, MIN_CHANGE_WORDS, change_description_problems
from app.services.reports import TITLE_LENGTH, suggested_title
from app.web import is_safe_next

CONCRETE = (
    "Refunds now go back to the original card within 3 working days, "
    "because the refund batch runs every working day."
)
YESTERDAY = date.today() - timedelta(days=1)


# --- change_description_problems -------------------------------------------------


def test_a_concrete_change_with_a_past_date_has_no_problems():
    assert change_description_problems(CONCRETE, YESTERDAY) == {}


def test_a_concrete_change_dated_today_is_accepted():
    with clock_at(datetime(2030, 5, 17, 12, 0)):
        assert change_description_problems(CONCRETE, date(2030, 5, 17)) == {}


@pytest.mark.parametrize(
    "text",
    [
        "We are very sorry for the inconvenience this has caused to all of our customers.",
        "We apologise for this and we regret the trouble it caused you and your family.",
        "Sorry. We apologize. Thank you for your patience with us during this difficult time.",
    ],
)
def test_apology_only_text_is_refused(text):
    problems = change_description_problems(text, YESTERDAY)
    assert set(problems) == {"what"}
    assert problems["what"].startswith("This only apologises or promises.")


@pytest.mark.parametrize(
    "text",
    [
        "We will look into making refunds faster for every customer in the coming months.",
        "We are going to review the refund process and we plan to improve it soon.",
        "The refund process will be reviewed by the finance team next quarter for all cases.",
    ],
)
def test_promise_only_text_is_refused_and_says_what_is_missing(text):
    problems = change_description_problems(text, YESTERDAY)
    message = problems["what"]
    assert message.startswith("This only apologises or promises.")
    assert "Say concretely what is different now" in message
    assert f"at least {MIN_CHANGE_WORDS} words" in message
    assert f"{MIN_CHANGE_CHARS} characters" in message


def test_an_apology_does_not_hide_a_concrete_change_next_to_it():
    text = "We are sorry this happened. " + CONCRETE
    assert change_description_problems(text, YESTERDAY) == {}


def test_an_apology_does_not_count_towards_the_length():
    # The concrete part alone is too short; the apology must not pad it out.
    text = "We are truly sorry for all the inconvenience we caused you. Refunds are faster."
    problems = change_description_problems(text, YESTERDAY)
    assert problems["what"].startswith("This is too short to tell people what is different.")


@pytest.mark.parametrize(
    "text",
    [
        "Fixed it.",
        # enough characters but too few words
        "Refundprocessingimproved substantially everywhereforeveryone today.",
        # enough words but too few characters
        "a b c d e f g h i j",
    ],
)
def test_too_short_text_is_refused(text):
    problems = change_description_problems(text, YESTERDAY)
    assert problems["what"].startswith("This is too short")


def test_exactly_the_minimum_is_accepted():
    text = "Refunds go back to cards in three days now."
    assert len(text.split()) == MIN_CHANGE_WORDS + 1
    padded = text + " " + "x" * max(0, MIN_CHANGE_CHARS - len(text))
    assert change_description_problems(padded, YESTERDAY) == {}


@pytest.mark.parametrize("text", [None, "", "   \n  "])
def test_empty_text_is_refused_without_a_misleading_lead(text):
    problems = change_description_problems(text, YESTERDAY)
    assert problems["what"].startswith("Say concretely what is different now")


def test_missing_date_is_refused():
    problems = change_description_problems(CONCRETE, None)
    assert problems == {"since": "Give the date from which it is different."}


def test_future_date_is_refused():
    with clock_at(datetime(2030, 5, 17, 23, 59)):
        problems = change_description_problems(CONCRETE, date(2030, 5, 18))
    assert set(problems) == {"since"}
    assert "future" in problems["since"]


def test_both_fields_reported_when_both_are_wrong():
    problems = change_description_problems("Sorry about that.", None)
    assert set(problems) == {"what", "since"}


# --- Report.quote -----------------------------------------------------------------


def test_quote_keeps_short_text_and_collapses_whitespace():
    report = Report(text="  The lift\n\nis   broken\tagain.  ")
    assert report.quote() == "The lift is broken again."


def test_quote_at_exactly_the_limit_is_not_trimmed():
    text = "a" * 300
    assert Report(text=text).quote() == text


def test_quote_trims_at_a_word_boundary_and_marks_the_cut():
    report = Report(text="alpha beta gamma delta epsilon")
    assert report.quote(13) == "alpha beta…"  # "alpha beta ga" -> back to the last space


def test_quote_drops_trailing_punctuation_before_the_ellipsis():
    report = Report(text="Refund late, again; nobody calls back, ever.")
    assert report.quote(20) == "Refund late, again…"
    assert report.quote(13) == "Refund late…"


def test_quote_never_exceeds_limit_plus_ellipsis():
    text = " ".join(["word"] * 200)
    quote = Report(text=text).quote(140)
    assert quote.endswith("…")
    assert len(quote) <= 141
    assert not quote[:-1].endswith(" ")


# --- suggested_title --------------------------------------------------------------


def test_suggested_title_keeps_a_short_first_line_whole():
    assert suggested_title("Parcel left\nin the rain") == "Parcel left in the rain"


def test_suggested_title_at_exactly_the_limit():
    text = "x" * TITLE_LENGTH
    assert suggested_title(text) == text


def test_suggested_title_cuts_long_text_at_a_word():
    text = "The card reader at the front desk keeps rejecting contactless payments, " \
           "so people queue twice and some give up altogether."
    title = suggested_title(text)
    assert title.endswith("…")
    assert len(title) <= TITLE_LENGTH + 1
    assert title == "The card reader at the front desk keeps rejecting contactless payments, so…"
    assert text.startswith(title[:-1])


def test_suggested_title_strips_punctuation_before_the_ellipsis():
    text = ("word " * 14) + "stop, overlongword and more words after the limit"
    title = suggested_title(text)
    assert title.endswith("stop…")


# --- Problem.can_transition_to ----------------------------------------------------

ALL_PAIRS = [(a, b) for a in Status for b in Status]


def test_the_transition_table_covers_every_status():
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_can_transition_to_follows_the_table(current, target):
    problem = Problem(title="t", status=current)
    expected = target in TRANSITIONS[current]
    assert problem.can_transition_to(target) is expected
    # strings (as stored in the database) behave the same as enum members
    assert problem.can_transition_to(target.value) is expected


EXPECTED_ALLOWED = {
    ("new", "owned"), ("new", "declined"),
    ("owned", "in_progress"), ("owned", "changed"), ("owned", "declined"),
    ("in_progress", "changed"), ("in_progress", "declined"),
    ("changed", "owned"),
    ("declined", "owned"),
}


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_the_workflow_is_the_documented_one(current, target):
    """Pins the table itself, so a changed workflow is a deliberate decision."""
    allowed = (current.value, target.value) in EXPECTED_ALLOWED
    assert Problem(title="t", status=current.value).can_transition_to(target) is allowed


def test_no_status_may_follow_itself():
    for status in Status:
        assert not Problem(title="t", status=status).can_transition_to(status)


def test_an_unknown_status_is_an_error():
    with pytest.raises(ValueError):
        Problem(title="t", status=Status.NEW).can_transition_to("fixed")


# --- is_safe_next -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/triage", "/problems/3?status=owned", "/changes#top", "/r/abc"],
)
def test_is_safe_next_follows_paths_on_this_site(target):
    assert is_safe_next(target) is True


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "http://careloop.test/triage",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "triage",
        "evil.example/triage",
        "ftp:/x",
        "/\t/evil.example",  # browsers drop tabs and newlines, which would make this //evil.example
        "/\n/evil.example",
    ],
)
def test_is_safe_next_refuses_other_sites_and_odd_urls(target):
    assert is_safe_next(target) is False
