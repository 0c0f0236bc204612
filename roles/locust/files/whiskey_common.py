"""The request mix, shared by whiskey's locustfiles and its runner (whiskey_load.py). Stdlib only: it is shipped
to the clients beside the locustfiles.

A mix is a JSON list of requests, each {"path": "/...", "weight": N}: every request picks one of them with
probability weight / (sum of the weights); every "{id}" in a path becomes a random integer in 1..corpus size.

The locustfiles read it from the environment (load_mix):

WHISKEY_REQUESTS     the mix, JSON (whiskey_load.py --requests passes it);
WHISKEY_PATH         when WHISKEY_REQUESTS is unset: one request, this path (default "/quotes/byId?id={id}", the
                     original experiment's request);
WHISKEY_CORPUS_SIZE  number of quote documents, ids 1..N (default 900000, like the original).
"""

from __future__ import annotations

import itertools
import json
import os
import random

DEFAULT_PATH = "/quotes/byId?id={id}"
REQUESTS_RULES = (
    'a non-empty JSON list of {"path": "/...", "weight": N} objects: each path a string starting with "/" '
    "(no whitespace), each weight an integer >= 1, no other keys"
)


def parse_requests(text: str | list, *, allow_empty: bool = False) -> list[dict]:
    """The mix from its JSON text (or the decoded list), checked; ValueError saying what is allowed."""
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc}); expected {REQUESTS_RULES}") from exc
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ValueError(f"got {json.dumps(value)[:200]}; expected {REQUESTS_RULES}")
    for i, item in enumerate(value):
        problem = ""
        if not isinstance(item, dict):
            problem = "not an object"
        elif set(item) != {"path", "weight"}:
            problem = f"keys {sorted(item)}, not exactly path and weight"
        elif not isinstance(item["path"], str) or not item["path"].startswith("/"):
            problem = f"path {item['path']!r} does not start with /"
        elif any(ch.isspace() for ch in item["path"]):
            problem = f"path {item['path']!r} has whitespace"
        elif type(item["weight"]) is not int or item["weight"] < 1:
            problem = f"weight {item['weight']!r} is not an integer >= 1"
        if problem:
            raise ValueError(f"request {i} ({json.dumps(item)}): {problem}; expected {REQUESTS_RULES}")
    return [{"path": item["path"], "weight": item["weight"]} for item in value]


def stats_names(requests: list[dict]) -> list[str]:
    """Locust's statistics row of each request: its path without the query string (one row for every id), or its
    whole path template when another request of the mix has the same path."""
    short = [r["path"].split("?", 1)[0] for r in requests]
    templates: dict[str, set[str]] = {}
    for req, name in zip(requests, short, strict=True):
        templates.setdefault(name, set()).add(req["path"])
    return [
        name if len(templates[name]) == 1 else req["path"] for req, name in zip(requests, short, strict=True)
    ]


class Mix:
    """Draws requests from a mix by weight, with their ids."""

    def __init__(self, requests: list[dict], corpus_size: int):
        if not requests:
            raise ValueError(f"the mix is empty; expected {REQUESTS_RULES}")
        if corpus_size < 1:
            raise ValueError(f"the corpus size must be >= 1, got {corpus_size}")
        self.requests = requests
        self.corpus_size = corpus_size
        self.names = stats_names(requests)
        self.indices = range(len(requests))
        self.cum_weights = list(itertools.accumulate(r["weight"] for r in requests))

    def pick(self, rng=random) -> int:
        """The index of the next request, drawn by weight (a single request draws nothing from rng)."""
        if len(self.requests) == 1:
            return 0
        return rng.choices(self.indices, cum_weights=self.cum_weights)[0]

    def next(self, rng=random) -> tuple[str, str]:
        """(path to send, its statistics name): a request drawn by weight, "{id}" replaced by a random id."""
        i = self.pick(rng)
        path = self.requests[i]["path"]
        if "{id}" in path:
            path = path.replace("{id}", str(rng.randint(1, self.corpus_size)))
        return path, self.names[i]


def load_mix(environ=os.environ) -> Mix:
    """The mix of a Locust run, from the environment (see the module's docstring); a bad value stops Locust."""
    text = environ.get("WHISKEY_REQUESTS")
    try:
        if text is not None:
            requests = parse_requests(text)
        else:
            requests = parse_requests([{"path": environ.get("WHISKEY_PATH", DEFAULT_PATH), "weight": 1}])
    except ValueError as exc:
        name = "WHISKEY_REQUESTS" if text is not None else "WHISKEY_PATH"
        raise SystemExit(f"whiskey_common: {name}: {exc}") from exc
    corpus = environ.get("WHISKEY_CORPUS_SIZE", "900000")
    if not corpus.strip().isdigit() or int(corpus) < 1:
        raise SystemExit(f"whiskey_common: WHISKEY_CORPUS_SIZE must be an integer >= 1, got {corpus!r}")
    return Mix(requests, int(corpus))
