"""driver_ceiling.py with the real vegeta against a free loopback endpoint: low rates are held exactly and meet the
aim; an aim the driver cannot meet (a p99 limit below what it measures) is reported as missed and fails
--fail-on-aim; bad rates are refused before anything runs."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("driver_ceiling", ROOT / "benchmarks/driver_ceiling.py")
dc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dc)
VEGETA = next((ROOT / ".cache/vegeta").glob("vegeta-*-linux-amd64"), None)
pytestmark = pytest.mark.skipif(VEGETA is None, reason="no vegeta in .cache/vegeta: run scripts/setup.sh")


class Ping(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"pong")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def ping():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ping)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_low_rates_are_held_exactly_and_meet_the_aim(ping, tmp_path, capsys):
    out = tmp_path / "ceiling.json"
    code = dc.main(["--url", ping, "--rates", "50,200", "--seconds", "3", "--warmup", "1", "--vegeta", str(VEGETA),
                    "--max-p99-ms", "50", "--json", str(out), "--fail-on-aim", "200"])  # fmt: skip
    doc = json.loads(out.read_text())
    assert code == 0, capsys.readouterr().out
    assert [r["rate"] for r in doc["rows"]] == [50.0, 200.0]
    for row in doc["rows"]:
        assert (
            abs(1 - row["achieved_share"]) < 0.01
            and row["answered"] == row["rate"] * 3
            and row["errors"] == 0
        )
        assert row["driver_cores"] is not None and row["driver_cores"] >= 0
    assert doc["ceiling"] == 200.0
    assert "ceiling (highest rate meeting the aim): 200" in capsys.readouterr().out


def test_an_aim_the_driver_misses_is_reported_and_fails_on_request(ping, tmp_path, capsys):
    code = dc.main(["--url", ping, "--rates", "100", "--seconds", "2", "--warmup", "0", "--vegeta", str(VEGETA),
                    "--max-p99-ms", "0.001", "--fail-on-aim", "100"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "MISSED" in out and "ceiling (highest rate meeting the aim): none" in out


def test_bad_rates_are_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as exc:
        dc.main(["--url", "http://127.0.0.1:9", "--rates", "fast"])
    assert exc.value.code == 2 and "--rates='fast'" in capsys.readouterr().err
