"""Small helpers shared by the tests."""

from __future__ import annotations

import json

from quoteserver.corpus import Corpus


def expected(corpus: Corpus, quote_id: int) -> dict[str, object]:
    """What the loader put at id N: the corpus cycled, ids 1..N."""
    record = corpus.records[(quote_id - 1) % len(corpus.records)]
    return {"id": quote_id, "quote": record.quote, "author": record.author}


def json_line(text: str) -> dict[str, object]:
    """The last non-blank line of a command's stdout, parsed as JSON."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])
