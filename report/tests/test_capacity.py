"""The capacity profile on real data (tests/data/runs/fixture-c, fixture-c2: made by data/make_capacity_fixture.py
with the project's open-model driver and vegeta): reading capacity.json, merging two clients exactly, the verdict's
rules (each on a damaged copy), the CLI the loop calls, and the report of a capacity bench."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whiskey_report import capacity as cap
from whiskey_report.report import build
from whiskey_report.verdict import DEFAULT_THRESHOLDS, judge

DATA = Path(__file__).parent / "data" / "runs"
RUN_C = DATA / "fixture-c"
RUN_C2 = DATA / "fixture-c2"
GOOD = RUN_C / "1" / "lock-4ms" / "1"  # a valid run: capacity found, driver checked
BROKEN = RUN_C / "1" / "lock-8ms" / "4"  # the server at 100 ms per request: no rate meets the objective
TWO = RUN_C2 / "1" / "lock-8ms" / "1"  # two clients at once


def context(run_dir: Path) -> dict:
    return json.loads((run_dir / "context.json").read_text())


@pytest.fixture
def good(tmp_path) -> Path:
    dst = tmp_path / "1" / "lock-4ms" / "1"
    shutil.copytree(GOOD, dst)
    return dst


def edit(run_dir: Path, change) -> None:
    p = run_dir / "capacity.json"
    doc = json.loads(p.read_text())
    change(doc)
    p.write_text(json.dumps(doc))


def kinds(doc: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in doc["reasons"]:
        out.setdefault(r["kind"], []).append(r["message"])
    return out


def capacity_step(doc: dict) -> dict:
    return next(s for s in doc["steps"] if s["passed"] and s["rate"] == doc["result"]["capacity"])


# ---------------------------------------------------------------- reading


def test_a_real_run_reads_without_problems_and_agrees_with_its_file():
    c = cap.read_run(GOOD)
    raw = json.loads((GOOD / "capacity.json").read_text())
    assert c.problems == [] and c.error is None
    assert c.status == raw["result"]["status"] == "found"
    assert c.capacity == raw["result"]["capacity"] == max(s["rate"] for s in raw["steps"] if s["passed"])
    assert c.upper == raw["result"]["upper"]
    assert c.capacity_step.p99 <= c.slo_p99_ms == 50
    curve = c.curve()
    assert [p["rate"] for p in curve] == sorted(s["rate"] for s in raw["steps"])
    assert {"rate", "p50_ms", "p99_ms", "passed", "stopped_early"} <= set(curve[0])
    assert c.driver_check is not None and c.driver_check.rate == c.capacity
    # the histogram's own nearest rank is what the driver wrote
    for s in c.steps:
        assert s.hist.n == s.answered
        if s.answered == 0:  # a step stopped before any answer in its window
            assert s.p99 is None
            continue
        assert math.isclose(s.hist.quantile_us(99.0) / 1000.0, s.p99, rel_tol=1e-3, abs_tol=1e-3)


def test_every_committed_run_is_read_and_judged_as_it_was():
    for status_p in sorted(RUN_C.glob("1/*/*/status.json")):
        run_dir = status_p.parent
        doc = judge(run_dir, context(run_dir))
        assert doc["verdict"] == json.loads(status_p.read_text())["verdict"], run_dir


# ---------------------------------------------------------------- merging clients


def union_nearest_rank_us(hists: list[cap.Histogram], pct: float) -> float:
    """Nearest rank of the union of the clients' latencies, each latency taken as its bucket's upper edge."""
    values = sorted(min(cap.BASE**i, h.max_us) for h in hists for i, c in h.counts.items() for _ in range(c))
    return values[max(1, math.ceil(pct / 100.0 * len(values) - 1e-9)) - 1]


def test_two_clients_merge_exactly_never_by_the_max_of_their_percentiles():
    a_dir, b_dir = sorted((TWO / "clients").iterdir())
    a, b = (
        cap.read_capacity(a_dir / "capacity.json", a_dir.name),
        cap.read_capacity(b_dir / "capacity.json", b_dir.name),
    )
    merged = cap.read_run(TWO)
    assert merged.clients == [a_dir.name, b_dir.name] and merged.problems == []
    differs = 0
    for m in merged.steps:
        sa = next(s for s in a.steps if s.label == m.label)
        sb = next(s for s in b.steps if s.label == m.label)
        assert m.rate == sa.rate + sb.rate
        assert (m.planned, m.answered, m.errors) == (
            sa.planned + sb.planned,
            sa.answered + sb.answered,
            sa.errors + sb.errors,
        )
        assert m.hist.n == sa.hist.n + sb.hist.n
        for i in set(sa.hist.counts) | set(sb.hist.counts):
            assert m.hist.counts[i] == sa.hist.counts.get(i, 0) + sb.hist.counts.get(i, 0)
        if m.answered == 0:
            assert m.p99 is None and sa.p99 is None and sb.p99 is None
            continue
        union = union_nearest_rank_us([sa.hist, sb.hist], 99.0) / 1000.0
        assert m.p99 == pytest.approx(union, rel=0.01)
        worst = max(sa.p99, sb.p99)
        assert m.p99 <= worst + 1e-9
        differs += m.p99 != worst
    assert differs >= 1, "the merged p99 must not be the max of the clients' p99s"
    # the result is decided again on the merged steps
    assert merged.capacity == max((s.rate for s in merged.steps if s.passed), default=None)
    assert merged.driver_check.rate == a.driver_check.rate + b.driver_check.rate


def test_the_verdict_of_two_clients_reports_the_merged_capacity():
    doc = judge(TWO, context(TWO))
    merged = cap.read_run(TWO)
    assert doc["capacity"]["clients"] == 2
    assert doc["rate_rps"] == merged.capacity == doc["capacity"]["capacity"]
    assert doc["capacity"]["latency_ms"]["p99"] == merged.capacity_step.p99


def test_clients_whose_searches_diverged_are_not_merged_as_one(tmp_path):
    run = tmp_path / "1" / "lock-8ms" / "1"
    shutil.copytree(TWO, run)
    b = sorted((run / "clients").iterdir())[1]
    edit(b, lambda d: d["steps"][-1].update(rate=d["steps"][-1]["rate"] + 7))
    doc = judge(run, context(run))
    assert doc["verdict"] == "invalid"
    assert any("diverged" in m for m in kinds(doc)["results"])


# ---------------------------------------------------------------- the verdict's rules


def test_a_good_run_is_valid_with_the_capacity_object(good):
    doc = judge(good, context(good))
    assert doc["verdict"] == "valid", doc["reasons"]
    raw = json.loads((good / "capacity.json").read_text())
    step = capacity_step(raw)
    assert doc["profile"] == "capacity"
    assert doc["rate_rps"] == raw["result"]["capacity"]
    assert doc["requests"] == step["planned"] and doc["error_pct"] == step["error_pct"]
    c = doc["capacity"]
    assert c["status"] == "found" and c["slo_p99_ms"] == 50 and c["slo_error_pct"] == 0.1
    assert c["driver_check"]["rate"] == raw["driver_check"]["rate"]
    assert c["driver_check"]["p99_ms"] == raw["driver_check"]["latency_ms"]["p99"]
    assert doc["load_s"] > 0 and doc["duration_s"] is None
    assert doc["thresholds"]["driver_p99_fraction"] == 0.5  # the fixture's context (Python's ping, not nginx)
    assert (
        DEFAULT_THRESHOLDS["driver_p99_fraction"] == 0.1 and DEFAULT_THRESHOLDS["driver_rate_miss_pct"] == 1.0
    )


def slow_down(step: dict, to_p99_ms: float) -> None:
    """Make a step's latencies slower by one factor (its histogram's buckets shifted), so that its p99 is about
    to_p99_ms; latency_ms is recomputed from the shifted histogram, as the driver would have written it."""
    h = step["histogram"]
    k = math.ceil(math.log(to_p99_ms / step["latency_ms"]["p99"]) / math.log(cap.BASE))
    h["counts"] = {str(int(i) + k): c for i, c in h["counts"].items()}
    h["max_us"] = round(h["max_us"] * cap.BASE**k, 1)
    h["min_us"] = round(h["min_us"] * cap.BASE**k, 1)
    hist = cap.read_histogram(h, "test", [])
    step["latency_ms"] = hist.summary_ms()


def test_the_driver_check_p99_over_the_allowed_share_of_the_objective_is_client(good):
    edit(good, lambda d: slow_down(d["driver_check"], 30.0))
    doc = judge(good, context(good))  # the fixture allows half of the objective: 25 ms
    assert doc["verdict"] == "invalid" and doc["client_bound"]
    assert list(kinds(doc)) == ["client"]  # the edited histogram is consistent: no results reason
    (msg,) = kinds(doc)["client"]
    p99 = json.loads((good / "capacity.json").read_text())["driver_check"]["latency_ms"]["p99"]
    assert f"the driver itself adds p99 {p99:g} ms at" in msg and "of the objective (25 ms)" in msg


def test_the_default_allows_the_driver_a_tenth_of_the_objective(good):
    """The fixture's ping is Python's http.server, whose p99 is over 5 ms: real data the default rejects."""
    raw = json.loads((good / "capacity.json").read_text())["driver_check"]
    assert raw["latency_ms"]["p99"] > 5.0
    doc = judge(good, {**context(good), "thresholds": {}})
    assert doc["verdict"] == "invalid"
    (msg,) = kinds(doc)["client"]
    assert msg == (
        f"the driver itself adds p99 {raw['latency_ms']['p99']:g} ms at {raw['rate']:g}/s against nginx's ping, "
        "over a tenth of the objective (5 ms)"
    )


def test_the_driver_check_achieved_rate_short_is_client(good):
    def short(d):
        d["driver_check"]["achieved_rate"] = round(d["driver_check"]["rate"] * 0.97, 2)

    edit(good, short)
    doc = judge(good, context(good))
    assert doc["verdict"] == "invalid"
    assert any("against nginx's ping the driver sent" in m and "3.0 % off" in m for m in kinds(doc)["client"])


def test_the_capacity_step_achieved_rate_short_is_client(good):
    def short(d):
        step = capacity_step(d)
        step["achieved_rate"] = round(step["rate"] * 0.95, 2)

    edit(good, short)
    doc = judge(good, context(good))
    assert doc["verdict"] == "invalid"
    assert any("at the capacity step the driver sent" in m for m in kinds(doc)["client"])


def test_no_driver_check_is_client(good):
    edit(good, lambda d: d.update(driver_check=None))
    doc = judge(good, context(good))
    assert doc["verdict"] == "invalid"
    assert any(m.startswith("no driver check") for m in kinds(doc)["client"])
    assert doc["capacity"]["driver_check"] is None


def test_a_wrk_cross_check_that_disagrees_is_a_warning_and_kept(good):
    """Below the knee a closed loop at the same throughput should see the open model's median; the driver writes
    both, the verdict warns when they differ (evidence, not a rule) and keeps the comparison in status.json."""
    base = judge(good, context(good))

    def cross(agree):
        def change(d):
            d["cross_check"] = {
                "tool": "wrk", "rate": 50.0, "open_p50_ms": 5.0, "connections": 1, "closed_rps": 190.0,
                "closed_p50_ms": 5.2 if agree else 9.0, "agree": agree, "why": "medians 5 ms and 9 ms differ",
            }  # fmt: skip

        return change

    edit(good, cross(False))
    doc = judge(good, context(good))
    assert doc["verdict"] == base["verdict"]  # never a reason
    assert any(w["kind"] == "cross-check" and "differ" in w["message"] for w in doc["warnings"])
    assert doc["capacity"]["cross_check"]["closed_p50_ms"] == 9.0
    edit(good, cross(True))
    doc = judge(good, context(good))
    assert not any(w["kind"] == "cross-check" for w in doc["warnings"])


def test_histogram_counts_that_do_not_sum_are_results(good):
    def damage(d):
        counts = d["steps"][0]["histogram"]["counts"]
        first = next(iter(counts))
        counts[first] += 5

    edit(good, damage)
    doc = judge(good, context(good))
    assert doc["verdict"] == "invalid"
    msgs = kinds(doc)["results"]
    assert any("histogram counts sum to" in m for m in msgs)
    assert any("the histogram holds" in m for m in msgs)  # n != answered


def test_a_histogram_of_another_base_is_results(good):
    edit(good, lambda d: d["steps"][1]["histogram"].update(base=1.02))
    doc = judge(good, context(good))
    assert any("base 1.02" in m for m in kinds(doc)["results"])


def test_a_result_that_disagrees_with_its_steps_is_results(good):
    edit(good, lambda d: d["result"].update(capacity=d["result"]["capacity"] * 2))
    doc = judge(good, context(good))
    assert any("the highest passing rate of its steps" in m for m in kinds(doc)["results"])


def test_a_step_marked_passed_over_the_objective_is_results(good):
    edit(good, lambda d: slow_down(d["steps"][0], 80.0))  # still marked passed, its histogram now over 50 ms
    doc = judge(good, context(good))
    assert any("step 1 (step-1) is marked passed, but p99" in m for m in kinds(doc)["results"])


def test_a_negative_rate_is_results(good):
    edit(good, lambda d: d["steps"][0].update(rate=-25))
    doc = judge(good, context(good))
    assert any("rate is -25, not > 0" in m for m in kinds(doc)["results"])


def test_no_capacity_json_is_failed(good):
    (good / "capacity.json").unlink()
    doc = judge(good, context(good))
    assert doc["verdict"] == "failed"
    assert "no capacity.json" in doc["error"]


def test_a_driver_error_before_any_step_is_failed(good):
    edit(
        good,
        lambda d: d.update(
            steps=[], result=None, driver_check=None, error="step-1: vegeta recorded no request"
        ),
    )
    doc = judge(good, context(good))
    assert doc["verdict"] == "failed" and "vegeta recorded no request" in doc["error"]


def test_a_driver_error_after_some_steps_is_results(good):
    edit(good, lambda d: d.update(error="step-9: vegeta exited 1 (encode 0)"))
    doc = judge(good, context(good))
    assert any("the driver stopped with an error after" in m for m in kinds(doc)["results"])


def test_no_rate_meeting_the_objective_is_results_naming_the_lowest_rate():
    doc = judge(BROKEN, context(BROKEN))
    raw = json.loads((BROKEN / "capacity.json").read_text())
    assert raw["result"]["status"] == "none"
    assert doc["verdict"] == "invalid" and doc["rate_rps"] is None and doc["capacity"]["status"] == "none"
    lowest = min(s["rate"] for s in raw["steps"])
    (msg,) = [m for m in kinds(doc)["results"] if "no rate tried met the objective" in m]
    assert f"the lowest tried, {lowest:g}/s" in msg and "p99 <= 50 ms" in msg
    assert "client" not in kinds(doc)  # nothing found: nothing to check the driver at


def censor(d: dict) -> None:
    """Keep the steps up to the capacity: a search that never failed up to its max_rate."""
    top = d["result"]["capacity"]
    d["steps"] = [s for s in d["steps"] if s["rate"] <= top and s["passed"]]
    d["settings"]["max_rate"] = top
    d["result"].update(upper=None, status="censored", text=f"met the objective up to max_rate {top:g}/s")


def test_a_censored_search_is_valid_with_a_warning(good):
    edit(good, censor)
    doc = judge(good, context(good))
    assert doc["verdict"] == "valid", doc["reasons"]
    assert doc["capacity"]["status"] == "censored" and doc["capacity"]["upper"] is None
    assert any(w["kind"] == "capacity" and "at least" in w["message"] for w in doc["warnings"])


def test_the_error_limit_of_other_profiles_does_not_apply(good):
    edit(good, lambda d: capacity_step(d).update(errors=0, error_pct=0.05))
    doc = judge(good, {**context(good), "thresholds": {"max_error_pct": 0.0, "driver_p99_fraction": 0.5}})
    assert "errors" not in kinds(doc)


def test_the_profile_is_found_from_capacity_json_without_a_context(good):
    doc = judge(good, {})
    assert doc["profile"] == "capacity" and doc["capacity"] is not None


def test_the_cli_the_loop_calls(good):
    ctx = (good / "context.json").read_text()
    (good / "status.json").unlink()
    res = subprocess.run(
        [sys.executable, "-m", "whiskey_report", "verdict", str(good), "--context", "-", "--write"],
        input=ctx,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    written = json.loads((good / "status.json").read_text())
    assert printed == written
    assert written["verdict"] == "valid" and written["capacity"]["status"] == "found"


# ---------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def built_c(tmp_path_factory):
    return build(RUN_C, tmp_path_factory.mktemp("report-c"))


def test_the_report_has_a_capacity_table(built_c):
    rows = {r.scenario: r for r in built_c.capacity_rows}
    assert set(rows) == {"lock-4ms", "lock-8ms"}
    fast, slow = rows["lock-4ms"], rows["lock-8ms"]
    assert (
        fast.repeats == 3 and slow.repeats == 3 and slow.repeats_total == 4
    )  # the broken repeat is not ranked
    assert fast.ci.mean > slow.ci.mean
    assert fast.ci.half_width is not None and fast.cv is not None
    for r in (fast, slow):
        assert r.app_cores and r.app_cores > 0
        assert r.per_core.mean == pytest.approx(
            sum(run.capacity.capacity for run in r.runs) / len(r.runs) / r.app_cores, rel=0.5
        )
        assert r.rss_per_worker_mb and r.rss_per_worker_mb > 1
    html = built_c.html.read_text()
    assert 'id="capacity-table"' in html and "lock-4ms" in html
    assert "1/lock-8ms/4" in html and "no rate tried met the objective" in html
    csv_text = (built_c.out_dir / "capacity.csv").read_text()
    assert csv_text.startswith("workers,scenario,") and csv_text.count("\n") == 3
    summary = json.loads((built_c.out_dir / "summary.json").read_text())
    assert {r["scenario"] for r in summary["capacity"]} == {"lock-4ms", "lock-8ms"}
    assert any(n["run"] == "1/lock-8ms/4" for n in summary["not_ranked"])


def test_the_report_draws_the_capacity_figure(built_c):
    p = built_c.out_dir / "capacity-latency-vs-rate.png"
    assert p.exists() and p.stat().st_size > 10_000
    assert "capacity-latency-vs-rate.png" in built_c.html.read_text()


def test_the_report_says_who_sustains_the_most(built_c):
    (text,) = [f.text for f in built_c.findings if "sustains the most" in f.text]
    fast = next(r for r in built_c.capacity_rows if r.scenario == "lock-4ms")
    assert text.startswith(
        f"On this hardware (workers=1), lock-4ms sustains the most: {fast.ci.mean:.0f} req/s"
    )
    assert "within p99 ≤ 50 ms (95 % CI" in text and "3 repeats" in text
    assert "within noise of it: none" in text and "below it: lock-8ms" in text
    assert text in built_c.html.read_text()


def test_a_single_repeat_cannot_be_ranked(tmp_path):
    rep = build(RUN_C2, tmp_path / "report")
    (text,) = [f.text for f in rep.findings]
    assert "no ranking is possible with fewer than 2 valid repeats" in text


def test_a_censored_row_is_shown_as_at_least(tmp_path):
    run = tmp_path / "fixture-c"
    shutil.copytree(RUN_C, run)
    for rep in (1, 2, 3):
        d = run / "1" / "lock-8ms" / str(rep)
        edit(d, censor)
        status = judge(d, context(d))
        (d / "status.json").write_text(json.dumps(status))
    out = build(run, tmp_path / "report")
    slow = next(r for r in out.capacity_rows if r.scenario == "lock-8ms")
    assert slow.censored
    html = out.html.read_text()
    assert f"≥{slow.ci.mean:.1f}" in html


def test_seed_reports_have_no_capacity_section(built_a):
    assert built_a.capacity_rows == []
    assert 'id="capacity-table"' not in built_a.html.read_text()


# ---------------------------------------------------------------- a rate tried again (the search's confirmation)


def _retry(doc: dict, of: str, rate: float | None = None, passed: bool | None = None) -> dict:
    """A copy of step `of` as the search's next step (at `rate`), with the driver's pooled verdict recorded."""
    src = next(s for s in doc["steps"] if s["label"] == of)
    new = json.loads(json.dumps(src))
    new["label"] = f"step-{len(doc['steps']) + 1}"
    if rate is not None:
        new["rate"] = rate
    tries = [s for s in doc["steps"] if s["rate"] == new["rate"]] + [new]
    s = doc["settings"]
    new["pooled"] = cap.driver.pool(tries, s["slo_p99_ms"], s["slo_error_pct"])
    if passed is not None:
        new["pooled"]["passed"] = passed
    doc["steps"].append(new)
    return new


def test_a_rate_tried_again_counts_by_its_tries_pooled(good):
    edit(good, lambda d: _retry(d, "step-9"))  # the capacity's rate measured twice
    c = cap.read_run(good)
    assert c.problems == [] and c.capacity == 209 and c.upper == 218
    step = c.capacity_step
    assert step.label == "step-10" and step.pooled["tries"] == ["step-9", "step-10"]
    assert step.pooled["answered"] == 2 * step.answered and step.pooled["passed"]
    assert c.summary()["pooled"] == ["step-9", "step-10"]
    assert c.summary()["latency_ms"] == step.pooled["latency_ms"]
    assert judge(good, context(good))["verdict"] == "valid"


def test_a_marginal_miss_confirmed_as_a_pass_moves_the_capacity_up_and_the_result_must_say_so(good):
    def confirm(d):
        # step-8 (218/s) missed without being stopped early; measured again, the pooled tries meet the objective
        nine = next(s for s in d["steps"] if s["label"] == "step-9")
        eight = next(s for s in d["steps"] if s["label"] == "step-8")
        eight.update({k: json.loads(json.dumps(v)) for k, v in nine.items() if k not in ("label", "rate")})
        eight.update(passed=False, why="p99 50.2 ms > 50 ms", stopped_early=False, achieved_rate=218.0)
        _retry(d, "step-9", rate=218.0)["achieved_rate"] = 218.0

    edit(good, confirm)
    c = cap.read_run(good)
    assert c.capacity == 218 and c.upper == 238 and c.capacity_step.label == "step-10"
    # the driver's recorded result (209) is not what its steps say any more: the run is not a result
    assert any(
        "result.capacity is 209.0, the highest passing rate of its steps 218.0" in p for p in c.problems
    )
    doc = judge(good, context(good))
    assert doc["verdict"] == "invalid" and "results" in kinds(doc)
    edit(good, lambda d: d["result"].update(capacity=218.0, lower=218.0, upper=238.0))
    assert cap.read_run(good).problems == []
    assert judge(good, context(good))["verdict"] == "valid"


def test_a_pooled_verdict_the_histograms_contradict_or_without_an_earlier_try_is_a_problem(good):
    edit(good, lambda d: _retry(d, "step-9", passed=False))
    c = cap.read_run(good)
    assert any(
        "the driver pooled step-9, step-10 as passed=False, their histograms say p99" in p for p in c.problems
    )
    assert judge(good, context(good))["verdict"] == "invalid"

    def lone(d):
        d["steps"] = [s for s in d["steps"] if s["label"] != "step-9"]
        d["steps"][-1]["pooled"] = {"passed": True, "tries": ["step-8"]}

    edit(good, lambda d: d["steps"].pop())  # drop the retry of the first part
    edit(good, lone)
    assert any(
        "records a pooled verdict, but no earlier try of 218/s" in p for p in cap.read_run(good).problems
    )
