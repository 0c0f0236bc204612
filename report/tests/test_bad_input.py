"""Bad results folders: a clear message and a report of what is there, never a traceback."""

import json
import shutil
import subprocess
import sys

from whiskey_report.cli import main


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "whiskey_report", *args], capture_output=True, text=True, check=False
    )


def test_missing_folder(tmp_path):
    res = _run_cli("summary", str(tmp_path / "results" / "nope"))
    assert res.returncode == 2
    assert "no such folder" in res.stderr and "Traceback" not in res.stderr + res.stdout


def test_empty_folder(tmp_path):
    res = _run_cli("summary", str(tmp_path))
    assert res.returncode == 2
    assert "no measured runs" in res.stderr and "Traceback" not in res.stderr


def test_only_run_json(tmp_path, run_a):
    shutil.copy(run_a / "run.json", tmp_path / "run.json")
    res = _run_cli("summary", str(tmp_path))
    assert res.returncode == 2 and "holds only run.json" in res.stderr


def test_not_a_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["summary", str(f)]) == 2


def test_no_command():
    assert main([]) == 2


def test_interrupted_run(run_copy, capsys):
    """One run never finished (no status.json), one failed, one folder never made: the rest is reported."""
    (run_copy / "2" / "gunicorn" / "2" / "status.json").unlink()
    failed = run_copy / "1" / "nginx-gunicorn" / "1" / "status.json"
    st = json.loads(failed.read_text())
    st.update(status="failed", error="nginx did not start: bind() to 127.0.0.1:18099 failed")
    failed.write_text(json.dumps(st))
    shutil.rmtree(run_copy / "2" / "nginx-gunicorn" / "2")
    assert main(["summary", str(run_copy)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "UNFINISHED run workers=2 gunicorn repeat 2" in captured.out
    assert "FAILED run workers=1 nginx-gunicorn repeat 1: nginx did not start" in captured.out
    assert "NOT RUN: workers=2 nginx-gunicorn repeat 2" in captured.out
    assert "only 1 repeat, no confidence interval" in captured.out
    summary = json.loads((run_copy / "report" / "summary.json").read_text())
    reps = {(r["workers"], r["scenario"]): (r["repeats"], r["repeats_total"]) for r in summary["rows"]}
    assert reps == {
        (1, "gunicorn"): (2, 2),
        (1, "nginx-gunicorn"): (1, 2),
        (2, "gunicorn"): (1, 2),
        (2, "nginx-gunicorn"): (1, 1),
    }
    html = (run_copy / "report" / "report.html").read_text()
    assert "UNFINISHED run" in html and "FAILED run" in html and 'id="summary-table"' in html


def test_every_run_failed(run_copy, capsys):
    for st_path in run_copy.glob("*/*/*/status.json"):
        st = json.loads(st_path.read_text())
        st.update(status="failed", error="Elasticsearch did not answer")
        st_path.write_text(json.dumps(st))
    assert main(["summary", str(run_copy)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED run") == 8
    assert (run_copy / "report" / "report.html").exists()


def test_damaged_files(run_copy, capsys):
    """Truncated CSV, broken telemetry, client-bound flag, missing telemetry: warnings, not tracebacks."""
    r1 = run_copy / "1" / "gunicorn" / "1"
    (r1 / "locust_stats_history.csv").write_text("Timestamp,User Count\n")
    r2 = run_copy / "1" / "gunicorn" / "2"
    (r2 / "telemetry-server.json").write_text("{ not json")
    r3 = run_copy / "2" / "gunicorn" / "1"
    (r3 / "telemetry-server.json").unlink()
    r4 = run_copy / "2" / "nginx-gunicorn" / "1"
    st = json.loads((r4 / "status.json").read_text())
    st.update(client_bound=True, client_bound_reasons=["locust at 97% of a core"])
    (r4 / "status.json").write_text(json.dumps(st))
    (run_copy / "run.json").write_text("[]")
    rc = main(["summary", str(run_copy), "--no-figures"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "locust_stats_history.csv has no Aggregated rows" in out
    assert "unreadable telemetry-server.json" in out
    assert "no server telemetry" in out
    assert "client-bound run workers=2 nginx-gunicorn repeat 1" in out and "locust at 97% of a core" in out
    assert "run.json is unreadable" in out
    row = next(
        r
        for r in json.loads((run_copy / "report" / "summary.json").read_text())["rows"]
        if r["workers"] == 2 and r["scenario"] == "nginx-gunicorn"
    )
    assert row["client_bound"] is True
