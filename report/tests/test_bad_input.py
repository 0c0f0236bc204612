"""Bad results folders: a clear message and a report of what is there, never a traceback."""

import json
import re
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
    warns = [line for line in captured.out.splitlines() if line.startswith("  ! ")]
    # One line per kind, naming the runs it concerns.
    assert [w for w in warns if "UNFINISHED" in w] == [
        "  ! UNFINISHED (1 run: 2/gunicorn/2): no status.json, not ranked (re-run bench.yml with the same run_id)"
    ]
    (failed,) = [w for w in warns if "FAILED" in w]
    assert failed.startswith("  ! FAILED (1 run: 1/nginx-gunicorn/1): not measured")
    assert failed.endswith("; nginx did not start: bind() to 127.0.0.1:18099 failed")
    assert [w for w in warns if "NOT RUN" in w] == [
        "  ! NOT RUN (1 run: 2/nginx-gunicorn/2): in run.json's plan, no folder"
    ]
    (single,) = [w for w in warns if "only 1 repeat" in w]
    assert single == (
        "  ! only 1 repeat, no confidence interval (3 rows: nginx-gunicorn (workers=1), gunicorn (workers=2), "
        "nginx-gunicorn (workers=2)): use repeats >= 2"
    )
    # The three runs that are not results are listed apart, with their verdict and reason.
    not_ranked = captured.out.split("Not ranked (3):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [re.split(r"  +", line.strip()) for line in not_ranked[1:]] == [
        ["1/nginx-gunicorn/1", "failed", "nginx did not start: bind() to 127.0.0.1:18099 failed"],
        ["2/gunicorn/2", "unfinished", "no status.json: the run did not finish"],
        ["2/nginx-gunicorn/2", "not run", "in run.json's plan, no folder"],
    ]
    summary = json.loads((run_copy / "report" / "summary.json").read_text())
    reps = {(r["workers"], r["scenario"]): (r["repeats"], r["repeats_total"]) for r in summary["rows"]}
    assert reps == {
        (1, "gunicorn"): (2, 2),
        (1, "nginx-gunicorn"): (1, 2),
        (2, "gunicorn"): (1, 2),
        (2, "nginx-gunicorn"): (1, 1),
    }
    assert [(n["run"], n["verdict"]) for n in summary["not_ranked"]] == [
        ("1/nginx-gunicorn/1", "failed"),
        ("2/gunicorn/2", "unfinished"),
        ("2/nginx-gunicorn/2", "not run"),
    ]
    html = (run_copy / "report" / "report.html").read_text()
    assert "UNFINISHED (1 run" in html and "FAILED (1 run" in html and 'id="summary-table"' in html
    assert 'id="not-ranked-table"' in html and "nginx did not start" in html


def test_every_run_failed(run_copy, capsys):
    for st_path in run_copy.glob("*/*/*/status.json"):
        st = json.loads(st_path.read_text())
        st.update(status="failed", error="Elasticsearch did not answer")
        st_path.write_text(json.dumps(st))
    assert main(["summary", str(run_copy)]) == 1
    out = capsys.readouterr().out
    # One warning line for the 8 failed runs, with their one error; all 8 in the Not ranked table.
    (line,) = [w for w in out.splitlines() if "FAILED" in w]
    assert line.startswith("  ! FAILED (8 runs: 1/gunicorn/1, 1/gunicorn/2, ") and line.endswith(
        "; Elasticsearch did not answer"
    )
    assert "Not ranked (8):" in out
    assert len(re.findall(r"^  \d/\S+ +failed +Elasticsearch did not answer$", out, re.MULTILINE)) == 8
    assert "No valid measurements" in (run_copy / "report" / "report.html").read_text()


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
    assert "results (1 run: 1/gunicorn/1): locust_stats_history.csv has no Aggregated rows" in out
    assert (
        "telemetry (2 runs: 1/gunicorn/2, 2/gunicorn/1): 1/gunicorn/2: unreadable telemetry-server.json"
        in out
    )
    assert "2/gunicorn/1: no server telemetry" in out
    # The client-bound flag of an older whiskey: still ranked (valid, not judged), but said.
    (bound,) = [line for line in out.splitlines() if "client-bound (" in line]
    assert bound.startswith("  ! client-bound (1 run: 2/nginx-gunicorn/1): flagged by an older whiskey")
    assert bound.endswith("; locust at 97% of a core")
    assert "run.json is unreadable" in out
    row = next(
        r
        for r in json.loads((run_copy / "report" / "summary.json").read_text())["rows"]
        if r["workers"] == 2 and r["scenario"] == "nginx-gunicorn"
    )
    assert row["client_bound"] is True
