"""HTTP endpoints: /quotes/byId, /quotes/random, /quotes/sayHello, /healthz."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from .errors import BackendUnavailable, BadRequest, error_response
from .quote_store import Quote, QuoteStore

bp = Blueprint("quotes", __name__)

_ID = re.compile(r"[0-9]{1,18}")
_FORMATS = ("html", "json")


def _store() -> QuoteStore:
    return current_app.extensions["quoteserver.store"]


def _wants_json() -> bool:
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in _FORMATS:
            raise BadRequest(f"format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
        return fmt == "json"
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _parse_id(raw: str | None) -> int:
    if raw is None or raw == "":
        raise BadRequest("query parameter 'id' is required, e.g. /quotes/byId?id=42")
    if not _ID.fullmatch(raw):
        raise BadRequest(f"'id' must be a positive integer, got {raw[:40]!r}")
    quote_id = int(raw)
    if quote_id < 1:
        raise BadRequest(f"'id' must be >= 1, got {quote_id}")
    return quote_id


def _render(quote: Quote, as_json: bool) -> Response | str:
    if as_json:
        return jsonify(quote.as_dict())
    return render_template("quote.html", quote=quote)


@bp.get("/quotes/byId")
def by_id() -> Response | str:
    quote_id = _parse_id(request.args.get("id"))
    as_json = _wants_json()  # a bad ?format= is rejected before the backend is asked
    return _render(_store().get(quote_id), as_json)


@bp.get("/quotes/random")
def random_quote() -> Response | str:
    as_json = _wants_json()
    return _render(_store().random(), as_json)


@bp.get("/quotes/sayHello")
def say_hello() -> Response:
    return Response("Hello World!", mimetype="text/plain")


@bp.get("/healthz")
def healthz() -> Response:
    store = _store()
    config = store.holder.config
    try:
        count = store.count()
    except BackendUnavailable as exc:
        return error_response(503, exc.kind, exc.message)
    return jsonify({"status": "ok", "index": config.index, "documents": count})
