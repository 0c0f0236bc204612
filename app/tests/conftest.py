"""Session fixtures: one real Elasticsearch node and an index of quotes loaded by the real loader."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from es_server import ElasticsearchNode, archive_path
from quoteserver import create_app
from quoteserver.corpus import DEFAULT_FORTUNES_DIR, Corpus, load_corpus
from quoteserver.loader import main as load_main

CORPUS_SIZE = 2000
INDEX = "quotes"
FORTUNES = Path(DEFAULT_FORTUNES_DIR)
SAMPLE_JSONL = Path(__file__).parent / "data" / "sample.jsonl"


@pytest.fixture(scope="session")
def es_node() -> Iterator[ElasticsearchNode]:
    archive = archive_path()
    if not archive.is_file():
        pytest.skip(f"Elasticsearch archive {archive} missing (set WHISKEY_ES_ARCHIVE or run `make setup`)")
    workdir = Path(tempfile.mkdtemp(prefix="quoteserver-es-"))
    node = ElasticsearchNode(workdir, archive)
    try:
        node.install()
        node.start()
        yield node
    finally:
        node.cleanup()


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """The corpus the session index is loaded from: the real fortunes when installed, else the sample file."""
    if FORTUNES.is_dir() and any(FORTUNES.iterdir()):
        return load_corpus("fortunes", FORTUNES)
    return load_corpus(str(SAMPLE_JSONL))


@pytest.fixture(scope="session")
def loaded_index(es_node: ElasticsearchNode, corpus: Corpus) -> int:
    source = "fortunes" if corpus.source.startswith("fortunes:") else str(SAMPLE_JSONL)
    argv = [
        "--es-url",
        es_node.url,
        "--index",
        INDEX,
        "--size",
        str(CORPUS_SIZE),
        "--source",
        source,
        "--no-progress",
        "--json",
    ]
    assert load_main(argv) == 0
    return CORPUS_SIZE


@pytest.fixture
def app(es_node: ElasticsearchNode, loaded_index: int):
    app = create_app({"es_url": es_node.url, "index": INDEX, "es_timeout": 2.0})
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    return tmp_path
