"""Every API error is JSON, {"error": "<what went wrong>", ...details}, never an HTML page."""

import json
import logging

from flask import current_app, request
from werkzeug.exceptions import HTTPException

from webapp.extensions import db
from webapp.tenancy import NotFound

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
# RFC 6750: a request without a token gets the bare challenge; a bad token says so.
CHALLENGE = 'Bearer realm="api"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None, **details):
        super().__init__(message)
        self.status, self.message, self.headers, self.details = status, message, headers, details


def json_response(status: int, body, headers=None):
    # The standard library's json keeps the keys in order ("openapi" first), unlike Flask's.
    text = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body)
    return current_app.response_class(
        text, status=status, headers=headers, mimetype="application/json"
    )


def error_response(status: int, message: str, headers=None, **details):
    db.session.rollback()  # whatever the request had begun is not committed
    return json_response(status, {"error": message, **details}, headers)


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def from_http(exc: HTTPException):
    """Werkzeug's errors (routing 404 and 405, 413, ...) in the API's shape."""
    code = exc.code or 500
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if code == 404:
        message = f"There is no API endpoint {request.path}; see {PREFIX}/openapi.json."
    elif code == 405:
        allowed = [
            m for m in getattr(exc, "valid_methods", None) or [] if m not in ("HEAD", "OPTIONS")
        ]
        message = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}."
    elif code == 413:
        limit = request.max_content_length
        message = f"The body is too large: this API accepts at most {limit} bytes."
    else:
        message = exc.description or exc.name
    return error_response(code, message, headers)


def unexpected(exc: Exception):
    if current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise exc  # tests see the real traceback
    log.exception("unhandled error in the API")
    return error_response(500, "Something went wrong on our side; it has been logged. Try again.")


def register(bp) -> None:
    """The API blueprint's handlers; they take precedence over the app's HTML ones."""
    bp.register_error_handler(
        ApiError, lambda e: error_response(e.status, e.message, e.headers, **e.details)
    )
    bp.register_error_handler(
        NotFound, lambda e: error_response(404, "There is no such record in this company.")
    )
    bp.register_error_handler(HTTPException, from_http)
    bp.register_error_handler(Exception, unexpected)
