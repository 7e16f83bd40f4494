"""One error renderer for 400/403/404/409/429/500: a page, or a message swapped in place."""

import logging

from flask import current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.extensions import db, htmx
from webapp.tenancy import NotFound

log = logging.getLogger(__name__)

TITLES = {
    400: "That request could not be understood",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That change was not made",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def render_error(status: int, message: str):
    title = TITLES.get(status, "Error")
    db.session.rollback()  # the page queries again; a failed transaction must not break it
    if htmx:
        body = render_template("errors/_message.html", title=title, message=message, status=status)
        # Shown in the page's message area whatever element made the request.
        return body, status, {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return render_template("errors/error.html", title=title, message=message, status=status), status


def register(app, conflicts: tuple[type[Exception], ...], elsewhere=()):
    """`conflicts`: the refusals of the domain and the features, each a 409 with its message.
    `elsewhere`: (applies, handler) pairs for parts of the site that answer their own errors
    (the JSON API under its prefix, where no route matched)."""

    for refusal in conflicts:

        @app.errorhandler(refusal)
        def conflict(exc):
            return render_error(409, str(exc))

    @app.errorhandler(NotFound)
    def not_found(exc):
        return render_error(404, "There is no such record in your company.")

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return render_error(
            400, "Your session expired or the form was stale. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(exc):
        for applies, handler in elsewhere:
            if applies():
                return handler(exc)
        if exc.code == 404:
            return render_error(404, "There is no such page or record.")
        if exc.code == 429:
            return render_error(429, "Too many attempts. Wait a minute and try again.")
        return render_error(exc.code or 500, exc.description or TITLES.get(exc.code, "Error"))

    @app.errorhandler(Exception)
    def unexpected(exc):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        if current_app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc  # tests see the real traceback, as Flask does in testing
        log.exception("unhandled error")
        return render_error(
            500, InternalServerError.description.split(".")[0] + ". It has been logged."
        )
