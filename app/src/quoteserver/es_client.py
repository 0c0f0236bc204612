"""One Elasticsearch client per process, created on first use.

WSGI servers import the app in a master process and then fork workers. A client (and its urllib3 pool) made
before the fork would share sockets between processes, so the client is created lazily and keyed by the pid:
each worker builds its own on its first request. The pool holds one connection per thread of the process.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from elasticsearch import Elasticsearch

from .config import Config


def build_client(config: Config) -> Elasticsearch:
    """A client that fails fast: no retries, so an outage costs at most one timeout per request."""
    return Elasticsearch(
        config.es_url,
        request_timeout=config.es_timeout,
        connections_per_node=config.es_pool_size,
        max_retries=0,
        retry_on_timeout=False,
    )


class ClientHolder:
    """Hands out this process's client; a forked child gets a fresh one."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._client: Elasticsearch | None = None
        # Per-process cache of values read once from the index (document count for /quotes/random).
        self.cache: dict[str, Any] = {}

    @property
    def config(self) -> Config:
        return self._config

    def get(self) -> Elasticsearch:
        pid = os.getpid()
        client = self._client
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._client is None or self._pid != pid:
                # Never close an inherited client: its sockets belong to the parent.
                self._client = build_client(self._config)
                self._pid = pid
                self.cache = {}
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None
            self._pid = None
