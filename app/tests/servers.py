"""Run a WSGI server as a real subprocess serving quoteserver.wsgi:app, for the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from es_server import free_port

BIN = Path(sys.executable).parent


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def children(self) -> list[int]:
        """pids of the server's direct children (gunicorn/uWSGI workers)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return sorted(int(p) for p in path.read_text().split()) if path.exists() else []


def command(server: str, port: int, workers: int = 2) -> list[str]:
    app = "quoteserver.wsgi:app"
    if server == "gunicorn":
        return [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "30", app]
    if server == "uwsgi":
        return [
            str(BIN / "uwsgi"),
            "--http",
            f"127.0.0.1:{port}",
            "--module",
            app,
            "--master",
            "--processes",
            str(workers),
            "--threads",
            "1",
            "--need-app",
            "--disable-logging",
            "--die-on-term",
            "--http-keepalive",
        ]
    if server == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            # Without it, a worker holding an idle keep-alive connection delays shutdown indefinitely.
            "--workers-kill-timeout",
            "2",
            app,
        ]
    if server == "waitress":
        return [str(BIN / "waitress-serve"), f"--listen=127.0.0.1:{port}", f"--threads={workers}", app]
    if server == "werkzeug":
        return [
            sys.executable,
            "-m",
            "quoteserver.devserver",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--quiet",
        ]
    raise ValueError(server)


@contextlib.contextmanager
def running(server: str, env: dict[str, str], logdir: Path, workers: int = 2) -> Iterator[RunningServer]:
    port = free_port()
    log = logdir / f"{server}-{port}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    if server == "waitress":
        full_env.setdefault("QUOTESERVER_THREADS", str(workers))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command(server, port, workers),
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running_server = RunningServer(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{server} exited with {proc.returncode}:\n{running_server.log_text()}")
            try:
                if requests.get(f"{running_server.url}/quotes/sayHello", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server} did not answer within 60 s:\n{running_server.log_text()}")
            time.sleep(0.2)
        yield running_server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
