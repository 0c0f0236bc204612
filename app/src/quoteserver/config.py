"""Settings of the quoteserver, read from the environment (QUOTESERVER_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "quotes"
DEFAULT_ES_TIMEOUT = 2.0
DEFAULT_THREADS = 1


class ConfigError(ValueError):
    """An environment variable or config value is invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    """What the app needs to reach its Elasticsearch index.

    es_pool_size is the number of HTTP connections one process keeps to Elasticsearch: one per thread that
    may call it at the same time (gunicorn sync = 1, uWSGI --threads N = N, waitress threads = N).
    """

    es_url: str = DEFAULT_ES_URL
    index: str = DEFAULT_INDEX
    es_timeout: float = DEFAULT_ES_TIMEOUT
    es_pool_size: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if not self.es_url.startswith(("http://", "https://")):
            raise ConfigError(f"QUOTESERVER_ES_URL must start with http:// or https://, got {self.es_url!r}")
        if not self.index or self.index != self.index.lower() or any(c in self.index for c in ' "*\\/<>|,#?'):
            raise ConfigError(f"QUOTESERVER_INDEX is not a valid Elasticsearch index name: {self.index!r}")
        if not self.es_timeout > 0:
            raise ConfigError(f"QUOTESERVER_ES_TIMEOUT must be > 0 seconds, got {self.es_timeout!r}")
        if self.es_pool_size < 1:
            raise ConfigError(f"QUOTESERVER_ES_POOL_SIZE must be >= 1, got {self.es_pool_size!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        # QUOTESERVER_THREADS, else WHISKEY_THREADS: what whiskey exports to every app it serves (the threads of
        # one process that may run the app at once)
        threads = _int(env, "QUOTESERVER_THREADS", _int(env, "WHISKEY_THREADS", DEFAULT_THREADS))
        return cls(
            es_url=env.get("QUOTESERVER_ES_URL", DEFAULT_ES_URL).strip() or DEFAULT_ES_URL,
            index=env.get("QUOTESERVER_INDEX", DEFAULT_INDEX).strip() or DEFAULT_INDEX,
            es_timeout=_float(env, "QUOTESERVER_ES_TIMEOUT", DEFAULT_ES_TIMEOUT),
            es_pool_size=_int(env, "QUOTESERVER_ES_POOL_SIZE", threads),
        )

    def updated(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with some fields replaced (keys are field names: es_url, index, es_timeout, es_pool_size)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown quoteserver config key(s): {', '.join(unknown)}")
        return replace(self, **dict(overrides))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
