"""whiskey_load.py against a real HTTP server on loopback, with the real wrk and the real Locust 2.47.

The server answers /quotes/byId?id=N with 200 for N <= 50 and 500 above (so error counting is exercised),
/quotes/sayHello, /whiskey/ping and every path under /mix/ and /app/ with 200, and keeps every path it was asked
for (Handler.hits: what a request mix really sent). wrk comes from the distribution (`apt-get install wrk`); Locust from
WHISKEY_LOCUST (path of its `locust`), the PATH, or .cache/locust-venv (scripts/setup.sh makes it).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
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
    # headers and body leave in two writes: without this, Nagle and delayed ACKs hold each answer ~40 ms
    disable_nagle_algorithm = True
    # (driver, Accept, Accept-Encoding) of every request: the drivers must ask for the same representation.
    seen: ClassVar[set[tuple[str, str, str]]] = set()
    # every request's path and query, in order of arrival
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        Handler.hits.append(self.path)
        url = urlparse(self.path)
        agent = self.headers.get("User-Agent", "wrk")
        driver = "locust" if "python" in agent.lower() else "wrk"
        Handler.seen.add((driver, self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")))
        status = 404
        if url.path == "/quotes/byId":
            ident = int(parse_qs(url.query).get("id", ["0"])[0])
            status = 200 if 1 <= ident <= 50 else 500
        elif url.path in ("/quotes/sayHello", "/whiskey/ping") or url.path.startswith(("/mix/", "/app/")):
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


def stats_rows(stats_csv: Path) -> list[str]:
    with open(stats_csv, newline="") as fh:
        return [row["Name"] for row in csv.DictReader(fh)]


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
    # the default mix (one request): one statistics row for every id, as before mixes
    assert stats_rows(out / "locust_stats.csv") == ["/quotes/byId", "Aggregated"]
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


# ---------------------------------------------------------------- the request mix (--requests)

# 3:1, the heavy request with a random id in 1..corpus-size
MIX = [{"path": "/mix/heavy?id={id}", "weight": 3}, {"path": "/mix/light", "weight": 1}]


def assert_mix_honoured(hits: list[str], corpus_size: int) -> None:
    """The 3:1 mix as the server saw it: 75 % +- 8 % heavy over at least 400 requests (a 3.7-sigma miss at 400, far
    more at the thousands the drivers send; a mix drawn without its weights, 50 %, or a single path never passes),
    every heavy request's id a fresh one in 1..corpus_size."""
    paths = Counter(urlparse(h).path for h in hits)
    assert set(paths) == {"/mix/heavy", "/mix/light"}, paths
    total = paths["/mix/heavy"] + paths["/mix/light"]
    assert total >= 400, paths
    assert abs(paths["/mix/heavy"] / total - 0.75) <= 0.08, paths
    ids = [int(parse_qs(urlparse(h).query)["id"][0]) for h in hits if urlparse(h).path == "/mix/heavy"]
    assert all(1 <= i <= corpus_size for i in ids)
    assert len(set(ids)) > corpus_size // 2, sorted(set(ids))
    assert all(urlparse(h).query == "" for h in hits if urlparse(h).path == "/mix/light")


def test_the_mix_is_parsed_and_named_by_whiskey_common():
    common = whiskey_load.whiskey_common
    assert common.parse_requests(json.dumps(MIX)) == MIX
    # One statistics row per request, by its path without the query (not one per id) ...
    assert common.stats_names(MIX) == ["/mix/heavy", "/mix/light"]
    # ... unless two requests of the mix share a path: then their templates tell them apart.
    two = [
        {"path": "/work?n=1", "weight": 1},
        {"path": "/work?n=2", "weight": 1},
        {"path": "/a?id={id}", "weight": 1},
    ]
    assert common.stats_names(two) == ["/work?n=1", "/work?n=2", "/a"]
    # The locustfiles' environment: WHISKEY_REQUESTS, else WHISKEY_PATH as a mix of one, else the quote.
    mix = common.load_mix({"WHISKEY_REQUESTS": json.dumps(MIX), "WHISKEY_CORPUS_SIZE": "7"})
    assert mix.requests == MIX and mix.corpus_size == 7
    assert common.load_mix({"WHISKEY_PATH": "/quotes/sayHello"}).next() == (
        "/quotes/sayHello",
        "/quotes/sayHello",
    )
    path, name = common.load_mix({}).next()
    assert name == "/quotes/byId" and 1 <= int(path.split("=")[1]) <= 900000
    with pytest.raises(SystemExit, match="WHISKEY_REQUESTS"):
        common.load_mix({"WHISKEY_REQUESTS": '[{"path": "/a", "weight": 0}]'})
    # wrk's script arguments: the corpus size, then "weight path" pairs
    args = argparse.Namespace(requests=MIX, corpus_size=50)
    assert whiskey_load.wrk_script_args(args) == ["50", "3", "/mix/heavy?id={id}", "1", "/mix/light"]


BAD_REQUESTS = [
    "not json",
    "[]",
    "{}",
    '{"path": "/a", "weight": 1}',
    '["/a"]',
    '[{"path": "a", "weight": 1}]',
    '[{"path": 5, "weight": 1}]',
    '[{"path": "/a b", "weight": 1}]',
    '[{"path": "/a", "weight": 0}]',
    '[{"path": "/a", "weight": -2}]',
    '[{"path": "/a", "weight": 1.5}]',
    '[{"path": "/a", "weight": "3"}]',
    '[{"path": "/a", "weight": true}]',
    '[{"path": "/a"}]',
    '[{"path": "/a", "weight": 1, "method": "POST"}]',
]


@pytest.mark.parametrize("value", BAD_REQUESTS)
@pytest.mark.parametrize("command", ["wrk", "locust", "capacity"])
def test_a_bad_mix_is_refused_naming_requests(command, value, tmp_path):
    extra = {"wrk": ["--levels", "2"], "locust": ["--profile", "throughput"], "capacity": []}[command]
    out = tmp_path / "out"
    bad = run(
        command, "--url", "http://127.0.0.1:9", "--out", str(out), "--requests", value, *extra, check=False
    )
    assert bad.returncode == 2, bad.stderr
    assert "--requests" in bad.stderr and "weight an integer >= 1" in bad.stderr, bad.stderr
    assert not out.exists()  # refused before any driver ran


def test_a_missing_locustfile_or_a_path_with_a_mix_is_refused(tmp_path):
    missing = run(
        "locust", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "o"), "--profile", "seed",
        "--locustfile", str(tmp_path / "none.py"), check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "--locustfile" in missing.stderr and "none.py" in missing.stderr
    both = run(
        "wrk", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "o"), "--levels", "2", "--path", "/a",
        "--requests", json.dumps(MIX), check=False,
    )  # fmt: skip
    assert both.returncode == 2 and "--requests" in both.stderr


def test_the_vegeta_targets_draw_the_mix_by_weight_from_a_seeded_rng(tmp_path):
    mix = whiskey_load.whiskey_common.Mix(MIX, 50)
    first, again, other = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    whiskey_load.vegeta_targets(first, "http://h:1/", mix, 2000, seed=1)
    whiskey_load.vegeta_targets(again, "http://h:1/", mix, 2000, seed=1)
    whiskey_load.vegeta_targets(other, "http://h:1/", mix, 2000, seed=2)
    lines = first.read_text().splitlines()
    assert first.read_text() == again.read_text() != other.read_text()  # the same file for every step and run
    assert len(lines) == 2000 and all(line.startswith("GET http://h:1/mix/") for line in lines)
    assert_mix_honoured([line.removeprefix("GET http://h:1") for line in lines], 50)
    # One request (the default): no draw between the ids, exactly the file of a single path.
    single = tmp_path / "single.txt"
    whiskey_load.vegeta_targets(
        single, "http://h:1", whiskey_load.whiskey_common.Mix(MIX[:1], 50), 100, seed=3
    )
    rng = random.Random(3)
    assert single.read_text().splitlines() == [
        f"GET http://h:1/mix/heavy?id={rng.randint(1, 50)}" for _ in range(100)
    ]


@needs_wrk
def test_wrk_sends_the_mix_by_weight(server, tmp_path):
    Handler.hits.clear()
    run(
        "wrk", "--url", server, "--corpus-size", "50", "--requests", json.dumps(MIX), "--levels", "2",
        "--level-time", "2s", "--threads", "1", "--out", str(tmp_path / "wrk"),
    )  # fmt: skip
    assert_mix_honoured(list(Handler.hits), 50)
    # the summary is unchanged: every request answered 200
    level = levels.normalise([tmp_path / "wrk"], "wrk")["levels"][0]
    assert level["requests"] >= 400 and level["errors"] == level["non_2xx"] == 0


@needs_locust
def test_locust_sends_the_mix_by_weight_with_a_row_per_request(server, tmp_path):
    Handler.hits.clear()
    out = tmp_path / "fast"
    run_locust(
        "throughput", server, out, "--corpus-size", "50", "--requests", json.dumps(MIX), "--levels", "2",
        "--level-time", "3s",
    )  # fmt: skip
    assert_mix_honoured(list(Handler.hits), 50)
    assert stats_rows(out / "locust-c2_stats.csv") == ["/mix/heavy", "/mix/light", "Aggregated"]
    assert whiskey_load.read_locust_aggregate(out / "locust-c2_stats.csv")["failures"] == 0


USER_LOCUSTFILE = """
from locust import FastHttpUser, task


class AppUser(FastHttpUser):
    @task
    def own(self):
        self.client.get("/app/own-locustfile?x=1", name="own")
"""


@needs_locust
@pytest.mark.parametrize("requests", [None, "[]"])
def test_a_user_locustfile_replaces_whiskeys(server, tmp_path, requests):
    """The app's own locustfile (no import of whiskey_common) under the seed profile's options; with it an empty
    mix is allowed (the locustfile says what to request)."""
    locustfile = tmp_path / "elsewhere" / "app_locustfile.py"
    locustfile.parent.mkdir()
    locustfile.write_text(USER_LOCUSTFILE)
    Handler.hits.clear()
    out = tmp_path / "seed"
    extra = ["--requests", requests] if requests else []
    run_locust(
        "seed", server, out, "--locustfile", str(locustfile), "--users", "2", "--spawn-rate", "2",
        "--run-time", "3s", *extra,
    )  # fmt: skip
    paths = Counter(urlparse(h).path for h in Handler.hits)
    assert set(paths) == {"/app/own-locustfile"} and paths["/app/own-locustfile"] > 10, paths
    assert stats_rows(out / "locust_stats.csv") == ["own", "Aggregated"]
    driver = json.loads((out / "driver.json").read_text())
    assert str(locustfile) in driver["runs"][-1]["argv"] and "--reset-stats" in driver["runs"][-1]["argv"]
