"""The summary of real Locust runs (tests/data/runs/fixture-a) checked against Locust's own CSV files."""

import csv
import json
from pathlib import Path

import pytest

from whiskey_report.loader import load_runset


def _aggregated(path: Path) -> dict:
    with path.open(newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")


def _history(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]


def test_every_run_read(run_a):
    rs = load_runset(run_a)
    assert len(rs.runs) == 8  # workers 1,2 x gunicorn, nginx-gunicorn x 2 repeats
    # status.json of an older whiskey ("ok", no verdict): loaded as valid, flagged as not judged.
    assert all(r.state == "valid" and not r.judged for r in rs.runs)
    assert rs.expected_missing == []
    assert all(len(r.measurements) == 1 and r.server_tel and r.client_tels for r in rs.runs)


def test_totals_match_locust_aggregated(run_a):
    """Whole-run totals equal Locust's Aggregated row; the window is a part of them, ramp-up excluded."""
    for run in load_runset(run_a).runs:
        agg = _aggregated(run.path / "locust_stats.csv")
        assert run.locust_totals["requests"] == int(agg["Request Count"])
        assert run.locust_totals["failures"] == int(agg["Failure Count"])
        m = run.measurements[0]
        hist = _history(run.path / "locust_stats_history.csv")
        # The window ends at the last history row and starts after the ramp-up (users at their maximum).
        first_full = next(int(r["Timestamp"]) for r in hist if int(r["User Count"]) == 20)
        assert m.window_start >= first_full
        assert m.window_end == int(hist[-1]["Timestamp"])
        start_row = next(r for r in hist if int(r["Timestamp"]) == m.window_start)
        assert m.requests == int(hist[-1]["Total Request Count"]) - int(start_row["Total Request Count"])
        assert m.failures == int(hist[-1]["Total Failure Count"]) - int(start_row["Total Failure Count"])
        assert 0 < m.requests < int(agg["Request Count"])
        assert m.rps == pytest.approx(m.requests / m.window_s)
        # Locust's whole-run rate includes the ramp-up: the window's rate is not far off, and the average
        # latency of the window plus that of the rest gives back Locust's overall average.
        assert m.rps == pytest.approx(float(agg["Requests/s"]), rel=0.35)
        n0 = int(start_row["Total Request Count"])
        a0 = float(start_row["Total Average Response Time"])
        total_avg = (a0 * n0 + m.avg * m.requests) / (n0 + m.requests)
        assert total_avg == pytest.approx(float(agg["Average Response Time"]), rel=1e-6)
        assert m.p50 <= m.p90 <= m.p99 <= m.p999 <= m.max
        # Without stats_reset the percentiles are means of Locust's rolling ones: marked as estimates.
        assert m.percentiles_estimated is True


def test_summary_rows_and_files(built_a, run_a):
    rows = built_a.rows
    assert [(r.workers, r.scenario) for r in rows] == [
        (1, "gunicorn"),
        (1, "nginx-gunicorn"),
        (2, "gunicorn"),
        (2, "nginx-gunicorn"),
    ]
    for row in rows:
        locust_sum = sum(int(_aggregated(run.path / "locust_stats.csv")["Request Count"]) for run in row.runs)
        assert row.locust_requests == locust_sum
        assert row.repeats == 2 and row.ci["rps"].half_width is not None
        assert row.failures > 0 and 0 < row.failure_pct < 5  # fixture ids > 9900 answer 500
        assert row.server_cpu is not None and row.server_rss_mb > 1 and row.client_cpu is not None
        assert row.via == ("nginx" if row.scenario.startswith("nginx-") else "direct")
    out = built_a.out_dir
    with (out / "summary.csv").open(newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == 4
    assert {
        "requests",
        "failures",
        "failure_pct",
        "rps",
        "rps_ci95",
        "avg_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "server_cpu_pct",
        "server_rss_mb",
        "server_load1",
        "client_cpu_pct",
        "client_bound",
    } <= set(csv_rows[0])
    assert int(csv_rows[0]["locust_requests"]) == rows[0].locust_requests
    doc = json.loads((out / "summary.json").read_text())
    assert doc["run_id"] == "fixture-a"
    assert "whiskey-fallback-collector" in doc["telemetry_collector"]
    r0 = doc["rows"][0]
    assert r0["per_repeat"]["repeat"] == [1, 2]
    assert r0["rps"] == pytest.approx(sum(r0["per_repeat"]["rps"]) / 2, abs=1e-3)
    assert {p.name for p in out.glob("*.png")} == {
        "timeseries-w1.png",
        "timeseries-w2.png",
        "figure7-avg-latency.png",
        "bars-rps-p99.png",
    }


def test_findings_computed_from_data(built_a):
    heads = [f.text for f in built_a.findings if f.kind == "headline"]
    assert len(heads) == 2
    for row_w in (1, 2):
        group = [r for r in built_a.rows if r.workers == row_w]
        best = min(group, key=lambda r: r.value("avg"))
        assert any(f"workers={row_w}: fastest by average latency is {best.scenario}" in h for h in heads)
    verdicts = [f.verdict for f in built_a.findings if f.kind == "conclusion"]
    assert len(verdicts) == 8
    # Only the gunicorn conclusion can be checked with these two scenarios.
    assert verdicts.count("cannot check") == 6


def test_cli_summary_prints_table(run_a, tmp_path, capsys):
    from whiskey_report.cli import main

    assert main(["summary", str(run_a), "--out", str(tmp_path), "--no-figures"]) == 0
    text = capsys.readouterr().out
    assert "nginx-gunicorn" in text and "RPS" in text and "p99 ms" in text
    assert (tmp_path / "report.html").exists() and not list(tmp_path.glob("*.png"))


def test_help_everywhere(capsys):
    from whiskey_report.cli import main

    for argv in (["--help"], ["summary", "--help"], ["compare", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "baseline" in capsys.readouterr().out


def test_no_container_warning_for_hosts_that_are_not_containers(built_a):
    assert not [w for w in built_a.warnings if "ran in containers" in w]
