"""Shared by whiskey's locustfiles: which request to send, read from the environment.

WHISKEY_PATH         request path; every "{id}" becomes a random integer in 1..WHISKEY_CORPUS_SIZE
                     (default "/quotes/byId?id={id}", the original experiment's request).
WHISKEY_CORPUS_SIZE  number of quote documents, ids 1..N (default 900000, like the original).
"""

import os
import random

PATH_TEMPLATE = os.environ.get("WHISKEY_PATH", "/quotes/byId?id={id}")
CORPUS_SIZE = int(os.environ.get("WHISKEY_CORPUS_SIZE", "900000"))
if CORPUS_SIZE < 1:
    raise SystemExit(f"WHISKEY_CORPUS_SIZE must be >= 1, got {CORPUS_SIZE}")

# One statistics row for all ids (not 900000 rows): the path without its query string.
STATS_NAME = PATH_TEMPLATE.split("?", 1)[0]


def next_path() -> str:
    """The next request path, with a fresh random id where the template has one."""
    if "{id}" not in PATH_TEMPLATE:
        return PATH_TEMPLATE
    return PATH_TEMPLATE.replace("{id}", str(random.randint(1, CORPUS_SIZE)))
