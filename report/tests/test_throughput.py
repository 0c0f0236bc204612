"""Throughput profile (tests/data/runs/fixture-t): wrk through the project's driver, throughput.json per run."""

import json

import pytest

from whiskey_report.report import build


def test_rows_per_concurrency_match_wrk_output(run_t, tmp_path):
    rep = build(run_t, tmp_path)
    assert [(r.scenario, r.concurrency) for r in rep.rows] == [
        ("gunicorn", 2),
        ("gunicorn", 8),
        ("nginx-gunicorn", 2),
        ("nginx-gunicorn", 8),
    ]
    for row in rep.rows:
        # Independent check against wrk's own per-level JSON (whiskey.lua), not throughput.json.
        wrk = [json.loads((run.path / f"wrk-c{row.concurrency}.json").read_text()) for run in row.runs]
        assert row.requests == sum(w["requests"] for w in wrk)
        assert row.failures == sum(w["errors"] + w["non_2xx"] for w in wrk)
        assert row.ci["rps"].mean == pytest.approx(sum(w["rps"] for w in wrk) / len(wrk), abs=1e-3)
        assert row.ci["p99"].mean == pytest.approx(
            sum(w["latency_ms"]["p99"] for w in wrk) / len(wrk), abs=1e-3
        )
        assert row.max_ms == pytest.approx(max(w["latency_ms"]["max"] for w in wrk), abs=1e-3)
    heads = [f.text for f in rep.findings if f.kind == "headline"]
    assert len(heads) == 1 and "concurrency 8" in heads[0] and "requests per second" in heads[0]
    assert (tmp_path / "throughput-vs-concurrency.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("timeseries-*.png"))  # no Locust history in this profile
    html = (tmp_path / "report.html").read_text()
    assert "<th>conc</th>" in html and html.count("data:image/png;base64,") == 2
