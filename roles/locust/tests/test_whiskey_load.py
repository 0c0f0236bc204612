"""whiskey_load.py against a real HTTP server on loopback, with the real wrk and the real Locust 2.47.

The server answers /quotes/byId?id=N with 200 for N <= 50 and 500 above (so error counting is exercised),
/quotes/sayHello and /whiskey/ping with 200. wrk comes from the distribution (`apt-get install wrk`); Locust from
WHISKEY_LOCUST (path of its `locust`), the PATH, or .cache/locust-venv (scripts/setup.sh makes it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

FILES = Path(__file__).resolve().parents[1] / "files"
RUNNER = FILES / "whiskey_load.py"
ROOT = Path(__file__).resolve().parents[3]

spec = importlib.util.spec_from_file_location("whiskey_load", RUNNER)
whiskey_load = importlib.util.module_from_spec(spec)
spec.loader.exec_module(whiskey_load)
# The drivers' files are read by the report package alone (throughput.json: whiskey_report.levels).
levels = pytest.importorskip("whiskey_report.levels")


def _locust_bin() -> str | None:
    for candidate in (
        os.environ.get("WHISKEY_LOCUST"),
        shutil.which("locust"),
        str(ROOT / ".cache/locust-venv/bin/locust"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


WRK = shutil.which("wrk")
LOCUST = _locust_bin()
needs_wrk = pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")
needs_locust = pytest.mark.skipif(LOCUST is None, reason="locust 2.47 not found (WHISKEY_LOCUST or PATH)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # (driver, Accept, Accept-Encoding) of every request: the drivers must ask for the same representation.
    seen: ClassVar[set[tuple[str, str, str]]] = set()

    def do_GET(self):
        url = urlparse(self.path)
        agent = self.headers.get("User-Agent", "wrk")
        driver = "locust" if "python" in agent.lower() else "wrk"
        Handler.seen.add((driver, self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")))
        status = 404
        if url.path == "/quotes/byId":
            ident = int(parse_qs(url.query).get("id", ["0"])[0])
            status = 200 if 1 <= ident <= 50 else 500
        elif url.path in ("/quotes/sayHello", "/whiskey/ping"):
            status = 200
        body = b"quote\n" if status == 200 else b"error\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=180, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_locust(profile: str, url: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """The runner's `locust` subcommand with this machine's Locust."""
    return run("locust", "--locust", LOCUST, "--profile", profile, "--url", url, "--out", str(out), *extra)


def test_help_lists_every_subcommand():
    out = run("--help").stdout
    for sub in ("wrk", "locust", "calibrate", "lease"):
        assert sub in out


def test_durations_and_levels_parse():
    assert whiskey_load.parse_duration("2m") == 120
    assert whiskey_load.parse_duration("15s") == 15
    assert whiskey_load.parse_duration("1h") == 3600
    assert whiskey_load.parse_levels("[8, 32,128]") == [8, 32, 128]
    assert whiskey_load.client_share(128, 3, 0) == 43
    assert sum(whiskey_load.client_share(128, 3, i) for i in range(3)) == 128
    bad = run("wrk", "--url", "http://x", "--levels", "0", "--out", "/tmp/x", check=False)
    assert bad.returncode == 2 and "positive" in bad.stderr


@needs_wrk
def test_wrk_levels_give_throughput_json(server, tmp_path):
    out = tmp_path / "wrk"
    run(
        "wrk",
        "--url",
        server,
        "--corpus-size",
        "50",
        "--levels",
        "2,4",
        "--level-time",
        "2s",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--out",
        str(out),
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["driver.json", "wrk-c2.json", "wrk-c2.txt", "wrk-c4.json", "wrk-c4.txt"]
    assert "Requests/sec" in (out / "wrk-c2.txt").read_text()
    doc = levels.normalise([out], "wrk")
    assert doc["driver"] == "wrk"
    assert [lvl["concurrency"] for lvl in doc["levels"]] == [2, 4]
    for lvl in doc["levels"]:
        assert lvl["requests"] > 0 and lvl["errors"] == 0 and lvl["non_2xx"] == 0
        assert lvl["rps"] == pytest.approx(lvl["requests"] / lvl["duration_s"], rel=0.01)
        assert 0 < lvl["latency_ms"]["p50"] <= lvl["latency_ms"]["p99"] <= lvl["latency_ms"]["max"]
    driver = json.loads((out / "driver.json").read_text())
    assert [r["label"] for r in driver["runs"]] == ["warm-up", "c2", "c4"]
    assert driver["runs"][0]["recorded"] is False and driver["measured_cpu_s"] > 0


@needs_wrk
def test_wrk_counts_error_answers(server, tmp_path):
    out = tmp_path / "wrk"
    # ids 1..100: about half answer 500.
    run(
        "wrk",
        "--url",
        server,
        "--corpus-size",
        "100",
        "--levels",
        "2",
        "--level-time",
        "2s",
        "--threads",
        "1",
        "--out",
        str(out),
    )
    level = levels.normalise([out], "wrk")["levels"][0]
    assert 0.3 < level["non_2xx"] / level["requests"] < 0.7
    assert level["errors"] >= level["non_2xx"]


@needs_wrk
def test_two_wrk_clients_merge(server, tmp_path):
    for index in (0, 1):
        run(
            "wrk",
            "--url",
            server,
            "--corpus-size",
            "50",
            "--levels",
            "4",
            "--level-time",
            "1s",
            "--threads",
            "1",
            "--clients",
            "2",
            "--client-index",
            str(index),
            "--out",
            str(tmp_path / f"c{index}"),
        )
    single = [levels.normalise([tmp_path / f"c{i}"], "wrk")["levels"][0] for i in (0, 1)]
    merged = levels.normalise([tmp_path / "c0", tmp_path / "c1"], "wrk")["levels"][0]
    assert merged["requests"] == single[0]["requests"] + single[1]["requests"]
    assert merged["rps"] == pytest.approx(single[0]["rps"] + single[1]["rps"], abs=0.01)
    assert merged["latency_ms"]["p99"] == max(s["latency_ms"]["p99"] for s in single)
    assert merged["clients"] == 2
    # Each client ran 2 of the level's 4 connections.
    argv = json.loads((tmp_path / "c1" / "driver.json").read_text())["runs"][0]["argv"]
    assert "-c2" in argv


@needs_wrk
def test_calibrate_with_wrk(server):
    doc = json.loads(
        run(
            "calibrate",
            "--driver",
            "wrk",
            "--url",
            server,
            "--seconds",
            "2",
            "--connections",
            "4",
            "--threads",
            "1",
        ).stdout
    )
    assert doc["rps"] > 0 and doc["requests"] > 0
    assert doc["endpoint"] == server + "/whiskey/ping"


@needs_locust
def test_locust_seed_run_writes_the_results_files(server, tmp_path):
    out = tmp_path / "seed"
    run_locust(
        "seed", server, out, "--corpus-size", "50", "--users", "10", "--spawn-rate", "10", "--run-time", "4s"
    )
    for name in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "locust_failures.csv",
        "locust_exceptions.csv",
        "locust_report.html",
        "driver.json",
    ):
        assert (out / name).is_file(), name
    total = whiskey_load.read_locust_aggregate(out / "locust_stats.csv")
    # 10 users thinking 1-3 s; statistics reset once all 10 run (after ~1 s): the ~3 s left hold a handful of
    # requests per user, all answered 200.
    assert 3 <= total["requests"] <= 60 and total["failures"] == 0
    driver = json.loads((out / "driver.json").read_text())
    assert driver["locust_exit_codes"] == [0] and driver["stats_reset"] is True
    assert "--reset-stats" in driver["runs"][-1]["argv"]


@needs_locust
def test_seed_calibration_measures_what_the_client_adds_at_the_bench_load(server):
    result = run(
        "calibrate", "--driver", "locust-seed", "--url", server, "--users", "10", "--spawn-rate", "10",
        "--seconds", "4", "--locust", LOCUST, "--processes", "1",
    )  # fmt: skip
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["mode"] == "seed" and doc["users"] == 10 and doc["endpoint"].endswith("/whiskey/ping")
    # 10 users with 1-3 s think time: about 5 req/s (the think time, not the client, sets it), answered by the
    # loopback server in far less than the think time.
    assert 0.5 < doc["rps"] < 30
    assert doc["p50_ms"] is not None and 0 <= doc["p50_ms"] < 1000


def _descendant_cmdlines(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd)
    return found


@needs_locust
def test_a_driver_whose_lease_is_not_renewed_stops_its_load(server, tmp_path):
    out = tmp_path / "orphan"
    lease = tmp_path / "orphan.lease"
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "locust", "--locust", LOCUST, "--profile", "throughput", "--url", server,
         "--out", str(out), "--levels", "2", "--level-time", "60s", "--lease", str(lease), "--lease-timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, err
    assert "lease" in err and "stopping the load" in err
    # Locust, started by the driver with the output folder on its command line, is gone too.
    assert _descendant_cmdlines(str(out)) == []


def test_lease_touches_the_file_and_reports_the_job(tmp_path):
    lease, results = tmp_path / "x.lease", tmp_path / "job"
    results.write_text(json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1"}))
    doc = json.loads(run("lease", "--file", str(lease), "--results-file", str(results)).stdout)
    assert doc["finished"] is False and lease.is_file()
    before = lease.stat().st_mtime
    results.write_text(json.dumps({"rc": 3, "stderr": "[whiskey-load] error: boom", "changed": True}))
    os.utime(lease, (before - 100, before - 100))
    doc = json.loads(run("lease", "--file", str(lease), "--results-file", str(results)).stdout)
    assert doc["finished"] is True and doc["rc"] == 3
    assert lease.stat().st_mtime > before - 100


def test_lease_wait_returns_when_the_job_finishes_and_keeps_the_lease_meanwhile(tmp_path):
    lease, results = tmp_path / "x.lease", tmp_path / "job"
    results.write_text(json.dumps({"started": 1, "finished": 0}))
    t0 = time.monotonic()
    doc = json.loads(
        run("lease", "--file", str(lease), "--results-file", str(results), "--wait", "1.5").stdout
    )
    assert doc["finished"] is False and time.monotonic() - t0 >= 1.5
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            "lease",
            "--file",
            str(lease),
            "--results-file",
            str(results),
            "--wait",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.2)
    os.utime(lease, (0, 0))
    time.sleep(0.8)
    assert lease.stat().st_mtime > 0, "the lease was not renewed while waiting"
    t1 = time.monotonic()
    results.write_text(json.dumps({"rc": 0, "changed": True}))
    out, _ = proc.communicate(timeout=10)
    assert json.loads(out)["finished"] is True and time.monotonic() - t1 < 5


@needs_locust
def test_locust_failures_are_recorded_not_fatal(server, tmp_path):
    out = tmp_path / "fast"
    # ids up to 100: about half answer 500 -> Locust exits 1; the runner records it and succeeds.
    run_locust("throughput", server, out, "--corpus-size", "100", "--levels", "2", "--level-time", "3s")
    driver = json.loads((out / "driver.json").read_text())
    assert driver["locust_exit_codes"] == [1] and driver["error"] is None
    level = levels.normalise([out], "locust")["levels"][0]
    assert level["requests"] > 0
    assert level["non_2xx"] == level["errors"] > 0


@needs_locust
def test_the_verdict_marks_a_client_bound_run_from_real_driver_output(server, tmp_path):
    """The driver's real files, judged by the report package (the one reader of the results)."""
    verdict = pytest.importorskip("whiskey_report.verdict")
    out = tmp_path / "run"
    run_locust(
        "throughput", server, out, "--corpus-size", "50", "--path", "/quotes/sayHello", "--levels", "4",
        "--level-time", "3s",
    )  # fmt: skip
    (out / "throughput.json").write_text(json.dumps(levels.normalise([out], "locust")))
    rate = json.loads((out / "throughput.json").read_text())["levels"][0]["rps"]

    def judge(ceiling: float, cpu_limit: float) -> dict:
        context = {
            "workers": 1, "scenario": "hello", "repeat": 1, "profile": "throughput", "driver": "locust",
            "concurrency": [4], "level_time_s": 3, "clients": ["client"], "client_dirs": [str(out)],
            "calibration": {"client": {"rps": ceiling, "processes": 1}},
            "thresholds": {"client_bound_cpu": cpu_limit},
        }  # fmt: skip
        return verdict.judge(out, context)

    bound = judge(rate * 2, 5.0)  # the run reached 50 % of the client's ceiling
    assert bound["status"] == "invalid" and bound["client_bound"]
    assert "ceiling" in bound["client_bound_reasons"][0]
    free = judge(rate * 100, 5.0)
    assert not free["client_bound"] and free["client_bound_reasons"] == []
    # A busy FastHttpUser process with no think time uses most of a core: the CPU rule catches it at 0.05.
    assert judge(rate * 100, 0.05)["client_bound"]


@needs_wrk
@needs_locust
def test_wrk_asks_for_what_locust_asks_for(server, tmp_path):
    """nginx gzips when asked: wrk must send Locust's Accept-Encoding, or nginx scenarios do less work under wrk."""
    Handler.seen.clear()
    run("wrk", "--url", server, "--corpus-size", "50", "--levels", "2", "--level-time", "1s", "--threads", "1",
        "--out", str(tmp_path / "wrk"))  # fmt: skip
    run_locust(
        "throughput", server, tmp_path / "fast", "--corpus-size", "50", "--levels", "2", "--level-time", "2s"
    )
    by_driver = {driver: (accept, encoding) for driver, accept, encoding in Handler.seen}
    assert len(Handler.seen) == 2, Handler.seen  # one header combination per driver
    assert by_driver["wrk"] == by_driver["locust"]
    assert by_driver["wrk"] == ("", "gzip, deflate, br")
