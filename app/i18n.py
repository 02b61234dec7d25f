"""Languages: Flask-Babel wiring and the choice of locale for each request.

Strings are marked with ``gettext``/``lazy_gettext`` (``_``/``_l``) in Python and
``{{ _('...') }}`` / ``{% trans %}`` in templates; catalogs live in ``app/translations``.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import Babel

babel = Babel()

LANGUAGE_COOKIE = "careloop_lang"
RTL_LANGUAGES = {"ar", "he", "fa", "ur"}


def supported_languages() -> list[str]:
    return list(current_app.config["CARELOOP_LANGUAGES"])


def select_locale() -> str:
    """The person's saved choice, else the best match for their browser, else the default."""
    languages = supported_languages()
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
