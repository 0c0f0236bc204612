#!/usr/bin/env python3
"""whiskey's probe of the server under test (standard library only, Python >= 3.11).

Run on the server host before and after each measured run. It looks at the scenario as the client and the
operator would: are the backends the app needs healthy, does the app's health path answer, do its requests
answer (for the quote server: with the quote that Elasticsearch holds), is the supervisor program RUNNING, and
which processes make it up. Comparing the document printed before a run with the one printed after it tells
whether the server stayed up and whole: the supervisor programs restart a server that exits and every
multi-process server replaces a dead worker, so a crash does not leave the scenario down; it shows here as a
changed program pid or a changed list of pids (no server recycles its workers on its own during a run). The
comparison itself is the report's job (report/src/whiskey_report/verdict.py).

Usage:
  whiskey_probe.py --url http://<server address>:<scenario port> --program <supervisor program name>
                   [--health PATH] [--check PATH]... [--verify quotes [--es-url URL] [--index NAME]]
                   [--backend NAME=KIND:URL]...
                   [--ids 17,4242 | --corpus-size N [--seed S]]
                   [--supervisorctl supervisorctl] [--timeout 5]

  --url            the scenario's public URL, as the client reaches it (nginx's port for nginx scenarios)
  --program        the scenario's supervisor program (e.g. quoteserver-<scenario>)
  --health PATH    the app's health path (its manifest's `health`, e.g. /health): GET <url>PATH must answer 200
  --check PATH     repeatable: one of the app's requests (a path of its manifest's `requests`, e.g.
                   "/work?n=20000"): GET <url>PATH must answer 2xx with a body that could be read. "{id}" in PATH
                   stands for an id: a path holding it is checked once per id (--ids / --corpus-size; every {id}
                   of the path replaced by that id), a path without it once. No other {placeholder} is allowed.
  --verify quotes  the built-in answer check of the quote server (its manifest's `verify: quotes`): for every id,
                   GET <url>/quotes/byId?id=N&format=json must answer 200 with the quote Elasticsearch holds
  --es-url         with --verify quotes: Elasticsearch as the app reaches it (default http://127.0.0.1:9200)
  --index          with --verify quotes: the quotes index (default quotes)
  --backend NAME=KIND:URL
                   repeatable: a backend the app needs, probed into the top-level section NAME (letters, digits,
                   '.', '_', '-'; not one of the document's own keys: at, backends, health, request, program,
                   processes). KIND `elasticsearch`: GET URL/_cluster/health must be green or yellow; KIND `http`:
                   GET URL (as given, path included) must answer 2xx. E.g.
                   --backend elasticsearch=elasticsearch:http://127.0.0.1:9200 --backend cache=http:http://127.0.0.1:8500/ok
  --ids            known ids, comma-separated: what --verify quotes and a --check path with {id} ask for
  --corpus-size    instead of --ids: two distinct ids drawn from 1..N by random.Random(S).sample (S: --seed,
                   default 0), the same for the same N and S, so the before and after probes ask for the same.
                   Needed by --verify quotes and by a --check path with {id}; unused (allowed) otherwise
  --supervisorctl  the supervisorctl command, split like a shell would (e.g. "supervisorctl -c /etc/s.conf")
  --timeout        seconds for every network call and every supervisorctl call (default 5); urllib applies it
                   to each socket operation (connect, each read)

  At least one answer check, --check or --verify, is required: a probe that asked nothing about the app's
  answers cannot say that the app answers, so a document whose request section has no check never comes out of
  it (and the verdict does not take one for a working app).

  Compatibility: with none of --health, --check, --verify and --backend, the probe reads its arguments as the
  bench role of an earlier whiskey sends them (`--es-url U --index I --corpus-size N --seed S --url ...
  --program ...`, the quote server): as `--verify quotes --backend elasticsearch=elasticsearch:U`. That gives
  the document it gave before, with the two new keys "backends": ["elasticsearch"] and "health": null.

Output: ONE JSON document on stdout, e.g. (the quote server, --health /quotes/sayHello --verify quotes
--backend elasticsearch=elasticsearch:http://127.0.0.1:9200)
{"at": "<UTC ISO Z>",
 "backends": ["elasticsearch"],
 "elasticsearch": {"ok": bool, "status": "green|yellow|red|null", "error": str|null},
 "health": {"path": "/quotes/sayHello", "status": 200, "ok": bool, "error": str|null, "elapsed_ms": float},
 "request": {"ok": bool, "checks": [{"id": 17, "status": 200, "ok": bool, "error": str|null, "elapsed_ms": float}]},
 "program": {"name": str, "state": "RUNNING|STOPPED|FATAL|BACKOFF|...|null", "pid": int|null, "ok": bool,
             "error": str|null},
 "processes": {"pids": [sorted ints: the program's pid and all its descendants], "count": int}}
and for a CPU-bound app without backends (--health /health --check "/work?n=20000" --check /hello):
 "backends": [], "health": {...}, "request": {"ok": bool, "checks": [
   {"path": "/work?n=20000", "status": 200, "ok": bool, "error": str|null, "elapsed_ms": float},
   {"path": "/hello", ...}]}

  at             when the probe started, UTC, e.g. "2026-05-04T09:30:12.345Z".
  backends       the names of --backend, in their order ([] without --backend); each has its own section:
  <name>         kind elasticsearch: GET <url>/_cluster/health -> {"ok", "status", "error"}. ok: it answered and
                 its status is green or yellow (a single node with replicas stays yellow; red means a primary
                 shard is missing). status: the cluster's status, null when it did not answer; error says why
                 (refused, timed out, HTTP status, not JSON, red).
                 kind http: GET <url> -> {"ok", "status", "error"}. ok: it answered 2xx. status: the HTTP status,
                 null when there was no answer; error says why (refused, timed out, the status and the answer's
                 first line), null when ok.
  health         null without --health. GET <url><path>: ok when it answered 200. status: the HTTP status, null
                 when there was no answer; error: why not ok (refused, timed out, the status and the app's
                 message); elapsed_ms: wall time of the request until its body was read or it failed.
  request        the answer checks, in order: --verify quotes' (one per id), then every --check (one per id when
                 its path holds {id}). request.ok: every check ok (false when there is none).
                 A --check check: {"path": the path requested, {id} replaced, "status", "ok", "error",
                 "elapsed_ms"}; ok when the answer is 2xx and its body was read.
                 A --verify quotes check: {"id": N, "status", "ok", "error", "elapsed_ms"}:
                 GET <url>/quotes/byId?id=N&format=json (Accept: application/json). ok when the answer is 200 AND
                 it holds the quote that Elasticsearch holds for N (GET <es-url>/<index>/_doc/N -> _source.quote
                 and _source.author): the JSON answer's id, quote and author must be equal; an HTML answer must
                 contain the quote's text (the page is unescaped before comparing, so any HTML escaping of the
                 text compares equal).
                 In both: status is the HTTP status, null when there was no answer (refused, timed out, reset);
                 elapsed_ms the wall time of the request to <url>, until its body was read or it failed; error
                 why the check failed (the app's error message for a 503, the differing text for a wrong quote,
                 Elasticsearch's failure when the expected quote could not be read), null when ok.
  program        `supervisorctl status <program>` (state) and `supervisorctl pid <program>` (pid, null when not
                 running). ok: state RUNNING with a pid. state null when supervisor could not tell (no such
                 program, supervisord not running, supervisorctl missing); error says why.
  processes      the program's pid and all its descendants (workers, routers, their children), sorted, read from
                 /proc/<pid>/task/*/children (or, on kernels without that file, from the parent pid of every
                 /proc/*/stat); zombies (dead, not yet reaped) are left out. Empty when the program has no pid.

Exit status: 0 whenever the document was printed, however broken what it probes is (a refused connection, a
timeout, a 503, a wrong body: each is reported in the document, never raised); 2 on bad arguments, with a
message on stderr naming the argument.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import random
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

PROC = Path("/proc")
HEALTHY = ("green", "yellow")
SAMPLE_IDS = 2
# Longest piece of a quote or of an answer quoted in an error message.
EXCERPT = 80
DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "quotes"
# The built-in answer checks (--verify): the quote server's.
VERIFY = ("quotes",)
# What "{id}" in a --check path stands for; no other placeholder exists.
ID = "{id}"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The document's own top-level keys: no backend may be named like one.
RESERVED = ("at", "backends", "health", "request", "program", "processes")
SUCCESS = range(200, 300)
OK_200 = (200,)
ANY_TYPE = "*/*"

# Never through a proxy from the environment (http_proxy): the probe talks to this host and its scenario.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- arguments -------------------------------------------------------------------------------------------


class Backend(NamedTuple):
    name: str
    kind: str
    url: str


def _http_url(text: str) -> str:
    """An http(s) URL with a host, as given (path and trailing slash kept)."""
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL with a host, got {text!r}")
    return text.strip()


def _url(text: str) -> str:
    """A base URL, without its trailing slash (paths are appended to it)."""
    return _http_url(text).rstrip("/")


def _ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"must be positive integers separated by commas, got {text!r}")
    return [int(p) for p in parts]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _name(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text.strip()):
        raise argparse.ArgumentTypeError(f"must be a non-empty name without spaces, got {text!r}")
    return text.strip()


def _index(text: str) -> str:
    name = text.strip()
    if not name or name != name.lower() or any(c in name for c in ' "*\\/<>|,#?'):
        raise argparse.ArgumentTypeError(f"is not a valid Elasticsearch index name: {text!r}")
    return name


def _command(text: str) -> list[str]:
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot be split into a command ({exc}): {text!r}") from None
    if not argv:
        raise argparse.ArgumentTypeError("must name a command, got an empty string")
    return argv


def _path(text: str) -> str:
    """A request path of the app: starts with '/', no spaces, no placeholder but {id}."""
    path = text.strip()
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise argparse.ArgumentTypeError(f"must be a path starting with '/' without spaces, got {text!r}")
    unknown = sorted(set(PLACEHOLDER.findall(path)) - {ID})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"has the unknown placeholder {', '.join(unknown)} (only {ID} stands for an id), got {text!r}"
        )
    return path


def _health_path(text: str) -> str:
    path = _path(text)
    if ID in path:
        raise argparse.ArgumentTypeError(f"must be a fixed path, without {ID}, got {text!r}")
    return path


def _backend(text: str) -> Backend:
    name, has_name, rest = text.partition("=")
    kind, has_kind, url = rest.partition(":")
    if not has_name or not has_kind:
        raise argparse.ArgumentTypeError(
            f"must be NAME=KIND:URL (e.g. elasticsearch=elasticsearch:http://127.0.0.1:9200), got {text!r}"
        )
    name, kind = name.strip(), kind.strip()
    if not NAME.match(name):
        raise argparse.ArgumentTypeError(
            f"the name {name!r} must be letters, digits, '.', '_' or '-' (at most 64), in {text!r}"
        )
    if name in RESERVED:
        raise argparse.ArgumentTypeError(
            f"the name {name!r} is one of the document's own keys ({', '.join(RESERVED)}), in {text!r}"
        )
    if kind not in BACKEND_PROBES:
        raise argparse.ArgumentTypeError(
            f"the kind {kind!r} is not one of {', '.join(BACKEND_PROBES)}, in {text!r}"
        )
    return Backend(name, kind, _url(url) if kind == "elasticsearch" else _http_url(url))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="whiskey_probe.py",
        description="Probe the server under test; prints one JSON document (see the module docstring).",
    )
    parser.add_argument(
        "--url", required=True, type=_url, help="the scenario's public URL, as the client reaches it"
    )
    parser.add_argument("--program", required=True, type=_name, help="the scenario's supervisor program")
    parser.add_argument("--health", type=_health_path, help="the app's health path: must answer 200")
    parser.add_argument(
        "--check",
        type=_path,
        action="append",
        default=[],
        help="a request of the app that must answer 2xx ({id}: each id); repeatable",
    )
    parser.add_argument(
        "--verify", choices=VERIFY, help="a built-in answer check: quotes (the quote server's /quotes/byId)"
    )
    parser.add_argument(
        "--backend",
        type=_backend,
        action="append",
        default=[],
        metavar="NAME=KIND:URL",
        help="a backend the app needs (KIND: elasticsearch or http); repeatable",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--ids", type=_ids, help="known ids to ask for, comma-separated (17,4242)")
    which.add_argument("--corpus-size", type=_positive_int, help="pick 2 deterministic ids from 1..N")
    parser.add_argument(
        "--seed", type=_int, default=None, help="seed of the ids picked from --corpus-size (0)"
    )
    parser.add_argument(
        "--es-url", type=_url, default=None, help=f"with --verify quotes: Elasticsearch ({DEFAULT_ES_URL})"
    )
    parser.add_argument(
        "--index", type=_index, default=None, help=f"with --verify quotes: the index ({DEFAULT_INDEX})"
    )
    parser.add_argument(
        "--supervisorctl",
        type=_command,
        default=["supervisorctl"],
        help="supervisorctl command (shell-split)",
    )
    parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds for every call (5)")
    args = parser.parse_args(argv)
    compatible = not (args.health or args.check or args.verify or args.backend)
    if compatible:
        # Today's invocation by an earlier bench role: the quote server (module docstring, "Compatibility").
        args.verify = "quotes"
        args.backend = [Backend("elasticsearch", "elasticsearch", args.es_url or DEFAULT_ES_URL)]
    elif not (args.check or args.verify):
        parser.error(
            "arguments --check/--verify: give at least one answer check (--check PATH or --verify quotes): "
            "without one nothing tells whether the app answers"
        )
    elif args.verify is None:
        for option, value in (("--es-url", args.es_url), ("--index", args.index)):
            if value is not None:
                parser.error(f"argument {option}: only applies with --verify quotes")
    args.es_url = args.es_url or DEFAULT_ES_URL
    args.index = args.index or DEFAULT_INDEX
    names = [b.name for b in args.backend]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        parser.error(f"argument --backend: the name {', '.join(map(repr, twice))} is given more than once")
    if args.seed is not None and args.corpus_size is None:
        parser.error("argument --seed: only applies with --corpus-size, not with --ids")
    if args.corpus_size is not None:
        args.ids = pick_ids(args.corpus_size, 0 if args.seed is None else args.seed)
    needs = [f"--check {p}" for p in args.check if ID in p]
    if args.verify:
        quotes = "the quote server's check, without --health, --check, --verify and --backend"
        needs.insert(0, quotes if compatible else "--verify quotes")
    if needs and not args.ids:
        parser.error(f"one of the arguments --ids --corpus-size is required (by {', '.join(needs)})")
    args.ids = args.ids or []
    return args


def pick_ids(corpus_size: int, seed: int) -> list[int]:
    """Two distinct ids of 1..corpus_size (one when it is 1), the same for the same size and seed."""
    count = min(SAMPLE_IDS, corpus_size)
    return sorted(random.Random(seed).sample(range(1, corpus_size + 1), count))


# --- HTTP ------------------------------------------------------------------------------------------------


class Answer:
    """What an HTTP GET got: a status and a body, or an error saying why there was none (or why its body could
    not be read: then the status is kept)."""

    def __init__(self, status: int | None, body: bytes, content_type: str, error: str | None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.error = error

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror or exc})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def http_get(url: str, timeout: float, accept: str = "application/json") -> Answer:
    """GET url; never raises: an HTTP error status is an answer, no answer is an error."""
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "whiskey-probe"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, content_type = response.status, response.headers.get("Content-Type", "")
            try:
                return Answer(status, response.read(), content_type, None)
            except Exception as exc:  # the status line came, the body did not
                why = f"GET {url}: HTTP {status}, but its body could not be read: {_why(exc, timeout)}"
                return Answer(status, b"", content_type, why)
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read()
        except Exception:
            body = b""
        content_type = exc.headers.get("Content-Type", "") if exc.headers else ""
        return Answer(exc.code, body, content_type, None)
    except Exception as exc:  # refused, timed out, reset, bad status line, ...: reported, never raised
        return Answer(None, b"", "", f"GET {url}: {_why(exc, timeout)}")


def timed_get(url: str, timeout: float, accept: str) -> tuple[Answer, float]:
    """http_get and its wall time in ms, until the body was read or the request failed."""
    started = time.perf_counter()
    answer = http_get(url, timeout, accept)
    return answer, round((time.perf_counter() - started) * 1000.0, 3)


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= EXCERPT else text[:EXCERPT] + "…")


def _error_of(answer: Answer, url: str) -> str:
    """One line for an answer with an unwanted status: its status and the app's (or Elasticsearch's) message."""
    data = answer.json()
    detail = ""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):  # Elasticsearch: {"error": {"type": ..., "reason": ...}}
            detail = f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        elif error is not None:  # the app: {"error": kind, "message": ...}
            detail = f"{error}: {data.get('message', '')}".strip(": ")
    if not detail:
        detail = (
            answer.body.decode("utf-8", "replace").strip().splitlines()[0][:EXCERPT] if answer.body else ""
        )
    return f"GET {url}: HTTP {answer.status}" + (f" ({detail})" if detail else "")


def _failure(answer: Answer, url: str, wanted=SUCCESS) -> str | None:
    """None when the answer came, with its body, and its status is one of `wanted`; else why not."""
    if answer.error:
        return answer.error
    if answer.status not in wanted:
        return _error_of(answer, url)
    return None


# --- backends --------------------------------------------------------------------------------------------


def probe_elasticsearch(es_url: str, timeout: float) -> dict[str, Any]:
    url = f"{es_url}/_cluster/health"
    answer = http_get(url, timeout)
    failure = _failure(answer, url, OK_200)
    if failure:
        return {"ok": False, "status": None, "error": failure}
    data = answer.json()
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(status, str):
        return {"ok": False, "status": None, "error": f"GET {url}: not a cluster health document"}
    if status not in HEALTHY:
        return {"ok": False, "status": status, "error": f"cluster health is {status}"}
    return {"ok": True, "status": status, "error": None}


def probe_http(url: str, timeout: float) -> dict[str, Any]:
    answer = http_get(url, timeout, ANY_TYPE)
    failure = _failure(answer, url)
    return {"ok": failure is None, "status": answer.status, "error": failure}


# --backend KIND -> its probe(url, timeout)
BACKEND_PROBES: dict[str, Callable[[str, float], dict[str, Any]]] = {
    "elasticsearch": probe_elasticsearch,
    "http": probe_http,
}


# --- the app's health and answers ------------------------------------------------------------------------


def check_path(url: str, path: str, timeout: float, wanted=SUCCESS) -> dict[str, Any]:
    """GET <url><path>: ok when it answered with a status of `wanted` and its body was read (--check: 2xx,
    --health: 200)."""
    answer, elapsed_ms = timed_get(url + path, timeout, ANY_TYPE)
    failure = _failure(answer, url + path, wanted)
    return {
        "path": path,
        "status": answer.status,
        "ok": failure is None,
        "error": failure,
        "elapsed_ms": elapsed_ms,
    }


def expected_quote(
    es_url: str, index: str, quote_id: int, timeout: float
) -> tuple[dict[str, str] | None, str | None]:
    """(the quote and author Elasticsearch holds for the id, None) or (None, why they could not be read)."""
    url = f"{es_url}/{urllib.parse.quote(index)}/_doc/{quote_id}"
    answer = http_get(url, timeout)
    if answer.error:
        return None, f"cannot read the expected quote from Elasticsearch: {answer.error}"
    data = answer.json()
    if answer.status == 404 and isinstance(data, dict) and data.get("found") is False:
        return None, f"id {quote_id} is not in Elasticsearch's index {index!r}: the probe's ids are wrong"
    if answer.status != 200:
        return None, f"cannot read the expected quote from Elasticsearch: {_error_of(answer, url)}"
    source = data.get("_source") if isinstance(data, dict) else None
    if not isinstance(source, dict):
        return None, f"GET {url}: the answer has no _source"
    return {"quote": str(source.get("quote", "")), "author": str(source.get("author", ""))}, None


def _compare(answer: Answer, quote_id: int, expected: dict[str, str]) -> str | None:
    """None when the 200 answer holds the expected quote, else what differs."""
    data = answer.json()
    if isinstance(data, dict):
        for field, want in (("id", quote_id), ("quote", expected["quote"]), ("author", expected["author"])):
            got = data.get(field)
            if got != want:
                shown = _excerpt(got) if isinstance(got, str) else json.dumps(got)
                wanted = _excerpt(want) if isinstance(want, str) else json.dumps(want)
                return f"the answer's {field} for id {quote_id} is {shown}, Elasticsearch holds {wanted}"
        return None
    text = answer.body.decode("utf-8", "replace")
    if "html" in answer.content_type.lower() or "<html" in text[:512].lower():
        if expected["quote"] and expected["quote"] in html.unescape(text):
            return None
        return f"the HTML answer for id {quote_id} does not contain the quote {_excerpt(expected['quote'])}"
    return f"the answer for id {quote_id} is neither JSON nor HTML: {_excerpt(text)}"


def check_id(url: str, es_url: str, index: str, quote_id: int, timeout: float) -> dict[str, Any]:
    """--verify quotes: /quotes/byId?id=N answers 200 with the quote Elasticsearch holds for N."""
    expected, es_error = expected_quote(es_url, index, quote_id, timeout)
    target = f"{url}/quotes/byId?id={quote_id}&format=json"
    answer, elapsed_ms = timed_get(target, timeout, "application/json")
    check: dict[str, Any] = {"id": quote_id, "status": answer.status, "ok": False, "error": None}
    check["error"] = _failure(answer, target, OK_200)
    if check["error"] is None:
        check["error"] = es_error if expected is None else _compare(answer, quote_id, expected)
        check["ok"] = check["error"] is None
    check["elapsed_ms"] = elapsed_ms
    return check


def answer_checks(args: argparse.Namespace) -> list[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]:
    """(what names the check, the check) of every answer check, in the document's order: --verify quotes' (one
    per id), then every --check path (one per id when it holds {id})."""
    checks: list[tuple[dict[str, Any], Callable[[], dict[str, Any]]]] = []
    if args.verify == "quotes":
        for quote_id in args.ids:
            checks.append(
                (
                    {"id": quote_id},
                    partial(check_id, args.url, args.es_url, args.index, quote_id, args.timeout),
                )
            )
    for path in args.check:
        for expanded in [path.replace(ID, str(i)) for i in args.ids] if ID in path else [path]:
            checks.append(({"path": expanded}, partial(check_path, args.url, expanded, args.timeout)))
    return checks


def probe_request(checks: list[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]) -> dict[str, Any]:
    done = []
    for named, check in checks:
        try:
            done.append(check())
        except Exception as exc:  # a bug of the probe is reported in the check, never raised
            error = f"probe failed: {type(exc).__name__}: {exc}"
            done.append({**named, "status": None, "ok": False, "error": error, "elapsed_ms": None})
    return {"ok": bool(done) and all(c["ok"] for c in done), "checks": done}


# --- supervisor ------------------------------------------------------------------------------------------


def _supervisorctl(command: list[str], args: list[str], timeout: float) -> tuple[int | None, str, str | None]:
    """(exit status, output, None) or (None, '', why it could not run)."""
    argv = [*command, *args]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return None, "", f"{command[0]}: command not found"
    except subprocess.TimeoutExpired:
        return None, "", f"{shlex.join(argv)}: timed out after {timeout:g} s"
    except OSError as exc:
        return None, "", f"{shlex.join(argv)}: {exc}"
    return done.returncode, (done.stdout + done.stderr).strip(), None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def probe_program(command: list[str], name: str, timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = {"name": name, "state": None, "pid": None, "ok": False, "error": None}
    rc, out, error = _supervisorctl(command, ["status", name], timeout)
    if error:
        result["error"] = error
        return result
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and (fields[0] == name or fields[0].endswith(":" + name)):
            if "ERROR" in fields[1]:
                break
            result["state"] = fields[1]
            break
    if result["state"] is None:
        if "no such process" in out or "no such group" in out:
            result["error"] = f"supervisor has no program {name!r}"
        else:
            result["error"] = f"supervisorctl status {name} (exit {rc}): {_one_line(out) or 'no output'}"
        return result
    rc, out, error = _supervisorctl(command, ["pid", name], timeout)
    if error:
        result["error"] = error
    elif out.strip().isdigit():
        result["pid"] = int(out.strip()) or None
    else:
        result["error"] = f"supervisorctl pid {name} (exit {rc}): {_one_line(out) or 'no output'}"
    if result["state"] == "RUNNING" and result["pid"]:
        result["ok"] = True
    elif result["error"] is None:
        result["error"] = f"program {name} is {result['state']}" + (
            "" if result["pid"] else ", without a pid"
        )
    return result


# --- processes -------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, None when it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...; comm may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[1])
    except (IndexError, ValueError):
        return None


def _children_from_files(pid: int) -> list[int] | None:
    """Children of every thread of pid from /proc/<pid>/task/*/children; None when the kernel has no such file."""
    tasks = PROC / str(pid) / "task"
    try:
        task_dirs = list(tasks.iterdir())
    except OSError:
        return []  # the process is gone
    if task_dirs and not (task_dirs[0] / "children").exists():
        return None
    found: list[int] = []
    for task in task_dirs:
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def _children_by_scan() -> dict[int, list[int]]:
    """Parent pid -> child pids, from every /proc/<pid>/stat."""
    by_parent: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None:
            by_parent.setdefault(stat[1], []).append(int(entry.name))
    return by_parent


def process_tree(pid: int | None) -> list[int]:
    """pid and all its live descendants, sorted (zombies left out); [] when pid is None or gone."""
    if not pid:
        return []
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return []
    by_parent: dict[int, list[int]] | None = None
    seen = {pid}
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = _children_from_files(parent) if by_parent is None else by_parent.get(parent, [])
        if children is None:  # no /proc/<pid>/task/*/children on this kernel: scan every process once
            by_parent = _children_by_scan()
            children = by_parent.get(parent, [])
        for child in children:
            if child in seen:
                continue
            child_stat = _stat(child)
            if child_stat is None or child_stat[0] == "Z":
                continue
            seen.add(child)
            todo.append(child)
    return sorted(seen)


def probe_processes(pid: int | None) -> dict[str, Any]:
    try:
        pids = process_tree(pid)
    except OSError:
        pids = []
    return {"pids": pids, "count": len(pids)}


# --- main ------------------------------------------------------------------------------------------------


def _guard(section: str, fallback: dict[str, Any], probe, *args) -> dict[str, Any]:
    """Run one probe; an unexpected failure of the probe itself is reported in its section, never raised."""
    try:
        return probe(*args)
    except Exception as exc:
        return {**fallback, "error": f"probe of {section} failed: {type(exc).__name__}: {exc}"}


def probe(args: argparse.Namespace) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc: dict[str, Any] = {"at": at, "backends": [b.name for b in args.backend]}
    for backend in args.backend:
        doc[backend.name] = _guard(
            f"backend {backend.name}",
            {"ok": False, "status": None},
            BACKEND_PROBES[backend.kind],
            backend.url,
            args.timeout,
        )
    doc["health"] = None
    if args.health is not None:
        doc["health"] = _guard(
            "health",
            {"path": args.health, "status": None, "ok": False, "elapsed_ms": None},
            check_path,
            args.url,
            args.health,
            args.timeout,
            OK_200,
        )
    doc["request"] = probe_request(answer_checks(args))
    doc["program"] = _guard(
        "program",
        {"name": args.program, "state": None, "pid": None, "ok": False},
        probe_program,
        args.supervisorctl,
        args.program,
        args.timeout,
    )
    doc["processes"] = probe_processes(doc["program"].get("pid"))
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    json.dump(probe(args), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
