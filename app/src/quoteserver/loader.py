"""quoteserver-load: fill an Elasticsearch index with N quotes (ids 1..N) from a corpus, idempotently.

The index's mapping `_meta.whiskey.fingerprint` records what was loaded (corpus content, N, parser version).
A run that finds the same fingerprint and N documents does nothing; --force rebuilds regardless.

Exit status: 0 done or up to date, 1 Elasticsearch error, 2 bad arguments, 3 corpus error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from elastic_transport import ConnectionError as ESConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError, UnsupportedProductError
from elasticsearch.helpers import BulkIndexError, parallel_bulk

from . import __version__
from .config import DEFAULT_ES_URL, DEFAULT_INDEX
from .corpus import DEFAULT_FORTUNES_DIR, PARSER_VERSION, Corpus, CorpusError, load_corpus

EXIT_OK, EXIT_ES, EXIT_USAGE, EXIT_CORPUS = 0, 1, 2, 3
META_KEY = "whiskey"

MAPPING_PROPERTIES = {
    # Served by id only: the text is kept in _source, not indexed, which keeps loading fast and the index small.
    "quote": {"type": "text", "index": False},
    "author": {"type": "keyword", "ignore_above": 512},
}


class LoaderError(Exception):
    """A failure worth one line to the user; exit_code says which kind."""

    def __init__(self, message: str, exit_code: int = EXIT_ES) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Result:
    changed: bool
    documents: int
    seconds: float
    docs_per_s: float
    index_size_bytes: int
    index: str
    fingerprint: str
    message: str
    phases: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(
            {
                "changed": self.changed,
                "documents": self.documents,
                "seconds": round(self.seconds, 3),
                "docs_per_s": round(self.docs_per_s, 1),
                "index_size_bytes": self.index_size_bytes,
                "index": self.index,
                "fingerprint": self.fingerprint,
                **{name: round(value, 3) for name, value in self.phases.items()},
            }
        )


def fingerprint(corpus: Corpus, size: int) -> str:
    """What identifies a load: the corpus content (digest), the number of documents, the parser version."""
    return hashlib.sha256(f"{PARSER_VERSION}|{corpus.digest}|{size}".encode()).hexdigest()


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        frac = done / self.total if self.total else 1.0
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {done}/{self.total} docs {rate:,.0f} docs/s ")
        self.stream.flush()

    def finish(self, done: int) -> None:
        if self.enabled:
            self.update(done, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _reason(exc: BaseException) -> str:
    """A short reason for an Elasticsearch error, without a stack."""
    if isinstance(exc, ApiError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        reason = error.get("reason") if isinstance(error, dict) else None
        text = f"HTTP {exc.meta.status}: {exc.message}" + (f" ({reason})" if reason else "")
        return text if len(text) <= 300 else text[:297] + "..."
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker
    return text[:200]


class Loader:
    def __init__(self, client: Elasticsearch, index: str, progress: Progress | None = None) -> None:
        self.client = client
        self.index = index
        self.progress = progress

    def current_fingerprint(self) -> str | None:
        try:
            mappings = self.client.indices.get_mapping(index=self.index)
        except NotFoundError:
            return None
        for body in mappings.body.values():
            meta = body.get("mappings", {}).get("_meta", {}).get(META_KEY, {})
            return meta.get("fingerprint")
        return None

    def count(self) -> int:
        return int(self.client.count(index=self.index)["count"])

    def size_bytes(self) -> int:
        stats = self.client.indices.stats(index=self.index, metric="store")
        return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])

    def up_to_date(self, fp: str, size: int) -> bool:
        return self.current_fingerprint() == fp and self.count() == size

    def rebuild(
        self, corpus: Corpus, size: int, fp: str, *, threads: int, chunk_size: int, merge: bool
    ) -> dict[str, float]:
        """Delete, create, bulk-load, commit; returns the phases' durations and the document count."""
        t0 = time.monotonic()
        self.client.indices.delete(index=self.index, ignore_unavailable=True)
        self.client.indices.create(
            index=self.index,
            settings={
                "number_of_shards": 1,
                "number_of_replicas": 0,
                # Bulk-load settings, restored below: no refreshes, fsync the translog in the background.
                "refresh_interval": "-1",
                "translog": {"durability": "async"},
            },
            # The fingerprint is written only once the load completed, so a broken load is never "up to date".
            mappings={
                "dynamic": "strict",
                "_meta": {META_KEY: {"state": "loading"}},
                "properties": MAPPING_PROPERTIES,
            },
            wait_for_active_shards="1",
        )
        sources = [
            json.dumps({"quote": r.quote, "author": r.author}, ensure_ascii=False).encode()
            for r in corpus.records
        ]

        def actions() -> Iterator[tuple[dict[str, Any], bytes]]:
            n = len(sources)
            for doc_id in range(1, size + 1):
                yield {"index": {"_id": str(doc_id)}}, sources[(doc_id - 1) % n]

        done = 0
        for ok, _item in parallel_bulk(
            self.client,
            actions(),
            thread_count=threads,
            chunk_size=chunk_size,
            max_chunk_bytes=20 * 1024 * 1024,
            expand_action_callback=lambda action: action,
            raise_on_error=True,
            raise_on_exception=True,
            index=self.index,
        ):
            done += ok
            if self.progress:
                self.progress.update(done)
        if self.progress:
            self.progress.finish(done)
        bulk_seconds = time.monotonic() - t0
        self.client.indices.put_settings(
            index=self.index,
            settings={"index": {"refresh_interval": None, "translog": {"durability": "request"}}},
        )
        self.client.indices.refresh(index=self.index)
        # Commit to disk: with the async translog, a node killed right after the load would lose documents.
        self.client.indices.flush(index=self.index, wait_if_ongoing=True)
        merge_seconds = 0.0
        if merge:
            # One segment: a read-only index that is the same on every load (≈14 s for 900k docs, bulk ≈74 s).
            t1 = time.monotonic()
            self.client.options(request_timeout=3600).indices.forcemerge(
                index=self.index, max_num_segments=1, wait_for_completion=True
            )
            merge_seconds = time.monotonic() - t1
        loaded = self.count()
        if loaded != size:
            raise LoaderError(f"index {self.index!r} holds {loaded} documents after loading {size}")
        self.client.indices.put_mapping(
            index=self.index,
            meta={
                META_KEY: {
                    "fingerprint": fp,
                    "documents": size,
                    "source": corpus.source,
                    "corpus_quotes": len(corpus.records),
                    "corpus_digest": corpus.digest,
                    "parser_version": PARSER_VERSION,
                    "loader_version": __version__,
                    "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            },
        )
        return {"documents": done, "bulk_seconds": bulk_seconds, "merge_seconds": merge_seconds}


def es_version(client: Elasticsearch, url: str) -> str:
    """Checks that Elasticsearch answers; returns its version. (GET / is not used: the integ-test-zip
    distribution lacks the rest-root module that serves it.)"""
    try:
        nodes = client.nodes.info(node_id="_local", metric="_none")
    except (TransportError, ApiError, UnsupportedProductError) as exc:
        raise LoaderError(f"cannot reach Elasticsearch at {url}: {_reason(exc)}") from None
    return next(iter(nodes["nodes"].values()), {}).get("version", "(unknown version)")


def run(args: argparse.Namespace, human: TextIO) -> Result:
    started = time.monotonic()
    corpus = load_corpus(args.source, Path(args.fortunes_dir))
    fp = fingerprint(corpus, args.size)
    client = Elasticsearch(args.es_url, request_timeout=args.timeout, max_retries=2, retry_on_timeout=True)
    try:
        version = es_version(client, args.es_url)
        print(
            f"Elasticsearch {version} at {args.es_url}; corpus {corpus.source}: "
            f"{len(corpus.records)} quotes from {len(corpus.files)} file(s)",
            file=human,
        )
        progress = Progress(args.size, sys.stderr, args.progress and sys.stderr.isatty())
        loader = Loader(client, args.index, progress)
        if not args.force and loader.up_to_date(fp, args.size):
            seconds = time.monotonic() - started
            return Result(
                False,
                args.size,
                seconds,
                0.0,
                loader.size_bytes(),
                args.index,
                fp,
                f"index {args.index!r} is up to date ({args.size} documents, fingerprint {fp[:12]})",
            )
        t0 = time.monotonic()
        phases = loader.rebuild(
            corpus, args.size, fp, threads=args.threads, chunk_size=args.chunk_size, merge=args.merge
        )
        seconds = time.monotonic() - t0
        loaded = int(phases.pop("documents"))
        # The indexing rate: documents over the bulk phase (seconds also counts commit and optional merge).
        rate = loaded / phases["bulk_seconds"] if phases["bulk_seconds"] > 0 else 0.0
        size_bytes = loader.size_bytes()
        return Result(
            True,
            loaded,
            seconds,
            rate,
            size_bytes,
            args.index,
            fp,
            f"loaded {loaded} documents into {args.index!r} in {seconds:.1f} s "
            f"(bulk {phases['bulk_seconds']:.1f} s at {rate:,.0f} docs/s"
            + (f", merge {phases['merge_seconds']:.1f} s" if args.merge else "")
            + f"), index size {size_bytes / 2**20:.1f} MiB",
            phases,
        )
    except BulkIndexError as exc:
        first = str(exc.errors[0] if exc.errors else {})[:300]
        raise LoaderError(f"bulk indexing failed for {len(exc.errors)} document(s), first: {first}") from None
    except (ConnectionTimeout, ESConnectionError) as exc:
        raise LoaderError(f"lost Elasticsearch at {args.es_url}: {_reason(exc)}") from None
    except (ApiError, TransportError, UnsupportedProductError) as exc:
        raise LoaderError(f"Elasticsearch error on index {args.index!r}: {_reason(exc)}") from None
    finally:
        client.close()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quoteserver-load",
        description="Load N quotes (ids 1..N, cycling over the corpus) into an Elasticsearch index. "
        "Does nothing when the index already holds this corpus and N documents.",
        epilog="Exit status: 0 loaded or up to date, 1 Elasticsearch error, 2 bad arguments, 3 corpus error.",
    )
    parser.add_argument(
        "--es-url",
        default=os.environ.get("QUOTESERVER_ES_URL", DEFAULT_ES_URL),
        help="Elasticsearch URL (default: $QUOTESERVER_ES_URL or %(default)s)",
    )
    parser.add_argument(
        "--index",
        default=os.environ.get("QUOTESERVER_INDEX", DEFAULT_INDEX),
        help="index name (default: $QUOTESERVER_INDEX or %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=_positive,
        default=900000,
        help="number of documents, ids 1..N (default %(default)s, the original's)",
    )
    parser.add_argument(
        "--source",
        default="fortunes",
        help="'fortunes' (Debian's fortune files) or a .jsonl/.csv file of {quote, author}",
    )
    parser.add_argument(
        "--fortunes-dir",
        default=str(DEFAULT_FORTUNES_DIR),
        help="where the fortune files are (default %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild the index even when it is up to date")
    parser.add_argument(
        "--no-merge",
        dest="merge",
        action="store_false",
        help="skip the final force-merge to one segment (which costs about a fifth of the bulk time and "
        "gives the same index on every load)",
    )
    parser.add_argument(
        "--threads", type=_positive, default=2, help="parallel bulk requests (default %(default)s)"
    )
    parser.add_argument(
        "--chunk-size", type=_positive, default=5000, help="documents per bulk request (default %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per Elasticsearch request (default %(default)s)"
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one final JSON line (changed, documents, seconds, docs_per_s, bulk_seconds, merge_seconds, "
        "index_size_bytes) on stdout; other messages go to stderr",
    )
    parser.add_argument("--version", action="version", version=f"quoteserver-load {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    human = sys.stderr if args.json else sys.stdout
    try:
        result = run(args, human)
    except (CorpusError, LoaderError) as exc:
        code = exc.exit_code if isinstance(exc, LoaderError) else EXIT_CORPUS
        print(f"quoteserver-load: error: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"changed": False, "error": str(exc)}))
        return code
    except KeyboardInterrupt:
        print("quoteserver-load: interrupted; the index is incomplete (no fingerprint)", file=sys.stderr)
        return 130
    print(result.message, file=human)
    if args.json:
        print(result.as_json())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
