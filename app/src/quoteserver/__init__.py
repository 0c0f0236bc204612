"""quoteserver: the Flask app whiskey benchmarks under different WSGI servers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import Config
from .errors import register_error_handlers
from .es_client import ClientHolder
from .quote_store import QuoteStore
from .views import bp

__version__ = "1.0.0"
__all__ = ["Config", "__version__", "create_app"]


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. config: a Config, a mapping of Config field overrides, or None (environment only)."""
    if config is None:
        settings = Config.from_env()
    elif isinstance(config, Config):
        settings = config
    else:
        settings = Config.from_env().updated(config)

    app = Flask(__name__)
    app.config["QUOTESERVER"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["quoteserver.store"] = QuoteStore(ClientHolder(settings))
    app.register_blueprint(bp)
    register_error_handlers(app)
    logging.getLogger(__name__).debug("quoteserver configured: %s", settings)
    return app
