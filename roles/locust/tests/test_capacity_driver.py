"""whiskey_load.py capacity with the real vegeta (the pinned build scripts/setup.sh makes in .cache/vegeta) against
a real HTTP server on loopback whose capacity is known: one worker that holds each /quotes request for SERVICE_MS,
so it serves at most 1000/SERVICE_MS requests per second; /whiskey/ping is free (the driver's own check).

The search must bracket that capacity from below, stop the steps above it early, check the driver at the rate it
found, and a server that only fails must end with no capacity, every step failed for its errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

FILES = Path(__file__).resolve().parents[1] / "files"
ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((ROOT / "roles/locust/defaults/main.yml").read_text())
VEGETA = ROOT / ".cache/vegeta" / f"vegeta-{DEFAULTS['locust_vegeta_version']}-linux-amd64"
pytestmark = pytest.mark.skipif(not VEGETA.is_file(), reason=f"{VEGETA} missing: run scripts/setup.sh")

SERVICE_MS = 5.0  # -> at most 200 requests/s

_spec = importlib.util.spec_from_file_location(
    "capacity_server", ROOT / "report/tests/data/capacity_server.py"
)
capacity_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(capacity_server)


def make_server(fail: bool, hits: list[str] | None = None):
    """The known-capacity server (report/tests/data/capacity_server.py), serving; every path it is asked for is
    appended to `hits` when given."""
    httpd = capacity_server.make_server(SERVICE_MS, fail, hits)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def search(tmp_path: Path, fail: bool = False, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    httpd, url = make_server(fail)
    try:
        out = tmp_path / "out"
        argv = [
            sys.executable, str(FILES / "whiskey_load.py"), "capacity", "--url", url, "--vegeta", str(VEGETA),
            "--slo-p99-ms", "50", "--slo-error-pct", "1", "--step-time", "3", "--step-warmup", "1",
            "--start-rate", "40", "--max-rate", "2000", "--resolution-pct", "10", "--check-url", url,
            "--out", str(out), *extra,
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        doc = json.loads((out / "capacity.json").read_text())
        return proc, doc
    finally:
        httpd.shutdown()


def test_the_search_brackets_a_known_capacity_and_checks_its_driver(tmp_path):
    proc, doc = search(tmp_path, False, "--cross-check")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result, steps = doc["result"], doc["steps"]
    assert result["status"] == "found", result
    capacity = 1000 / SERVICE_MS
    # never above what the server can do; on a busy 2-core machine well below is possible, so only a floor
    assert 0.3 * capacity <= result["lower"] <= capacity, result
    assert result["upper"] <= result["lower"] * 1.1 + 1
    # the steps: up from 40/s (x2), a failing one, then bisected; every step's numbers are there
    assert [s["rate"] for s in steps[:2]] == [40.0, 80.0]
    failing = [s for s in steps if not s["passed"]]
    assert failing and all(s["rate"] > result["lower"] for s in failing)
    # a step far over the capacity stops early (the search may not reach one when the busy machine fails 160/s
    # first: test_a_step_far_over_the_capacity_stops_early starts there)
    far_over = [s for s in steps if s["rate"] >= 1.5 * capacity]
    assert all(s["stopped_early"] and s["seconds"] < 4.0 for s in far_over), far_over
    for s in steps:
        if s["passed"]:
            assert s["latency_ms"]["p99"] <= 50 and s["error_pct"] <= 1
            assert abs(s["achieved_rate"] - s["rate"]) / s["rate"] < 0.01, s
            assert s["histogram"]["n"] == s["answered"] == sum(s["histogram"]["counts"].values())
            assert s["planned"] == round(s["rate"] * 3)
    # the driver alone, against ping, at the rate found
    check = doc["driver_check"]
    assert check["rate"] == result["capacity"] and check["answered"] > 0
    # measured two steps long (DRIVER_CHECK_STEPS): its p99 rests on twice a step's requests
    assert check["planned"] == round(check["rate"] * 3 * 2) and check["measure_s"] == 6
    assert check["latency_ms"]["p99"] < 50
    driver = json.loads((tmp_path / "out/driver.json").read_text())
    labels = [r["label"] for r in driver["runs"]]
    assert labels[-2:] == ["driver-check", "cross-check"] and labels[: len(steps)] == [
        s["label"] for s in steps
    ]
    # wrk at about the throughput of a step well below the knee (Little's law: rate x mean service time)
    cross = doc["cross_check"]
    assert cross["tool"] == "wrk" and cross["point_rate"] <= result["capacity"] / 2 + 1e-9
    # compared at the throughput wrk reached, from the passing steps around it
    assert cross["rate"] == cross["closed_rps"] and cross["open_rates"] and cross["open_p50_ms"] is not None
    assert cross["connections"] >= 1 and cross["delay_ms"] >= 0 and cross["closed_p50_ms"] >= SERVICE_MS * 0.9
    # paced to about the point's rate, not back to back (which would be the server's 200/s)
    assert 0.5 * cross["point_rate"] <= cross["closed_rps"] <= 1.3 * cross["point_rate"], cross
    assert cross["agree"] is not None and ("agree" in cross["why"] or "differ" in cross["why"])


def test_a_step_far_over_the_capacity_stops_early(tmp_path):
    """Started at three times the capacity, the search steps down: 600/s and 300/s are far over the 200/s the
    server can do, their queues grow without bound, and each is stopped within its first seconds for latency
    (no request failed); below them a rate passes and the capacity is bracketed."""
    proc, doc = search(tmp_path, False, "--start-rate", "600", "--max-rate", "600", "--resolution-pct", "100")
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = doc["steps"]
    assert [s["rate"] for s in steps[:2]] == [600.0, 300.0], [s["rate"] for s in steps]
    for s in steps[:2]:
        assert not s["passed"] and s["stopped_early"] and s["seconds"] < 4.0, s
        # stopped for latency: no request failed, but too many of the planned ones took longer than the objective
        assert s["errors"] == 0 and "took longer than 50 ms" in s["why"], s["why"]
    result = doc["result"]
    assert result["status"] == "found" and result["capacity"] <= 1000 / SERVICE_MS, result


def test_a_server_that_only_fails_has_no_capacity(tmp_path):
    proc, doc = search(tmp_path, True, "--max-rate", "100")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert doc["result"]["status"] == "none" and doc["result"]["capacity"] is None
    assert doc["steps"] and all(not s["passed"] for s in doc["steps"])
    assert all("failed" in s["why"] or "errors" in s["why"] for s in doc["steps"]), [
        s["why"] for s in doc["steps"]
    ]
    assert doc["driver_check"] is None  # nothing to check at


def test_a_driver_that_cannot_start_is_an_error_with_what_it_had(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(FILES / "whiskey_load.py"), "capacity", "--url", "http://127.0.0.1:9",
         "--vegeta", str(tmp_path / "no-such-vegeta"), "--step-time", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 3
    doc = json.loads((out / "capacity.json").read_text())
    assert doc["error"] and "no-such-vegeta" in doc["error"] and doc["steps"] == []


def test_two_clients_search_together_and_the_report_merges_their_shares_exactly(tmp_path):
    """A leader and a follower (two processes here, two hosts in a bench) share every step's rate, stop together,
    and write their shares; the report package's merge of the two files is the leader's search."""
    import socket

    report_capacity = pytest.importorskip("whiskey_report.capacity")
    httpd, url = make_server(False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common = [
        sys.executable, str(FILES / "whiskey_load.py"), "capacity", "--url", url, "--vegeta", str(VEGETA),
        "--slo-p99-ms", "50", "--slo-error-pct", "1", "--step-time", "3", "--step-warmup", "1",
        "--start-rate", "40", "--max-rate", "2000", "--resolution-pct", "10", "--check-url", url,
        "--clients", "2", "--peer-timeout", "30",
    ]  # fmt: skip
    run_dir = tmp_path / "run"
    try:
        leader = subprocess.Popen(
            [*common, "--listen-port", str(port), "--out", str(run_dir / "clients/a")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        follower = subprocess.run(
            [*common, "--follow", f"127.0.0.1:{port}", "--client-index", "1", "--out", str(run_dir / "clients/b")],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        leader_err = leader.communicate(timeout=120)[1]
    finally:
        httpd.shutdown()
    assert leader.returncode == 0, leader_err[-2000:]
    assert follower.returncode == 0, follower.stderr[-2000:]
    a = json.loads((run_dir / "clients/a/capacity.json").read_text())
    b = json.loads((run_dir / "clients/b/capacity.json").read_text())
    assert a["clients"] == b["clients"] == 2 and a["result"] == b["result"]
    assert [s["label"] for s in a["steps"]] == [s["label"] for s in b["steps"]]
    assert all(x["rate"] == y["rate"] for x, y in zip(a["steps"], b["steps"], strict=True))
    assert a["steps"][0]["rate"] == 20.0  # the first step, 40/s, split in two
    # they stopped together: a step stopped early is stopped on both clients
    assert [s["stopped_early"] for s in a["steps"]] == [s["stopped_early"] for s in b["steps"]]
    merged = report_capacity.read_run(run_dir)
    assert merged.problems == [], merged.problems
    assert merged.capacity == a["result"]["capacity"] and merged.status == "found"
    assert 0.3 * 1000 / SERVICE_MS <= merged.capacity <= 1000 / SERVICE_MS
    step = next(s for s in merged.steps if s.rate == merged.capacity and s.passed)
    assert step.answered == sum(
        x["answered"] for doc in (a, b) for x in doc["steps"] if x["label"] == step.label
    )
    assert merged.driver_check is not None and merged.driver_check.rate == merged.capacity


def test_vegeta_sends_the_mix_by_weight(tmp_path):
    """One step at 100/s for 5 s (500 requests) of a 3:1 mix: the server sees 75 % +- 8 % of the heavy request, each
    with a random id in 1..corpus-size (a wrong mix, 50 % or a single path, cannot pass)."""
    from urllib.parse import parse_qs, urlparse

    hits: list[str] = []
    httpd, url = make_server(False, hits)
    mix = [{"path": "/quotes/heavy?id={id}", "weight": 3}, {"path": "/quotes/light", "weight": 1}]
    try:
        proc = subprocess.run(
            [sys.executable, str(FILES / "whiskey_load.py"), "capacity", "--url", url, "--vegeta", str(VEGETA),
             "--requests", json.dumps(mix), "--corpus-size", "50", "--slo-p99-ms", "50", "--step-time", "4",
             "--step-warmup", "1", "--start-rate", "100", "--max-rate", "100", "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        httpd.shutdown()
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = [urlparse(h).path for h in hits]
    assert set(paths) == {"/quotes/heavy", "/quotes/light"} and len(paths) >= 400, len(paths)
    assert abs(paths.count("/quotes/heavy") / len(paths) - 0.75) <= 0.08
    ids = {int(parse_qs(urlparse(h).query)["id"][0]) for h in hits if urlparse(h).path == "/quotes/heavy"}
    assert ids <= set(range(1, 51)) and len(ids) > 25
