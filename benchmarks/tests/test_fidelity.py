"""fidelity.py compare on results made by the real drivers: two loopback servers, one answering at once and one
after 20 ms, measured with wrk and with Locust FastHttpUser through the role's runner (the files loadtest.yml
fetches), must rank the same way; Locust's rate is reported as a ratio of wrk's."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "roles/locust/files/whiskey_load.py"
FIDELITY = ROOT / "benchmarks/fidelity.py"

spec = importlib.util.spec_from_file_location("fidelity", FIDELITY)
fidelity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fidelity)


def _locust():
    import os

    for candidate in (
        os.environ.get("WHISKEY_LOCUST"),
        shutil.which("locust"),
        ROOT / ".cache/locust-venv/bin/locust",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


LOCUST = _locust()
pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None or LOCUST is None, reason="needs wrk and locust 2.47 (see roles/locust/tests)"
)


def make_server(delay_s: float):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def servers():
    fast, slow = make_server(0.0), make_server(0.02)
    yield {
        "fast": f"http://127.0.0.1:{fast.server_address[1]}",
        "slow": f"http://127.0.0.1:{slow.server_address[1]}",
    }
    fast.shutdown()
    slow.shutdown()


def measure(results: Path, base: str, driver: str, scenario: str, url: str) -> None:
    folder = results / fidelity.run_id(base, driver, "sayHello") / "2" / scenario / "1"
    args = [
        "--url",
        url,
        "--path",
        "/quotes/sayHello",
        "--levels",
        "4",
        "--level-time",
        "3s",
        "--out",
        str(folder),
    ]
    if driver == "wrk":
        cmd = [sys.executable, str(RUNNER), "wrk", "--threads", "1", *args]
    else:
        cmd = [sys.executable, str(RUNNER), "locust", "--locust", LOCUST, "--profile", "throughput", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    normalised = subprocess.run(
        [sys.executable, "-m", "whiskey_report", "levels", "--driver", driver, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (folder / "throughput.json").write_text(normalised)
    status = {"status": "valid", "workers": 2, "scenario": scenario, "repeat": 1, "client_bound": False}
    (folder / "status.json").write_text(json.dumps(status))


def test_both_drivers_rank_a_slow_server_below_a_fast_one(servers, tmp_path, capsys):
    for driver in fidelity.DRIVERS:
        for scenario, url in servers.items():
            measure(tmp_path, "t", driver, scenario, url)
    report = fidelity.compare(tmp_path, "t")
    group = report["endpoints"]["sayHello"]["2"]
    assert group["ranking"]["wrk"] == ["fast", "slow"]
    assert group["same_ranking"] is True
    rows = {row["scenario"]: row for row in group["rows"]}
    # 4 connections on a 20 ms answer: at most ~200 req/s with either driver, so Locust keeps up with wrk.
    assert rows["slow"]["wrk_rps"] < 200 and 0.7 < rows["slow"]["ratio"] < 1.3
    assert rows["fast"]["ratio"] > 0
    exit_code = fidelity.main(
        ["compare", "--base", "t", "--results", str(tmp_path), "--json", str(tmp_path / "f.json")]
    )
    assert exit_code == 0
    out = capsys.readouterr().out
    assert "/quotes/sayHello  workers=2" in out and "ranking: same" in out
    assert json.loads((tmp_path / "f.json").read_text())["endpoints"]["sayHello"]["2"]["same_ranking"] is True


def test_compare_without_results_says_so(tmp_path, capsys):
    assert fidelity.main(["compare", "--base", "none", "--results", str(tmp_path)]) == 2
    assert "no results" in capsys.readouterr().out


def _write_run(results: Path, base: str, driver: str, endpoint: str, scenario: str, rps: float, bound: bool):
    folder = results / fidelity.run_id(base, driver, endpoint) / "6" / scenario / "1"
    folder.mkdir(parents=True)
    status = {"status": "ok", "workers": 6, "scenario": scenario, "repeat": 1, "client_bound": bound}
    (folder / "status.json").write_text(json.dumps(status))
    levels = [{"concurrency": 8, "rps": rps / 2}, {"concurrency": 32, "rps": rps}]
    (folder / "throughput.json").write_text(json.dumps({"levels": levels}))


@pytest.mark.parametrize(
    ("say_hello_locust", "flagged", "verdict", "met"),
    [(950.0, False, "ok", True), (500.0, True, "flagged", True), (500.0, False, "MISSED", False)],
)
def test_the_aim_needs_locust_close_to_wrk_or_a_client_bound_flag(
    tmp_path, capsys, say_hello_locust, flagged, verdict, met
):
    for driver, rps in (("wrk", 200.0), ("locust", 190.0)):
        _write_run(tmp_path, "a", driver, "byId", "gunicorn", rps, False)
    _write_run(tmp_path, "a", "wrk", "sayHello", "gunicorn", 1000.0, False)
    _write_run(tmp_path, "a", "locust", "sayHello", "gunicorn", say_hello_locust, flagged)
    report = fidelity.compare(tmp_path, "a")
    by_id = report["endpoints"]["byId"]["6"]["rows"][0]
    assert (by_id["ratio"], by_id["verdict"]) == (0.95, "ok")
    assert report["endpoints"]["sayHello"]["6"]["rows"][0]["verdict"] == verdict
    assert report["aim"]["met"] is met
    args = ["compare", "--base", "a", "--results", str(tmp_path)]
    assert fidelity.main(args) == 0
    assert fidelity.main([*args, "--fail-on-aim"]) == (0 if met else 1)
    out = capsys.readouterr().out
    assert out.count("aim (locust >= 0.9 x wrk on byId") == 2
    assert ("NOT met" in out) is (not met)


def test_a_flag_does_not_excuse_a_low_ratio_on_by_id(tmp_path):
    _write_run(tmp_path, "b", "wrk", "byId", "nginx-uwsgi", 300.0, False)
    _write_run(tmp_path, "b", "locust", "byId", "nginx-uwsgi", 150.0, True)
    report = fidelity.compare(tmp_path, "b")
    assert report["endpoints"]["byId"]["6"]["rows"][0]["verdict"] == "flagged"
    assert report["aim"]["met"] is False
    assert report["aim"]["misses"] == ["byId workers=6 nginx-uwsgi: locust/wrk 0.50 (flagged)"]


def test_a_scenario_measured_by_one_driver_only_is_a_miss_not_a_crash(tmp_path):
    for driver, rps in (("wrk", 300.0), ("locust", 295.0)):
        _write_run(tmp_path, "c", driver, "byId", "gunicorn", rps, False)
    _write_run(tmp_path, "c", "wrk", "byId", "waitress", 250.0, False)  # Locust's run is still to come
    report = fidelity.compare(tmp_path, "c")
    group = report["endpoints"]["byId"]["6"]
    assert group["ranking"] == {"wrk": ["gunicorn", "waitress"], "locust": ["gunicorn"]}
    assert group["same_ranking"] is True
    assert report["aim"]["misses"] == ["byId workers=6 waitress: no rate (MISSED)"]
    waitress = next(r for r in group["rows"] if r["scenario"] == "waitress")
    assert waitress["state"] == {"wrk": "ok", "locust": "not run"}
    assert "waitress                   250.0       not run" in fidelity.format_report(report)


def test_interleaved_plan_runs_both_drivers_per_scenario_back_to_back(capsys):
    parser = fidelity.build_parser()
    args = parser.parse_args(["run", "--base", "x", "--interleave", "--scenarios", "gunicorn,waitress"])
    assert fidelity.plan(args) == [
        ("wrk", "byId", ["gunicorn"]),
        ("locust", "byId", ["gunicorn"]),
        ("wrk", "sayHello", ["gunicorn"]),
        ("locust", "sayHello", ["gunicorn"]),
        ("wrk", "byId", ["waitress"]),
        ("locust", "byId", ["waitress"]),
        ("wrk", "sayHello", ["waitress"]),
        ("locust", "sayHello", ["waitress"]),
    ]
    sweep = parser.parse_args(["run", "--base", "x", "--endpoints", "byId"])
    assert fidelity.plan(sweep) == [("wrk", "byId", None), ("locust", "byId", None)]
    assert fidelity.main(["run", "--base", "x", "--interleave"]) == 2
    assert "--interleave needs --scenarios" in capsys.readouterr().err
