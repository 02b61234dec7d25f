"""Languages: Flask-Babel wiring and the choice of locale for each request.

Strings are marked with ``gettext``/``lazy_gettext`` (``_``/``_l``) in Python and
``{{ _('...') }}`` / ``{% trans %}`` in templates; catalogs live in ``app/translations``.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

from babel import Locale
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, refresh

babel = Babel()

LANGUAGE_COOKIE = "careloop_lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600  # one year
RTL_LANGUAGES = {"ar", "he", "fa", "ur"}


def supported_languages() -> list[str]:
    return list(current_app.config["CARELOOP_LANGUAGES"])


def default_language() -> str:
    """The organisation's language: the first of ``CARELOOP_LANGUAGES``."""
    return supported_languages()[0]


def current_language() -> str:
    """The language of this request (or of a ``force_locale`` block); the default outside one."""
    if not has_app_context():
        return "en"
    locale = get_locale()
    return str(locale) if locale is not None else default_language()


def filing_language() -> str:
    """The language to store with a new report or reporter: the page's language in a
    request, the organisation's default otherwise (imports, the CLI)."""
    return current_language() if has_request_context() else default_language()


def usable_language(code: str | None) -> str:
    """``code`` when this site offers it, else the default (a language may be removed later)."""
    return code if code in supported_languages() else default_language()


@contextmanager
def language(code: str | None):
    """Render in a person's language (falls back to the default), e.g. their emails."""
    with force_locale(usable_language(code)):
        yield


@lru_cache(maxsize=32)
def native_name(code: str) -> str:
    """A language named in itself: "English", "Deutsch", "العربية"."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def is_rtl(code: str) -> bool:
    return code.split("_")[0] in RTL_LANGUAGES


def select_locale() -> str:
    """The person's saved choice, else the best match for their browser, else the default."""
    languages = supported_languages()
    if not has_request_context():  # the CLI, imports, mail rendered outside a request
        return languages[0]
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
    )

    # A request that shares an application context (a test, a CLI command serving one) must
    # not reuse the locale Flask-Babel cached in ``g`` for whatever ran before it.
    app.before_request(refresh)

    @app.context_processor
    def language_context():
        code = current_language()
        return {
            "locale": code,
            "rtl": is_rtl(code),
            "text_direction": "rtl" if is_rtl(code) else "ltr",
            "languages": [(c, native_name(c)) for c in supported_languages()],
        }
