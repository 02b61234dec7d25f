"""Error pages in the site's style."""

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.extensions import db
from app.json_errors import error_response, wants_json

# Lazy: translated when the page is shown, in the visitor's language.
MESSAGES = {
    400: (_l("Something was wrong with that request"), _l("Please go back and try again.")),
    403: (_l("You can't see this page"),
          _l("Your account does not have access to it. If you think it should, ask an admin.")),
    404: (_l("We couldn't find that page"), _l("The link may be mistyped, or the page may have been moved.")),
    405: (_l("That didn't work"), _l("This page can't be used that way.")),
    500: (_l("Something went wrong on our side"),
          _l("Nothing you did caused this. It has been logged; please try again in a moment.")),
}


def render_error(code: int, detail: str | None = None):
    if wants_json():  # the API, also for unknown paths, and callers that asked for JSON
        return error_response(code, detail)
    title, message = MESSAGES[code]
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


def init_app(app: Flask) -> None:
    for code in (400, 403, 404, 405):
        app.register_error_handler(code, lambda e, code=code: render_error(code))

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400,
            _("The form expired or came from another site, so nothing was saved. "
              "Go back, reload the page and send it again."),
        )

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error(500)

    app.register_error_handler(DBAPIError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)

    @app.teardown_appcontext
    def release_session(exc):
        """End the request's session before Flask-SQLAlchemy does (teardowns run last-registered
        first) and survive a server that went away meanwhile: the answer was already made, so a
        failed ROLLBACK on a dead connection must not turn it into a bare 500."""
        try:
            db.session.remove()
        except DBAPIError as error:
            current_app.logger.warning("Database went away at the end of a request: %s", str(error).splitlines()[0])
            try:
                db.session().invalidate()  # discard the dead connection without a ROLLBACK
            except DBAPIError:
                pass
            db.session.remove()


RETRY_AFTER_SECONDS = 30


def database_unavailable(error):
    """503 while the database cannot be reached (stopped, restarting, unreachable), not a 500.

    Only errors that mean "no connection" count: an OperationalError, or any database error
    after which SQLAlchemy invalidated the connection. Anything else (a constraint violated, a
    bad query) is a bug and goes on to the 500 page. The transaction is rolled back, so a
    report is stored whole or not at all; the pool's pre-ping reconnects once it is back.
    """
    if isinstance(error, DBAPIError) and not (
        isinstance(error, OperationalError) or error.connection_invalidated
    ):
        raise error
    current_app.logger.warning("Database unavailable (%s): %s", request.path, str(error).splitlines()[0])
    try:
        db.session.rollback()
    except DBAPIError:
        pass
    # Render as a visitor: loading the signed-in account would need the database too.
    g._login_user = current_app.login_manager.anonymous_user()
    title = _("We can't reach our records right now")
    if request.endpoint == "public.thanks":  # only a stored report is sent on to its thank-you page
        message = _("Your report was saved. We could not show the page with your private link just now: "
                    "reload this page in a minute.")
    else:
        message = _("Please try again in a minute. If you were sending a report, it may not have been "
                    "saved: go back, and your words should still be in the form.")
    if wants_json():  # the API's error shape, also for other JSON callers such as /suggest
        response = error_response(503, _("The database is unavailable; try again in a minute."),
                                  code="database_unavailable")
    else:
        response = current_app.make_response(
            (render_template("errors/error.html", code=503, title=title, message=message), 503))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response
