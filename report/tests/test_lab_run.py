"""The report on a real lab run: `ansible-playbook bench.yml -e workers=6 -e run_id=lab-w6` on the local lab
(server and client containers, 11 scenarios, seed profile: 500 users, spawn 10/s, 60 s). Its files are kept in
tests/data/runs/lab-w6 (without Locust's own HTML reports, to keep them small)."""

import csv
import json
from pathlib import Path

from whiskey_report.cli import main
from whiskey_report.loader import load_runset
from whiskey_report.report import analyse
from whiskey_report.summary import TABLE_HEAD, table_cells

DATA = Path(__file__).parent / "data" / "runs" / "lab-w6"


def _aggregated(path: Path) -> dict:
    with path.open(newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")


def test_every_scenario_of_the_lab_run_is_read():
    rs = load_runset(DATA)
    planned = json.loads((DATA / "run.json").read_text())["variables"]["scenarios"]
    assert sorted(r.scenario for r in rs.runs) == sorted(planned)
    assert all(r.state == "valid" and not r.judged for r in rs.runs)  # "ok" of an older whiskey
    assert all(r.server_tel and r.client_tels for r in rs.runs)


def test_lab_totals_match_locust_and_the_window_follows_the_ramp_up():
    for run in load_runset(DATA).runs:
        agg = _aggregated(run.path / "locust_stats.csv")
        assert run.locust_totals["requests"] == int(agg["Request Count"]) > 0
        assert run.locust_totals["failures"] == int(agg["Failure Count"])
        m = run.measurements[0]
        with (run.path / "locust_stats_history.csv").open(newline="") as fh:
            hist = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]
        full = next(int(r["Timestamp"]) for r in hist if int(r["User Count"]) == 500)
        assert m.window_start >= full
        start = next(r for r in hist if int(r["Timestamp"]) == m.window_start)
        assert m.requests == int(hist[-1]["Total Request Count"]) - int(start["Total Request Count"])


def test_lab_report_checks_the_original_conclusions(tmp_path):
    code = main(["summary", str(DATA), "--out", str(tmp_path), "--quiet"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["rows"]) == 11
    assert "fallback" in summary["telemetry_collector"]
    verdicts = [f for f in summary["findings"] if f.get("verdict")]
    # All four of the original's conclusions can be judged on a run that has the original's seven scenarios.
    assert len(verdicts) == 4
    assert all(f["verdict"] in {"holds", "does not hold"} for f in verdicts), verdicts
    assert (tmp_path / "report.html").stat().st_size > 10000


def test_lab_table_shows_the_exact_cpu_of_the_server_under_test_and_warns_about_container_proc():
    rep = analyse(DATA)
    for row in rep.rows:
        # The server container is pinned to one CPU: the processes under test can use at most about one core,
        # while the machine-wide figure also counts the client and everything else on the host.
        assert row.server_app_cores is not None and 0.05 < row.server_app_cores < 1.1, row.label
        assert row.as_dict()["server_app_cores"] == round(row.server_app_cores, 3)
    assert "app cores" in TABLE_HEAD
    cells = dict(zip(TABLE_HEAD, table_cells(rep.rows[0]), strict=True))
    assert cells["app cores"] == f"{rep.rows[0].server_app_cores:.2f}"
    boxed = [w for w in rep.warnings if "ran in containers" in w]
    assert len(boxed) == 1 and "whiskey-server" in boxed[0] and "whiskey-client" in boxed[0]
