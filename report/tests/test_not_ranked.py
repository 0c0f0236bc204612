"""The report ranks only valid runs: the real lab run (lab-w6) judged by the verdict, with some runs made
invalid, and fixture-r (today's format, Locust --reset-stats) for the exact percentiles."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from whiskey_report.cli import main
from whiskey_report.compare import compare
from whiskey_report.figures import _first_ok_runs
from whiskey_report.loader import load_runset
from whiskey_report.report import analyse
from whiskey_report.verdict import judge, write_status

DATA = Path(__file__).parent / "data" / "runs"
RED = {"ok": False, "status": "red", "error": "cluster health is red"}
CLIENT_BOUND = ("gunicorn", "nginx-uwsgi", "waitress")


@pytest.fixture
def lab_judged(tmp_path) -> Path:
    """lab-w6 with every run judged: nginx-werkzeug (ranked first before) saw Elasticsearch red after its run,
    and three runs had a client whose own median at that load is 1 s."""
    root = tmp_path / "lab-w6"
    shutil.copytree(DATA / "lab-w6", root)
    for run in sorted(root.glob("6/*/1")):
        ctx = {
            "profile": "seed",
            "driver": "locust",
            "duration_s": 60,
            "warmup_s": 10,
            "clients": ["whiskey-client"],
            "client_cores": {"whiskey-client": 1},
        }
        if run.parent.name in CLIENT_BOUND:
            ctx["calibration"] = {
                "whiskey-client": {
                    "mode": "seed",
                    "rps": 250.0,
                    "p50_ms": 1000.0,
                    "p99_ms": 2000.0,
                    "users": 500,
                }
            }
        if run.parent.name == "nginx-werkzeug":
            (run / "probe-after.json").write_text(
                json.dumps({"at": "2026-11-25T00:01:00Z", "elasticsearch": RED})
            )
        write_status(run, judge(run, ctx))
    return root


def test_invalid_runs_are_never_ranked(lab_judged):
    before = analyse(DATA / "lab-w6")
    (head,) = [f.text for f in before.findings if f.kind == "headline"]
    assert head.startswith("workers=6: fastest by average latency is nginx-werkzeug (158.0 ms).")

    rep = analyse(lab_judged)
    excluded = {"nginx-werkzeug", *CLIENT_BOUND}
    assert {r.state for r in rep.runset.runs if r.scenario in excluded} == {"invalid"}
    assert all(r.judged for r in rep.runset.runs)
    assert sorted(r.scenario for r in rep.rows) == sorted(
        r.scenario for r in before.rows if r.scenario not in excluded
    )
    (head,) = [f.text for f in rep.findings if f.kind == "headline"]
    # The same numbers as before for the runs that stay: the ranking is the old one without the invalid runs.
    kept = [r for r in sorted(before.rows, key=lambda r: r.value("avg")) if r.scenario not in excluded]
    ranking = ", ".join(f"{r.scenario} {r.value('avg'):.1f}" for r in kept)
    assert head == (
        f"workers=6: fastest by average latency is {kept[0].scenario} ({kept[0].value('avg'):.1f} ms). "
        f"Ranking: {ranking} ms."
    )
    assert kept[0].scenario == "uwsgi-http"
    for f in rep.findings:
        assert "nginx-werkzeug" not in f.text or f.kind == "conclusion", f.text
        for name in CLIENT_BOUND:
            assert f" {name} " not in f" {f.text} ".replace(",", " ") or f.kind == "conclusion", f.text
    conclusions = {f.text.split(":")[0]: f for f in rep.findings if f.kind == "conclusion"}
    first = conclusions["1. uWSGI protocol behind nginx (nginx-uwsgi) is the best setup"]
    assert first.verdict == "cannot check" and "needs nginx-uwsgi (no valid run)" in first.text
    second = conclusions["2. gunicorn does fine with or without nginx"]
    assert second.verdict == "cannot check" and "missing gunicorn (no valid run)" in second.text
    # Nothing drawn from them either.
    assert set(_first_ok_runs(rep.runset, 6)) == {r.scenario for r in rep.rows}
    assert {d.scenario for d in compare(lab_judged, lab_judged).diffs}.isdisjoint(excluded)


def test_not_ranked_section_names_each_run_and_its_reason(lab_judged, capsys):
    assert (
        main(["summary", str(lab_judged), "--no-figures"]) == 1
    )  # report written, some runs are not results
    out = capsys.readouterr().out
    rep = analyse(lab_judged)
    assert [(n["run"], n["verdict"]) for n in rep.not_ranked] == [
        ("6/gunicorn/1", "invalid"),
        ("6/nginx-uwsgi/1", "invalid"),
        ("6/nginx-werkzeug/1", "invalid"),
        ("6/waitress/1", "invalid"),
    ]
    werkzeug = rep.not_ranked[2]["reasons"]
    assert werkzeug == ["backend: after the run: Elasticsearch was not healthy (cluster health is red)"]
    medians = {}
    for name in CLIENT_BOUND:
        m = next(r for r in rep.runset.runs if r.scenario == name).measurements[0]
        medians[name] = m.p50
        (reason,) = next(n for n in rep.not_ranked if n["scenario"] == name)["reasons"]
        assert reason == (
            f"client: client adds 1000.0 ms of the {m.p50:.1f} ms median measured "
            f"({100 * 1000 / m.p50:.0f} %, limit 25 %)"
        )
    assert "Not ranked (4):" in out and "6/nginx-werkzeug/1  invalid  backend: after the run" in out
    summary = json.loads((lab_judged / "report" / "summary.json").read_text())
    assert [n["run"] for n in summary["not_ranked"]] == [n["run"] for n in rep.not_ranked]
    assert len(summary["rows"]) == 7
    html = (lab_judged / "report" / "report.html").read_text()
    section = html.split('id="not-ranked-table"', 1)[1].split("</table>", 1)[0]
    assert (
        section.count("<tr>") == 5
        and "cluster health is red" in section
        and "client adds 1000.0 ms" in section
    )
    summary_table = html.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    assert "nginx-werkzeug" not in summary_table and "uwsgi-http" in summary_table


def test_warnings_are_grouped_by_kind(lab_judged):
    rep = analyse(lab_judged)
    w = rep.warnings
    (bound,) = [line for line in w if line.startswith("client-bound (")]
    details = "; ".join(
        f"6/{name}/1: client adds 1000.0 ms of the {m:.1f} ms median measured ({100 * 1000 / m:.0f} %, limit 25 %)"
        for name, m in sorted(
            (r.scenario, r.measurements[0].p50) for r in rep.runset.runs if r.scenario in CLIENT_BOUND
        )
    )
    assert bound == (
        "client-bound (3 runs: 6/gunicorn/1, 6/nginx-uwsgi/1, 6/waitress/1): the load generator, not the server, "
        f"set the pace: invalid, not ranked; {details}"
    )
    (es,) = [line for line in w if line.startswith("a backend unhealthy")]
    assert es == (
        "a backend unhealthy (1 run: 6/nginx-werkzeug/1): invalid, not ranked; after the run: Elasticsearch "
        "was not healthy (cluster health is red)"
    )
    # Every run lacks probe-before.json: one line for all 11 (the messages the runs share said once).
    (probe,) = [line for line in w if line.startswith("probe incomplete")]
    assert probe.startswith("probe incomplete (11 runs: 6/granian/1, 6/gunicorn/1, ")
    assert probe.count("no probe-before.json") == 1
    # 8 runs had no seed calibration: one line naming those 8.
    (client,) = [line for line in w if line.startswith("client check incomplete")]
    assert client.startswith(
        "client check incomplete (8 runs: 6/granian/1, 6/nginx-granian/1, 6/nginx-gunicorn/1, "
    )
    assert client.count("no seed calibration") == 1
    kinds = [line.split(" (", 1)[0] for line in w]
    assert len(kinds) == len(set(kinds)), w
    assert not any("not judged" in line for line in w)


def test_old_results_load_as_valid_but_not_judged(run_a):
    rep = analyse(run_a)
    assert all(r.state == "valid" and not r.judged for r in rep.runset.runs) and len(rep.rows) == 4
    (line,) = [line for line in rep.warnings if line.startswith("not judged")]
    assert line.startswith(
        "not judged (results from an older whiskey) (8 runs: 1/gunicorn/1, 1/gunicorn/2, 1/nginx-gunicorn/1, "
    )
    assert rep.not_ranked == []


def _aggregated(path: Path) -> dict:
    with path.open(newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")


def test_stats_reset_percentiles_are_locusts_aggregated_row():
    """With stats_reset, Locust's Aggregated row covers the window alone: its numbers are taken as they are."""
    rs = load_runset(DATA / "fixture-r")
    assert len(rs.runs) == 4 and all(r.state == "valid" and r.judged for r in rs.runs)
    for run in rs.runs:
        agg = _aggregated(run.path / "locust_stats.csv")
        (m,) = run.measurements
        assert m.percentiles_estimated is False
        assert (m.requests, m.failures) == (int(agg["Request Count"]), int(agg["Failure Count"]))
        assert m.rps == float(agg["Requests/s"]) and m.avg == float(agg["Average Response Time"])
        assert (m.p50, m.p90, m.p99, m.p999) == tuple(float(agg[c]) for c in ("50%", "90%", "99%", "99.9%"))
        assert m.max == float(agg["Max Response Time"])
        # The window: from the reset (where the cumulative count drops to ~0, spawning complete) to the last row.
        with (run.path / "locust_stats_history.csv").open(newline="") as fh:
            hist = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]
        counts = [int(r["Total Request Count"]) for r in hist]
        (k,) = [i for i in range(1, len(counts)) if counts[i] < counts[i - 1]]
        assert hist[k]["User Count"] == "20" and hist[k - 1]["User Count"] != "20"
        assert int(hist[k - 1]["Timestamp"]) <= m.window_start <= int(hist[k]["Timestamp"])
        assert m.window_end == int(hist[-1]["Timestamp"])
        assert m.window_s == pytest.approx(m.requests / m.rps, abs=1.0)
        # The old way (request-weighted rolling percentiles) would not have given these: it is an estimate.
        rolling = [
            (float(r["50%"]), float(r["Requests/s"])) for r in hist[k + 1 :] if float(r["Requests/s"]) > 0
        ]
        estimate = sum(v * w for v, w in rolling) / sum(w for _, w in rolling)
        assert estimate != m.p50


def test_stats_reset_rows_and_table_are_exact(tmp_path):
    rep = analyse(DATA / "fixture-r")
    for row in rep.rows:
        p50s = [float(_aggregated(r.path / "locust_stats.csv")["50%"]) for r in row.runs]
        assert row.ci["p50"].mean == pytest.approx(sum(p50s) / len(p50s))
        p999 = [float(_aggregated(r.path / "locust_stats.csv")["99.9%"]) for r in row.runs]
        assert row.ci["p999"].mean == pytest.approx(sum(p999) / len(p999))
        assert row.percentiles_estimated is False and row.repeats == 2
    assert main(["summary", str(DATA / "fixture-r"), "--out", str(tmp_path), "--no-figures"]) == 0
    html = (tmp_path / "report.html").read_text()
    table = html.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    assert "≈" not in table and "p99.9 ms" in table
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    assert all(r["percentiles_estimated"] is False and r["p999_ms"] > r["p99_ms"] for r in rows)
    # Results of an older whiskey: the same columns, marked as estimates.
    old = analyse(DATA / "fixture-a")
    assert all(r.percentiles_estimated for r in old.rows)
    from whiskey_report.summary import table_cells

    cells = table_cells(old.rows[0])
    assert [c[0] for c in cells[9:13]] == ["≈"] * 4  # p50, p90, p99, p99.9


def test_one_invalid_repeat_is_left_out_of_its_row(tmp_path):
    """fixture-r with 2/waitress/1 judged again under a 0.5 % error limit: invalid (0.63 % failed). Its row is
    waitress/2 alone, the ranking uses that, and Not ranked names the run with its reason."""
    root = tmp_path / "fixture-r"
    shutil.copytree(DATA / "fixture-r", root)
    run = root / "2" / "waitress" / "1"
    ctx = json.loads((run / "context.json").read_text())
    ctx["thresholds"] = {"max_error_pct": 0.5}
    write_status(run, judge(run, ctx))
    rep = analyse(root)
    (nr,) = rep.not_ranked
    assert (nr["run"], nr["verdict"], nr["reasons"]) == (
        "2/waitress/1",
        "invalid",
        ["errors: 0.63 % of 1 898 requests failed (limit 0.5 %)"],
    )
    row = next(r for r in rep.rows if r.scenario == "waitress")
    assert (row.repeats, row.repeats_total) == (1, 2) and [r.repeat for r in row.runs] == [2]
    alone = _aggregated(root / "2" / "waitress" / "2" / "locust_stats.csv")
    assert row.value("avg") == float(alone["Average Response Time"]) and row.requests == int(
        alone["Request Count"]
    )
    (head,) = [f.text for f in rep.findings if f.kind == "headline"]
    gunicorn = next(r for r in rep.rows if r.scenario == "gunicorn")
    assert head.startswith(  # (then: this small fixture's loop is throttled, test_saturation.py)
        f"workers=2: fastest by average latency is waitress ({row.value('avg'):.1f} ms). "
        f"Ranking: waitress {row.value('avg'):.1f}, gunicorn {gunicorn.value('avg'):.1f} ms."
    )
    assert (
        "too many failed requests (1 run: 2/waitress/1): invalid, not ranked; 0.63 % of 1 898"
        in "\n".join(rep.warnings)
    )
