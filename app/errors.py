"""Error pages in the site's style."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from .extensions import db

MESSAGES = {
    400: ("Something was wrong with that request", "Please go back and try again."),
    403: ("You can't see this page", "Your account does not have access to it. If you think it should, ask an admin."),
    404: ("We couldn't find that page", "The link may be mistyped, or the page may have been moved."),
    405: ("That didn't work", "This page can't be used that way."),
    500: ("Something went wrong on our side", "Nothing you did caused this. It has been logged; please try again in a moment."),
}


def render_error(code: int, detail: str | None = None):
    title, message = MESSAGES[code]
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


def init_app(app: Flask) -> None:
    for code in (400, 403, 404, 405):
        app.register_error_handler(code, lambda e, code=code: render_error(code))

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400,
            "The form expired or came from another site, so nothing was saved. "
            "Go back, reload the page and send it again.",
        )

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error(500)
