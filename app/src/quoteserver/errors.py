"""Errors as JSON: every failure the app can meet maps to a status and a one-line message, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class QuoteError(Exception):
    """A request that cannot be answered with a quote; carries the HTTP status to send."""

    status = 500
    kind = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(QuoteError):
    status = 400
    kind = "bad_request"


class QuoteNotFound(QuoteError):
    status = 404
    kind = "not_found"


class BackendUnavailable(QuoteError):
    """Elasticsearch is unreachable, timed out, or the index is missing or empty."""

    status = 503
    kind = "backend_unavailable"


def error_response(status: int, kind: str, message: str) -> Response:
    response = jsonify({"error": kind, "status": status, "message": message})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(QuoteError)
    def _quote_error(exc: QuoteError) -> Response:
        if exc.status >= 500:
            log.warning("%s: %s", exc.kind, exc.message)
        return error_response(exc.status, exc.kind, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        kind = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(status, kind, exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"unexpected {type(exc).__name__}")
