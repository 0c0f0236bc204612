"""Telemetry written by the real cmonitor_collector differs from the fallback collector's (docs/results-format.md):
timestamps without a zone and only per-core `stat.cpuN`. The reader handles both shapes alike."""

import json
from datetime import UTC, datetime

import pytest

from whiskey_report.loader import read_telemetry


def _sample(stamp: str, stat: dict) -> dict:
    return {
        "timestamp": {"UTC": stamp},
        "stat": stat,
        "proc_loadavg": {"load_avg_1min": 1.5},
        "proc_meminfo": {"MemTotal": 4096000, "MemFree": 2048000, "Cached": 1000},
    }


def test_cmonitor_shaped_file_per_core_cpu_and_zoneless_utc(tmp_path):
    doc = {
        "header": {"cmonitor": {"version": "2.4.0"}},
        "samples": [
            _sample(
                "2026-11-24T22:30:03",
                {
                    "cpu0": {"user": 70.0, "sys": 10.0, "idle": 20.0, "iowait": 0.0},
                    "cpu1": {"user": 30.0, "sys": 10.0, "idle": 50.0, "iowait": 10.0},
                },
            ),
            _sample(
                "2026-11-24T22:30:06",
                {"cpu0": {"idle": 100.0, "iowait": 0.0}, "cpu1": {"idle": 0.0, "iowait": 0.0}},
            ),
        ],
    }
    path = tmp_path / "telemetry-server.json"
    path.write_text(json.dumps(doc))
    tel = read_telemetry(path, "server")
    assert tel.collector == "cmonitor_collector 2.4.0"
    assert tel.times == [
        datetime(2026, 11, 24, 22, 30, 3, tzinfo=UTC).timestamp(),
        datetime(2026, 11, 24, 22, 30, 6, tzinfo=UTC).timestamp(),
    ]
    # busy = 100 - idle - iowait of the mean core: (80 + 40) / 2, then (0 + 100) / 2
    assert tel.cpu_busy == [pytest.approx(60.0), pytest.approx(50.0)]
    assert tel.mem_free_mb == [2000.0, 2000.0] and tel.load1 == [1.5, 1.5]
    assert tel.proc_cores == [None, None]


def test_fallback_shaped_file_keeps_cpu_total_and_the_zone(tmp_path):
    sample = _sample(
        "2026-11-24T22:30:03.500Z",
        {"cpu_total": {"idle": 25.0, "iowait": 5.0}, "cpu0": {"idle": 90.0, "iowait": 0.0}},
    )
    sample["whiskey_processes"] = {"count": 3, "cpu_cores": 0.75, "cpu_percent": 37.5, "rss_kb": 204800}
    doc = {
        "header": {"collector": {"name": "whiskey-fallback-collector", "version": "1"}},
        "samples": [sample],
    }
    path = tmp_path / "telemetry-server.json"
    path.write_text(json.dumps(doc))
    tel = read_telemetry(path, "server")
    assert tel.times == [datetime(2026, 11, 24, 22, 30, 3, 500000, tzinfo=UTC).timestamp()]
    assert tel.cpu_busy == [70.0]
    assert (tel.proc_cores, tel.proc_cpu, tel.proc_rss_mb) == ([0.75], [37.5], [200.0])
