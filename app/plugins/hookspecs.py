"""Every hook a Careloop plugin can implement.

Plugins are found through the ``careloop`` entry-point group (see pyproject.toml)
and implement these with ``from app.plugin_api import hookimpl``. Each hook is
documented here: what it is for, when it is called, what to return and how the
answers of several plugins combine. Grow a hook by adding parameters, never by
renaming it. Reference implementations: ``plugins/zendesk`` and ``plugins/jira``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from flask import Flask

    from app.grouping.backend import SimilarityBackend
    from app.plugin_api import ProblemInfo, ReportInfo, TicketSource

hookspec = pluggy.HookspecMarker("careloop")
hookimpl = pluggy.HookimplMarker("careloop")


@hookspec
def register_ticket_sources(app: Flask) -> list[TicketSource]:
    """Register sources whose tickets become Careloop reports.

    Called once when the app is created, after configuration is loaded.

    :param app: the Flask app; read settings from ``app.config`` if you need them at
        registration time (sources receive their settings again on every call).
    :return: a list of :class:`app.plugin_api.TicketSource`. The lists of all plugins
        are merged; two sources with the same ``name`` stop start-up with an error.

    A source's functions must not touch the database or Flask's request state: they
    take settings and a cursor and return plain data. Raise
    :class:`app.plugin_api.AuthenticationFailed` for refused credentials and
    :class:`app.plugin_api.SourceError` for other remote failures; the core records
    the error, keeps what was already imported and resumes from the last saved cursor.
    Retry what a retry can fix with :class:`app.plugin_api.RetryPolicy` (one policy for
    every plugin: raise :class:`~app.plugin_api.TransientError` for a truncated body, a
    reset connection, 429 or 5xx); raise :class:`~app.plugin_api.PermanentError` from
    ``write_back`` for a refusal no retry changes (the reply then fails at once). A
    ticket that is not a report comes back with ``Ticket.excluded`` set to the reason.
    Optional ``validate(settings)`` lists mistyped values, which stop start-up.
    Reference: ``plugins/zendesk/source.py``.
    """


@hookspec
def report_filed(report: ReportInfo) -> None:
    """A report was filed, from any channel, and committed.

    Called after the transaction that stored it commits (never for a rolled-back one).

    :param report: the report as plain data.
    :return: nothing; every plugin is called. An exception is logged and does not
        undo the report or stop other plugins. Do not block: no slow network calls.
    """


@hookspec
def problem_status_changed(problem: ProblemInfo, before: str, after: str) -> None:
    """A problem's status changed (for example ``owned`` to ``changed``), and committed.

    :param problem: the problem after the change, as plain data.
    :param before: the status before, one of new, owned, in_progress, changed, declined.
    :param after: the status after.
    :return: nothing; every plugin is called; exceptions are logged and ignored.
    """


@hookspec
def change_published(problem: ProblemInfo, reports: list[ReportInfo]) -> None:
    """A problem's change was published on the public page, and committed.

    :param problem: the problem, with ``public_title`` and ``change_what`` set.
    :param reports: every report in the problem, as plain data (for write-back).
    :return: nothing; every plugin is called; exceptions are logged and ignored.
        Replies to remote tickets go through the source's ``write_back``, which the
        core calls from its delivery worker with retries; do not post them from here.
    """


@hookspec
def register_similarity_backends(app: Flask) -> list[SimilarityBackend]:
    """Register backends that turn report text into vectors for grouping duplicates.

    Called once when the app is created, after configuration is loaded; the setting
    ``CARELOOP_GROUPING_BACKEND`` then picks one backend by name (``hybrid`` by default).
    Careloop registers its own backends (``hybrid``, ``minilm``, ``lexical``) through this
    hook, marked ``trylast``.

    :param app: the Flask app; read settings from ``app.config`` if you need them.
    :return: a list of :class:`app.plugin_api.SimilarityBackend`. The lists of all plugins
        are merged; a plugin's backend replaces a built-in one of the same ``name``, and two
        plugins registering one name stop start-up with an error.

    Registering must be cheap: load model files lazily, on the first ``encode`` call.
    ``encode`` must not touch the database, Flask's request state or the network (tests
    run with ``HF_HUB_OFFLINE=1``): ship the model in a package. It returns unit-length
    float32 rows; the backend's ``slope`` and ``intercept`` calibrate cosine similarity
    into a score in [0, 1] for ``similar_problems``. The grouping decision uses the
    evidence of whole problems (``app/grouping/rules.py``); a backend made of parts (a
    model, then a part that reads what it cannot, then optionally a lexical part) sets
    ``parts``, ``readable`` and ``understood`` (see ``SimilarityBackend``) so a text the
    first model cannot read is compared by the second part, and a text no part reads is
    never joined automatically. Change ``model`` whenever the vectors change; stored
    vectors of another model are ignored until ``careloop grouping-reindex``.
    Reference: ``app/grouping/backend.py``.
    """
