"""whiskey_probe.py against real components: a real supervisord running the real quote app under real gunicorn.

supervisord comes from the interpreter running pytest when it can import supervisor, else supervisor 4.3.0
is pip-installed into a temporary folder once per session (the server hosts run Debian 12's 4.2.5: the same
`status` and `pid` output). Its one program is the quote app from app/src under the gunicorn of the
interpreter running pytest (the project's .venv), configured by the role's own template
roles/quoteserver/templates/servers/gunicorn.j2 with 2 workers, so the program has a process tree and a killed
worker is replaced by gunicorn's arbiter as in production. Elasticsearch is a stdlib stand-in (/_cluster/health
and /<index>/_doc/<id>, with the product header the elasticsearch client requires) that the tests stop and
start again on the same port; another app (any WSGI app: --health, --check, an http backend) is a stdlib
stand-in with fixed answers (200, 204, 404, 500) that records what it was asked. The probe runs as on a server
host: with the system python3 (stdlib only), as a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "roles/bench/files/whiskey_probe.py"
GUNICORN_TEMPLATE = ROOT / "roles/quoteserver/templates/servers/gunicorn.j2"
APP_SRC = ROOT / "app/src"
GUNICORN = Path(sys.executable).parent / "gunicorn"
SUPERVISOR_PIN = "supervisor==4.3.0"
PROGRAM = "quoteserver-probe-test"
PIP_INSTALL = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
INDEX = "quotes"
# The probe runs with the server's system python3 (Debian 12: 3.11); elsewhere with this interpreter.
PYTHON3 = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

# What the Elasticsearch stand-in holds: HTML-special characters, quotes and non-ASCII text on purpose.
QUOTES = {
    1: {"quote": 'Fools rush in where "angels" fear to tread & <tags> are escaped.', "author": "Pope"},
    2: {"quote": "Ünïcödé — naïve café, l'été.", "author": "Anonyme"},
    3: {"quote": "Simple is better than complex.", "author": "Tim Peters"},
    4: {"quote": "Now is better than never.", "author": "Tim Peters"},
    5: {"quote": "Errors should never pass silently.", "author": "Tim Peters"},
}
# Another cluster: the same ids, other quotes.
OTHER_QUOTES = {i: {"quote": f"Not the quote the app serves ({i}).", "author": "Nobody"} for i in QUOTES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- an Elasticsearch stand-in ---------------------------------------------------------------------------


class StandIn:
    """A stdlib HTTP server on a port of its own; stop()/start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> None:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            self._server.daemon_threads = True
            threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class FakeElasticsearch(StandIn):
    """Answers GET /_cluster/health and GET /<index>/_doc/<id> like Elasticsearch 8."""

    def __init__(self, quotes: dict[int, dict[str, str]], health: str = "green") -> None:
        super().__init__()
        self.quotes = quotes
        self.health = health

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: every connection closes after its answer, so stop() leaves no kept-alive connection served
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/_cluster/health":
                    self._send(200, {"cluster_name": "fake", "status": fake.health, "number_of_nodes": 1})
                    return
                parts = path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == INDEX and parts[1] == "_doc" and parts[2].isdigit():
                    doc_id = int(parts[2])
                    if doc_id in fake.quotes:
                        self._send(
                            200,
                            {
                                "_index": INDEX,
                                "_id": str(doc_id),
                                "found": True,
                                "_source": fake.quotes[doc_id],
                            },
                        )
                    else:
                        self._send(404, {"_index": INDEX, "_id": str(doc_id), "found": False})
                    return
                self._send(
                    400, {"error": {"type": "illegal_argument_exception", "reason": f"no route {path}"}}
                )

        return Handler


# path -> (status, content type, body) of the app stand-in; /items/<n> answers 200 for n in 1..5, else 404.
APP_ANSWERS = {
    "/health": (200, "text/plain", b"ok"),
    "/hello": (200, "text/plain", b"hello"),
    "/work": (200, "application/json", b'{"n": 20000, "result": 42}'),
    "/empty": (204, "text/plain", b""),
    "/boom": (500, "application/json", b'{"error": "internal", "message": "the work failed"}'),
}


class FakeApp(StandIn):
    """Any app but the quote server: fixed answers (APP_ANSWERS), every path asked for kept in `asked`."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.asked.append(self.path)
                path = self.path.split("?", 1)[0]
                item = path.removeprefix("/items/")
                if item.isdigit():
                    found = 1 <= int(item) <= 5
                    status, kind, body = (200, "text/plain", item.encode()) if found else (404, "", b"")
                else:
                    status, kind, body = APP_ANSWERS.get(path, (404, "text/plain", b"no such page"))
                self.send_response(status)
                if kind:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture(scope="module")
def app() -> Iterator[FakeApp]:
    fake = FakeApp()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def es() -> Iterator[FakeElasticsearch]:
    fake = FakeElasticsearch(QUOTES)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def es_up(es: FakeElasticsearch) -> Iterator[FakeElasticsearch]:
    """The stand-in running at the start and at the end of the test, whatever the test did to it."""
    es.start()
    yield es
    es.start()


@pytest.fixture(scope="module")
def other_es() -> Iterator[FakeElasticsearch]:
    fake = FakeElasticsearch(OTHER_QUOTES)
    fake.start()
    yield fake
    fake.stop()


# --- a real supervisord running the real app under real gunicorn -----------------------------------------


@pytest.fixture(scope="session")
def supervisor_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH entry from which this interpreter imports supervisor ('' when it already can)."""
    if importlib.util.find_spec("supervisor") is not None:
        return ""
    target = tmp_path_factory.mktemp("supervisor-lib")
    done = subprocess.run(
        [*PIP_INSTALL, "--target", str(target), SUPERVISOR_PIN],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"pip install {SUPERVISOR_PIN} failed:\n{done.stdout}\n{done.stderr}"
    return str(target)


class Stack:
    def __init__(self, base: Path, supervisor_path: str, es: FakeElasticsearch) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = base / "supervisord.conf"
        self.gunicorn_pidfile = base / "gunicorn.pid"
        self.env = dict(os.environ)
        if supervisor_path:
            self.env["PYTHONPATH"] = supervisor_path
        self.env.pop("http_proxy", None)
        self.env.pop("HTTP_PROXY", None)
        # The command the probe is given: a wrapper plus arguments, split by the probe like a shell would.
        wrapper = base / "supervisorctl"
        pythonpath = f"PYTHONPATH={supervisor_path} " if supervisor_path else ""
        wrapper.write_text(f'#!/bin/sh\n{pythonpath}exec {sys.executable} -m supervisor.supervisorctl "$@"\n')
        wrapper.chmod(0o755)
        self.supervisorctl = f"{wrapper} -c {self.conf}"
        self.es = es
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        gunicorn_conf = self.base / "gunicorn.conf.py"
        template = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        ).from_string(GUNICORN_TEMPLATE.read_text())
        qs = {
            "name": "probe-test",
            "program": PROGRAM,
            "bind_host": "127.0.0.1",
            "bind_port": self.port,
            "threads": 1,
            "worker_class": "sync",
        }
        gunicorn_conf.write_text(
            template.render(
                qs=qs, quoteserver_workers=2, quoteserver_listen_backlog=128, ansible_managed="test"
            )
        )
        environment = ",".join(
            f'{k}="{v}"'
            for k, v in {
                "PYTHONPATH": str(APP_SRC),
                "PYTHONUNBUFFERED": "1",
                "QUOTESERVER_ES_URL": self.es.url,
                "QUOTESERVER_INDEX": INDEX,
                "QUOTESERVER_ES_TIMEOUT": "1",
            }.items()
        )
        sock = self.base / "s.sock"
        self.conf.write_text(
            f"""[unix_http_server]
file={sock}

[supervisord]
logfile={self.base}/supervisord.log
pidfile={self.base}/supervisord.pid
childlogdir={self.base}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

; as the quoteserver role installs a scenario's program (programs.yml.j2 through the supervisor role)
[program:{PROGRAM}]
command={GUNICORN} --config {gunicorn_conf} --pid {self.gunicorn_pidfile} quoteserver.wsgi:app
directory={self.base}
environment={environment}
autostart=true
autorestart=true
startsecs=1
startretries=3
stopsignal=TERM
stopwaitsecs=15
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={self.base}/{PROGRAM}.log
"""
        )

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*self.supervisorctl.split(), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=self.env)

    def log(self) -> str:
        path = self.base / f"{PROGRAM}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def start(self) -> None:
        self.write_config()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_serving()

    def wait_serving(self, timeout: float = 30) -> None:
        """Until supervisor says RUNNING, the master has 2 workers and /quotes/sayHello answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            master = self.master_pid()
            if master and len(children_of(master)) == 2 and self.says_hello() and self.running():
                return
            time.sleep(0.2)
        raise AssertionError(f"the app did not come up within {timeout} s:\n{self.log()}")

    def running(self) -> bool:
        fields = self.ctl("status", PROGRAM).stdout.split()
        return fields[1:2] == ["RUNNING"]

    def says_hello(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /quotes/sayHello HTTP/1.0\r\nHost: x\r\n\r\n")
                return s.recv(64).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False

    def master_pid(self) -> int | None:
        """gunicorn's own pidfile: independent of supervisorctl, which the probe asks."""
        try:
            return int(self.gunicorn_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.ctl("shutdown")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, supervisor_path: str, es: FakeElasticsearch
) -> Iterator[Stack]:
    if not GUNICORN.exists():
        pytest.fail(f"gunicorn is not installed beside {sys.executable} (the project's .venv has it)")
    running = Stack(tmp_path_factory.mktemp("sv"), supervisor_path, es)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def children_of(pid: int) -> list[int]:
    """Live children of pid from every /proc/*/status (not the probe's way of reading them)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and not fields.get("State", "").startswith("Z"):
            found.append(int(status.parent.name))
    return sorted(found)


def probe(stack: Stack, *args: str, es_url: str | None = None, url: str | None = None) -> dict[str, Any]:
    argv = [
        PYTHON3,
        str(PROBE),
        "--url",
        url or stack.url,
        "--es-url",
        es_url or stack.es.url,
        "--index",
        INDEX,
        "--program",
        PROGRAM,
        "--supervisorctl",
        stack.supervisorctl,
        *args,
    ]
    if "--ids" not in args and "--corpus-size" not in args:
        argv += ["--ids", "1,2"]
    if "--timeout" not in args:
        argv += ["--timeout", "5"]
    return _run(stack, argv)


def probe_app(stack: Stack, *args: str, url: str | None = None) -> dict[str, Any]:
    """The probe as the bench calls it for an app of a manifest: only --url, --program, --supervisorctl and
    --timeout added (no --es-url, --index or ids)."""
    argv = [PYTHON3, str(PROBE), "--url", url or stack.url, "--program", PROGRAM]
    argv += ["--supervisorctl", stack.supervisorctl, "--timeout", "5", *args]
    return _run(stack, argv)


def _run(stack: Stack, argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=stack.env)
    assert done.returncode == 0, f"probe exited {done.returncode}: {done.stderr}"
    assert len(done.stdout.strip().splitlines()) == 1, f"not ONE JSON document: {done.stdout!r}"
    return json.loads(done.stdout)


def _steady(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without what changes from one probe to the next (when, how long)."""
    doc = json.loads(json.dumps(doc))
    doc.pop("at")
    for item in [*doc["request"]["checks"], doc.get("health") or {}]:
        item.pop("elapsed_ms", None)
    return doc


# --- the tests -------------------------------------------------------------------------------------------


def test_healthy_scenario_is_all_ok(stack: Stack, es_up: FakeElasticsearch) -> None:
    # Today's invocation of the bench role (no --verify, --check, --backend, --health): the quote server.
    result = probe(stack)
    assert set(result) == {"at", "backends", "elasticsearch", "health", "request", "program", "processes"}
    assert result["backends"] == ["elasticsearch"] and result["health"] is None
    assert result["at"].endswith("Z") and result["at"][:2] == "20"
    assert result["elasticsearch"] == {"ok": True, "status": "green", "error": None}
    assert result["request"]["ok"] is True, result["request"]
    assert [c["id"] for c in result["request"]["checks"]] == [1, 2]
    for check in result["request"]["checks"]:
        assert check["status"] == 200 and check["ok"] is True and check["error"] is None
        assert isinstance(check["elapsed_ms"], float) and check["elapsed_ms"] > 0
    master = stack.master_pid()
    assert result["program"] == {
        "name": PROGRAM,
        "state": "RUNNING",
        "pid": master,
        "ok": True,
        "error": None,
    }
    workers = children_of(master)
    assert len(workers) == 2
    assert result["processes"] == {"pids": sorted([master, *workers]), "count": 3}


def test_the_quote_server_by_its_manifest_gives_today_s_document_and_its_health(
    stack: Stack, es_up: FakeElasticsearch
) -> None:
    # What the bench sends for app/whiskey-app.yml (health, verify: quotes, backends: [elasticsearch]).
    new = probe_app(
        stack,
        "--health",
        "/quotes/sayHello",
        "--verify",
        "quotes",
        "--es-url",
        es_up.url,
        "--index",
        INDEX,
        "--corpus-size",
        "5",
        "--seed",
        "3",
        "--backend",
        f"elasticsearch=elasticsearch:{es_up.url}",
    )
    old = probe(stack, "--corpus-size", "5", "--seed", "3")
    health = new["health"]
    assert health.pop("elapsed_ms") > 0
    assert health == {"path": "/quotes/sayHello", "status": 200, "ok": True, "error": None}
    assert _steady(new) == {**_steady(old), "health": health}
    assert (
        new["request"]["ok"] is True
        and [set(c) for c in new["request"]["checks"]] == [{"id", "status", "ok", "error", "elapsed_ms"}] * 2
    )


def test_health_ok_404_and_refused(stack: Stack, es_up: FakeElasticsearch, app: FakeApp) -> None:
    ok = probe_app(stack, "--health", "/quotes/sayHello", "--check", "/quotes/sayHello")["health"]
    assert ok["status"] == 200 and ok["ok"] is True and ok["error"] is None and ok["elapsed_ms"] > 0
    result = probe_app(stack, "--health", "/nope", "--check", "/hello", url=app.url)
    assert result["health"]["path"] == "/nope" and result["health"]["status"] == 404
    assert result["health"]["ok"] is False
    assert result["health"]["error"] == f"GET {app.url}/nope: HTTP 404 (no such page)"
    assert result["request"]["ok"] is True  # the app answers; its health path does not
    closed = f"http://127.0.0.1:{free_port()}"
    refused = probe_app(stack, "--health", "/health", "--check", "/hello", url=closed)["health"]
    assert refused["status"] is None and refused["ok"] is False
    assert refused["error"] == f"GET {closed}/health: connection refused"


def test_checks_answer_2xx_or_not_and_expand_ids(stack: Stack, app: FakeApp) -> None:
    app.asked.clear()
    args = ["--check", "/hello", "--check", "/empty", "--check", "/boom", "--check", "/items/{id}?again={id}"]
    result = probe_app(stack, *args, "--ids", "3,9", url=app.url)
    # No backend and no health path: none in the document.
    assert set(result) == {"at", "backends", "health", "request", "program", "processes"}
    assert result["backends"] == [] and result["health"] is None
    checks = result["request"]["checks"]
    assert [c["path"] for c in checks] == [
        "/hello",
        "/empty",
        "/boom",
        "/items/3?again=3",
        "/items/9?again=9",
    ]
    assert app.asked == [c["path"] for c in checks]
    assert [(c["status"], c["ok"]) for c in checks] == [
        (200, True),
        (204, True),
        (500, False),
        (200, True),
        (404, False),
    ]
    assert all(set(c) == {"path", "status", "ok", "error", "elapsed_ms"} for c in checks)
    assert checks[2]["error"] == f"GET {app.url}/boom: HTTP 500 (internal: the work failed)"
    assert checks[4]["error"] == f"GET {app.url}/items/9?again=9: HTTP 404"
    assert all(c["error"] is None and c["elapsed_ms"] > 0 for c in checks if c["ok"])
    assert result["request"]["ok"] is False
    assert probe_app(stack, "--check", "/work?n=20000", url=app.url)["request"]["ok"] is True
    # --corpus-size (the bench always sends it): the ids of the quote check, and a path without {id} once.
    ids = [c["id"] for c in probe(stack, "--corpus-size", "5", "--seed", "7")["request"]["checks"]]
    result = probe_app(
        stack, "--check", "/items/{id}", "--check", "/hello", "--corpus-size", "5", "--seed", "7"
    )
    assert [c["path"] for c in result["request"]["checks"]] == [*(f"/items/{i}" for i in ids), "/hello"]


def test_http_backends_ok_and_failing(stack: Stack, app: FakeApp, es_up: FakeElasticsearch) -> None:
    closed = f"http://127.0.0.1:{free_port()}/"
    app.asked.clear()
    result = probe_app(
        stack,
        "--check",
        "/hello",
        "--backend",
        f"cache=http:{app.url}/health",
        "--backend",
        f"down=http:{closed}",
        "--backend",
        f"broken=http:{app.url}/boom",
        "--backend",
        f"search=elasticsearch:{es_up.url}/",
        url=app.url,
    )
    assert result["backends"] == ["cache", "down", "broken", "search"]
    assert result["cache"] == {"ok": True, "status": 200, "error": None}
    assert result["down"] == {"ok": False, "status": None, "error": f"GET {closed}: connection refused"}
    assert result["broken"] == {
        "ok": False,
        "status": 500,
        "error": f"GET {app.url}/boom: HTTP 500 (internal: the work failed)",
    }
    assert result["search"] == {"ok": True, "status": "green", "error": None}
    assert app.asked[:2] == ["/health", "/boom"]  # an http backend's URL is asked as given
    assert "elasticsearch" not in result


def test_an_elasticsearch_backend_reports_as_before(stack: Stack, es_up: FakeElasticsearch) -> None:
    def both() -> list[dict[str, Any]]:
        by_manifest = probe_app(
            stack, "--check", "/quotes/sayHello", "--backend", f"es=elasticsearch:{es_up.url}"
        )
        return [by_manifest["es"], probe(stack)["elasticsearch"]]

    assert both() == [{"ok": True, "status": "green", "error": None}] * 2
    es_up.health = "red"
    try:
        assert both() == [{"ok": False, "status": "red", "error": "cluster health is red"}] * 2
    finally:
        es_up.health = "green"
    es_up.stop()
    down = {"ok": False, "status": None, "error": f"GET {es_up.url}/_cluster/health: connection refused"}
    assert both() == [down, down]


def test_corpus_size_picks_the_same_two_ids_every_time(stack: Stack, es_up: FakeElasticsearch) -> None:
    first = probe(stack, "--corpus-size", "5", "--seed", "7")
    second = probe(stack, "--corpus-size", "5", "--seed", "7")
    ids = [c["id"] for c in first["request"]["checks"]]
    assert ids == [c["id"] for c in second["request"]["checks"]]
    assert len(set(ids)) == 2 and all(1 <= i <= 5 for i in ids)
    assert first["request"]["ok"] is True, first["request"]
    other_seed = {
        tuple(c["id"] for c in probe(stack, "--corpus-size", "5", "--seed", str(s))["request"]["checks"])
        for s in range(4)
    }
    assert len(other_seed) > 1, "the seed does not change the ids"


def test_an_answer_with_another_quote_is_not_ok(
    stack: Stack, es_up: FakeElasticsearch, other_es: FakeElasticsearch
) -> None:
    # The probe asks a cluster that holds other quotes for the same ids than the one the app serves from.
    result = probe(stack, es_url=other_es.url)
    assert result["elasticsearch"]["ok"] is True
    assert result["request"]["ok"] is False
    for check in result["request"]["checks"]:
        assert check["status"] == 200 and check["ok"] is False
        assert "quote" in check["error"] and "Elasticsearch holds" in check["error"], check["error"]
        assert "Not the quote the app serves" in check["error"]
    assert result["program"]["ok"] is True


def _load_probe() -> Any:
    spec = importlib.util.spec_from_file_location("whiskey_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_app_s_html_page_compares_with_the_quote(es_up: FakeElasticsearch, monkeypatch) -> None:
    # The JSON form is what the probe asks for; an HTML answer (the page the bench loads) is compared too.
    monkeypatch.syspath_prepend(str(APP_SRC))
    from quoteserver import create_app

    client = create_app({"es_url": es_up.url, "index": INDEX}).test_client()
    module = _load_probe()
    for quote_id, expected in QUOTES.items():
        page = client.get(f"/quotes/byId?id={quote_id}", headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.mimetype == "text/html"
        answer = module.Answer(200, page.data, page.content_type, None)
        assert module._compare(answer, quote_id, expected) is None
        error = module._compare(answer, quote_id, OTHER_QUOTES[quote_id])
        assert error and "does not contain the quote" in error
    # the page really escapes the first quote: a naive search of the raw text would have failed
    assert QUOTES[1]["quote"].encode() not in client.get("/quotes/byId?id=1").data


def test_an_unknown_id_is_reported_not_raised(stack: Stack, es_up: FakeElasticsearch) -> None:
    result = probe(stack, "--ids", "3,999")
    first, second = result["request"]["checks"]
    assert first["ok"] is True
    assert second["status"] == 404 and second["ok"] is False and "HTTP 404" in second["error"]
    assert result["request"]["ok"] is False


def test_elasticsearch_down(stack: Stack, es_up: FakeElasticsearch) -> None:
    es_up.stop()
    result = probe(stack)
    assert result["elasticsearch"]["ok"] is False and result["elasticsearch"]["status"] is None
    assert "connection refused" in result["elasticsearch"]["error"]
    assert result["request"]["ok"] is False
    for check in result["request"]["checks"]:
        # the app answers 503 with its message; the probe says so
        assert check["status"] == 503 and check["ok"] is False
        assert "HTTP 503" in check["error"] and "backend_unavailable" in check["error"], check["error"]
    assert result["program"]["ok"] is True  # the server is fine, its backend is not


def test_a_red_cluster_is_not_ok(stack: Stack, es_up: FakeElasticsearch) -> None:
    es_up.health = "red"
    try:
        result = probe(stack)
    finally:
        es_up.health = "green"
    assert result["elasticsearch"] == {"ok": False, "status": "red", "error": "cluster health is red"}


def test_a_killed_worker_is_replaced_and_shows_in_the_pids(stack: Stack, es_up: FakeElasticsearch) -> None:
    before = probe(stack)
    master = before["program"]["pid"]
    victim = max(p for p in before["processes"]["pids"] if p != master)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        after = probe(stack)
        pids = after["processes"]["pids"]
        if victim not in pids and after["processes"]["count"] == 3:
            break
        assert time.monotonic() < deadline, (
            f"gunicorn did not replace worker {victim}: {after}\n{stack.log()}"
        )
        time.sleep(0.3)
    assert after["program"]["pid"] == master and after["program"]["ok"] is True
    gone = set(before["processes"]["pids"]) - set(pids)
    new = set(pids) - set(before["processes"]["pids"])
    assert gone == {victim} and len(new) == 1
    stack.wait_serving()
    assert probe(stack)["request"]["ok"] is True


def test_no_answer_and_an_unknown_program_are_reported(stack: Stack, es_up: FakeElasticsearch) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        argv = [PYTHON3, str(PROBE), "--url", url, "--es-url", es_up.url, "--ids", "1", "--timeout", "1"]
        argv += ["--program", "no-such-program", "--supervisorctl", stack.supervisorctl]
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=stack.env)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    result = json.loads(done.stdout)
    (check,) = result["request"]["checks"]
    assert check["status"] is None and check["ok"] is False and "timed out after 1 s" in check["error"]
    assert result["program"]["state"] is None and result["program"]["pid"] is None
    assert result["program"]["ok"] is False and "no program 'no-such-program'" in result["program"]["error"]
    assert result["processes"] == {"pids": [], "count": 0}


def test_a_missing_supervisorctl_is_reported(stack: Stack, es_up: FakeElasticsearch) -> None:
    result = probe(stack, "--supervisorctl", str(stack.base / "no-such-supervisorctl"))
    assert result["program"]["ok"] is False and result["program"]["state"] is None
    assert "command not found" in result["program"]["error"]
    assert result["request"]["ok"] is True


def test_process_tree_without_children_files_and_without_zombies(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load_probe()
    # sh forks `sleep 0` (which exits at once and stays a zombie: exec'd sleep never reaps it) and a subshell
    # with its own sleep: a tree of 3 live processes and one zombie.
    tree = subprocess.Popen(["sh", "-c", "sleep 0 & (sleep 30 & wait) & exec sleep 30"])
    try:
        deadline = time.monotonic() + 10
        while len(module.process_tree(tree.pid)) < 3 or len(children_of(tree.pid)) != 1:
            assert time.monotonic() < deadline, "the test tree did not form"
            time.sleep(0.05)
        time.sleep(0.2)
        via_files = module.process_tree(tree.pid)
        monkeypatch.setattr(module, "_children_from_files", lambda pid: None)
        via_scan = module.process_tree(tree.pid)
        assert via_files == via_scan and len(via_files) == 3 and via_files[0] == tree.pid
        zombies = [p for p in Path("/proc").glob("[0-9]*/stat") if _zombie_child_of(p, tree.pid)]
        assert zombies, "the zombie child is missing"
        assert all(int(z.parent.name) not in via_files for z in zombies)
        assert module.process_tree(None) == [] and module.process_tree(2**22 + 12345) == []
    finally:
        for pid in reversed(module.process_tree(tree.pid)):
            os.kill(pid, signal.SIGKILL)
        tree.wait(timeout=10)


def _zombie_child_of(stat: Path, parent: int) -> bool:
    try:
        raw = stat.read_text()
    except OSError:
        return False
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0] == "Z" and fields[1] == str(parent)


def test_a_stopped_program(stack: Stack, es_up: FakeElasticsearch) -> None:
    assert stack.ctl("stop", PROGRAM).returncode == 0
    try:
        result = probe(stack)
        assert result["program"]["name"] == PROGRAM
        assert result["program"]["state"] == "STOPPED" and result["program"]["pid"] is None
        assert result["program"]["ok"] is False and "STOPPED" in result["program"]["error"]
        assert result["processes"] == {"pids": [], "count": 0}
        assert result["request"]["ok"] is False
        assert all("connection refused" in c["error"] for c in result["request"]["checks"])
        assert result["elasticsearch"]["ok"] is True
    finally:
        stack.ctl("start", PROGRAM)


# The arguments every probe gets; with one answer check.
APP = ["--url", "http://h:1", "--program", "p"]
CHECKED = [*APP, "--check", "/x"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--url", "localhost:9999", "--program", "p", "--ids", "1"], "--url"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1,x"], "--ids"),
        (["--url", "http://h:1", "--program", "p", "--ids", "0"], "--ids"),
        (["--url", "http://h:1", "--program", "p", "--corpus-size", "0"], "--corpus-size"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--corpus-size", "5"], "--corpus-size"),
        (["--url", "http://h:1", "--program", "p"], "--ids"),
        (["--url", "http://h:1", "--ids", "1"], "--program"),
        (["--program", "p", "--ids", "1"], "--url"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--timeout", "0"], "--timeout"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--seed", "3"], "--seed"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--es-url", "127.0.0.1:9200"], "--es-url"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--index", "Quotes"], "--index"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--supervisorctl", ""], "--supervisorctl"),
        (["--url", "http://h:1", "--program", "p", "--ids", "1", "--bogus"], "--bogus"),
        # the manifest's invocation
        ([*APP, "--check", "work"], "--check"),
        ([*APP, "--check", "/a b"], "--check"),
        ([*APP, "--check", "/x/{name}"], "--check"),
        ([*CHECKED, "--health", "health"], "--health"),
        ([*CHECKED, "--health", "/h/{id}"], "--health"),
        ([*APP, "--verify", "answers", "--ids", "1"], "--verify"),
        ([*APP, "--health", "/health"], "--check"),
        ([*APP, "--backend", "c=http:http://h:2"], "--check"),
        ([*CHECKED, "--backend", "c"], "--backend"),
        ([*CHECKED, "--backend", "c=http"], "--backend"),
        ([*CHECKED, "--backend", "c=redis:http://h"], "--backend"),
        ([*CHECKED, "--backend", "c=http:h:2"], "--backend"),
        ([*CHECKED, "--backend", "=http:http://h"], "--backend"),
        ([*CHECKED, "--backend", "health=http:http://h"], "--backend"),
        ([*CHECKED, "--backend", "c=http:http://h:2", "--backend", "c=http:http://h:3"], "--backend"),
        ([*APP, "--check", "/x/{id}"], "--ids"),
        ([*APP, "--verify", "quotes"], "--ids"),
        ([*CHECKED, "--es-url", "http://h:9"], "--es-url"),
        ([*CHECKED, "--index", "quotes"], "--index"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(args: list[str], named: str) -> None:
    done = subprocess.run(
        [PYTHON3, str(PROBE), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert named in done.stderr, done.stderr


def test_the_probe_is_stdlib_only() -> None:
    # Runs on hosts with nothing but python3: it must not import anything outside the standard library.
    source = PROBE.read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert shutil.which(PYTHON3) or Path(PYTHON3).exists()
