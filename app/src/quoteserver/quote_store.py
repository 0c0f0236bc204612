"""Reads quotes from Elasticsearch and turns its failures into the app's errors."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, NotFoundError, UnsupportedProductError

from .errors import BackendUnavailable, QuoteNotFound
from .es_client import ClientHolder


@dataclass(frozen=True)
class Quote:
    id: int
    quote: str
    author: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "quote": self.quote, "author": self.author}


def _index_missing(exc: ApiError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    return isinstance(error, dict) and error.get("type") == "index_not_found_exception"


def _unavailable(holder: ClientHolder, exc: Exception) -> BackendUnavailable:
    index = holder.config.index
    if isinstance(exc, ApiError) and _index_missing(exc):
        return BackendUnavailable(f"index {index!r} does not exist (load it with quoteserver-load)")
    if isinstance(exc, ApiError):
        return BackendUnavailable(f"Elasticsearch answered HTTP {exc.meta.status} ({exc.message})")
    if isinstance(exc, UnsupportedProductError):
        return BackendUnavailable(f"{holder.config.es_url} is not Elasticsearch")
    # ConnectionError, ConnectionTimeout, TLS errors: name the class, not the stack.
    return BackendUnavailable(f"Elasticsearch at {holder.config.es_url} unavailable: {type(exc).__name__}")


class QuoteStore:
    def __init__(self, holder: ClientHolder) -> None:
        self.holder = holder

    def get(self, quote_id: int) -> Quote:
        index = self.holder.config.index
        try:
            doc = self.holder.get().get(index=index, id=str(quote_id))
        except NotFoundError as exc:
            if _index_missing(exc):
                raise _unavailable(self.holder, exc) from None
            raise QuoteNotFound(f"no quote with id {quote_id} in index {index!r}") from None
        except (ApiError, TransportError, UnsupportedProductError) as exc:
            raise _unavailable(self.holder, exc) from None
        source = doc["_source"]
        return Quote(id=quote_id, quote=source.get("quote", ""), author=source.get("author", ""))

    def count(self) -> int:
        """Live document count of the index (health check)."""
        try:
            return int(self.holder.get().count(index=self.holder.config.index)["count"])
        except (ApiError, TransportError, UnsupportedProductError) as exc:
            raise _unavailable(self.holder, exc) from None

    def cached_count(self) -> int:
        """Document count read once per process; an empty index is not cached, so a later load is seen."""
        self.holder.get()  # a forked worker starts with an empty cache
        count = self.holder.cache.get("count")
        if count:
            return count
        count = self.count()
        if count < 1:
            raise BackendUnavailable(f"index {self.holder.config.index!r} holds no quotes yet")
        self.holder.cache["count"] = count
        return count

    def random(self) -> Quote:
        return self.get(random.randint(1, self.cached_count()))
