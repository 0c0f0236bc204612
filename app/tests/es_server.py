"""A real Elasticsearch for the tests: unzipped from the integ-test-zip archive, run as an unprivileged user.

Elasticsearch refuses to run as root and the tests run as root in CI, so the node runs as `nobody` through
setpriv, in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import requests

DEFAULT_ARCHIVE = Path(__file__).resolve().parents[2] / ".cache/elasticsearch/elasticsearch-8.19.7.zip"
JAVA_HOME = os.environ.get("WHISKEY_JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
RUN_AS = os.environ.get("WHISKEY_ES_USER", "nobody")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def archive_path() -> Path:
    return Path(os.environ.get("WHISKEY_ES_ARCHIVE", str(DEFAULT_ARCHIVE)))


class ElasticsearchNode:
    def __init__(self, workdir: Path, archive: Path) -> None:
        self.workdir = workdir
        self.archive = archive
        self.http_port = free_port()
        self.transport_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.home: Path | None = None

    # -- setup ---------------------------------------------------------------------------------------
    def install(self) -> None:
        with zipfile.ZipFile(self.archive) as zf:
            zf.extractall(self.workdir)
            top = zf.namelist()[0].split("/")[0]
        self.home = self.workdir / top
        for script in (self.home / "bin").iterdir():
            script.chmod(0o755)
        for path in (self.workdir / "data", self.workdir / "logs", self.workdir / "tmp"):
            path.mkdir(exist_ok=True)
        (self.home / "config" / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "cluster.name: quoteserver-tests",
                    "node.name: quoteserver-tests",
                    "discovery.type: single-node",
                    "network.host: 127.0.0.1",
                    f"http.port: {self.http_port}",
                    f"transport.port: {self.transport_port}",
                    f"path.data: {self.workdir / 'data'}",
                    f"path.logs: {self.workdir / 'logs'}",
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    # The 8.x integ-test-zip does ship x-pack-core and x-pack-security: left unset, the launcher
                    # auto-configures TLS and passwords. The tests (and whiskey's lab) talk plain HTTP.
                    "xpack.security.enabled: false",
                    "",
                ]
            )
        )
        (self.home / "config" / "jvm.options.d").mkdir(exist_ok=True)
        (self.home / "config" / "jvm.options.d" / "heap.options").write_text(
            # Small heap; C1-only JIT and no heap pre-touch start the node faster on a busy 2-core machine.
            "-Xms256m\n-Xmx256m\n-XX:TieredStopAtLevel=1\n-XX:-AlwaysPreTouch\n"
        )
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            for root, dirs, files in os.walk(self.workdir):
                for name in [*dirs, *files]:
                    os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
            os.chown(self.workdir, user.pw_uid, user.pw_gid)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        assert self.home is not None
        env = {
            "PATH": "/usr/bin:/bin",
            "ES_JAVA_HOME": JAVA_HOME,
            "ES_TMPDIR": str(self.workdir / "tmp"),
            "HOME": str(self.workdir),
        }
        cmd = [str(self.home / "bin" / "elasticsearch"), "-p", str(self.workdir / "es.pid")]
        if os.geteuid() == 0:
            cmd = [
                "setpriv",
                f"--reuid={RUN_AS}",
                f"--regid={pwd.getpwnam(RUN_AS).pw_gid}",
                "--clear-groups",
                *cmd,
            ]
        (self.workdir / "es.pid").unlink(missing_ok=True)
        log = (self.workdir / "stdout.log").open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"Elasticsearch exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                r = requests.get(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Elasticsearch not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def server_pid(self) -> int:
        """The server JVM (the launcher forks it); its pid file is written once it runs."""
        return int((self.workdir / "es.pid").read_text().strip())

    def kill(self) -> None:
        """Hard stop, like a crashed node: SIGKILL the server JVM, then reap the launcher."""
        os.kill(self.server_pid(), signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server JVM (a hung node). SIGSTOP lands asynchronously: wait until every thread stopped."""
        pid = self.server_pid()
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = []
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
                except (OSError, IndexError):
                    continue
            if states and all(state in "Tt" for state in states):
                return
            time.sleep(0.02)
        raise RuntimeError(f"Elasticsearch (pid {pid}) did not stop within 10 s")

    def resume(self) -> None:
        os.kill(self.server_pid(), signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.server_pid(), signal.SIGCONT)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "stdout.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
