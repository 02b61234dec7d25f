"""Template helpers and response headers used by every page."""

from __future__ import annotations

from datetime import date, datetime

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask
from flask_babel import gettext as _
from flask_babel import ngettext

from app.i18n import current_language
from app.models import STATUS_LABELS, Status, utcnow
from app.services.branding import current_branding

# Dates and numbers follow the page's language (Flask-Babel's locale). English keeps the
# day-month-year order and 24-hour clock Careloop always used ("22 November 2026, 14:05"),
# i.e. British conventions; every other language uses its own CLDR formats
# ("22. November 2026" in German).
FORMAT_LOCALES = {"en": "en_GB"}


def _format_locale() -> str:
    code = current_language()
    return FORMAT_LOCALES.get(code, code)


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return babel_dates.format_date(value, "long", locale=_format_locale())


def format_datetime(value: datetime | None) -> str:
    """Times are stored as naive UTC and shown as UTC, saying so."""
    if value is None:
        return ""
    locale = _format_locale()
    day = babel_dates.format_skeleton("yMMMd", value, locale=locale)
    return _("%(date)s, %(time)s UTC", date=day, time=babel_dates.format_time(value, "HH:mm", locale=locale))


def format_number(value: int | float | None) -> str:
    """1,234 in English, 1.234 in German."""
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=_format_locale())


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """A person's sense of how long: "3 days", "5 weeks", "under an hour"."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0)
    hours = seconds / 3600
    if hours < 1:
        return _("under an hour")
    if hours < 48:
        n = round(hours)
        return ngettext("%(num)d hour", "%(num)d hours", n)
    days = hours / 24
    if days < 14:
        n = round(days)
        return ngettext("%(num)d day", "%(num)d days", n)
    if days < 90:
        n = round(days / 7)
        return ngettext("%(num)d week", "%(num)d weeks", n)
    n = round(days / 30.4)
    return ngettext("%(num)d month", "%(num)d months", n)


def age(value: datetime | None) -> str:
    return format_duration(value, utcnow())


def init_templating(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=format_date, datetime=format_datetime, age=age, duration=format_duration,
        number=format_number,
    )
    app.jinja_env.globals.update(Status=Status, STATUS_LABELS=STATUS_LABELS)

    @app.context_processor
    def inject_org():
        # The admin's branding (app/services/branding.py); CARELOOP_ORG_NAME until they name it.

        branding = current_branding()
        return {"org_name": branding.org_name, "branding": branding}
