"""compare: fixture-b (backend wait 12 ms) against fixture-a (3 ms), both real Locust runs."""

import json
import shutil

from whiskey_report.cli import main
from whiskey_report.compare import compare, terminal_text
from whiskey_report.report import ORIGINAL_APP


def test_compare_matches_rows_and_computes_differences(run_a, run_b):
    cmp = compare(run_a, run_b)
    keys = {(d.workers, d.scenario) for d in cmp.diffs}
    assert keys == {(2, "gunicorn"), (2, "nginx-gunicorn")}  # fixture-b has workers=2 only
    assert sorted(cmp.only_one) == [
        "baseline only: gunicorn (workers=1)",
        "baseline only: nginx-gunicorn (workers=1)",
    ]
    for d in cmp.diffs:
        if d.metric == "failure_pct":
            continue
        base, cont = d.base.value(d.metric), d.cont.value(d.metric)
        assert d.delta == cont - base
        assert d.pct == 100.0 * (cont - base) / base
        assert d.significant in (True, False)  # both sides have 2 repeats: Welch's test ran
        assert d.why.startswith("Welch") or d.why == "no variance in either sample"
        assert d.better == ((cont > base) if d.metric == "rps" else (cont < base))
    # The contender's backend waits 9 ms longer per request: its median latency is higher.
    for d in cmp.diffs:
        if d.metric == "p50":
            assert d.delta > 0 and d.better is False


def test_compare_same_run_has_no_difference(run_a):
    cmp = compare(run_a, run_a)
    assert cmp.only_one == []
    for d in cmp.diffs:
        assert d.delta == 0 and d.better is None and d.significant is False


def test_compare_cli_writes_html(run_a, run_b, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert main(["compare", str(run_a), str(run_b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "baseline fixture-a  vs  contender fixture-b" in text and "Δ %" in text
    html = out.read_text()
    assert 'id="compare-table"' in html and html.count("<tr>") >= 12 and "<script" not in html


def test_compare_missing_side(run_a, tmp_path, capsys):
    assert main(["compare", str(run_a), str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_compare_names_the_app_and_warns_when_the_two_measured_different_apps(run_a, run_b, tmp_path):
    same = compare(run_a, run_b)  # both recorded before apps were named: the quote server on both sides
    assert same.base_app == same.cont_app == ORIGINAL_APP
    assert f"App under test: {ORIGINAL_APP}" in terminal_text(same)
    assert not any("different apps" in w for w in same.warnings)
    other = tmp_path / "fixture-b"
    shutil.copytree(run_b, other)
    meta = json.loads((other / "run.json").read_text())
    meta["app"] = {"name": "cpu-bound", "version": "1.0.0", "digest": "ab" * 32, "wsgi": "cpubound.wsgi:app",
                   "requests": [{"path": "/work?n=5", "weight": 1}], "backends": []}  # fmt: skip
    (other / "run.json").write_text(json.dumps(meta))
    cmp = compare(run_a, other)
    assert cmp.cont_app.startswith("cpu-bound 1.0.0 (not in git, sha256 abababababab)")
    assert cmp.warnings[0].startswith("the two runs measured different apps (baseline: quoteserver")
    text = terminal_text(cmp)
    assert f"Baseline's app: {ORIGINAL_APP}" in text and "Contender's app: cpu-bound 1.0.0" in text
