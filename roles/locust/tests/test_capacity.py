"""The capacity profile's logic without a driver: histograms, a step's numbers from per-request records (latency
from the intended send time), the early stop, the rate search."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[1] / "files"
spec = importlib.util.spec_from_file_location("whiskey_capacity", FILES / "whiskey_capacity.py")
cap = importlib.util.module_from_spec(spec)
sys.modules["whiskey_capacity"] = cap
spec.loader.exec_module(cap)


def exact_rank(values, pct):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_percentile_is_the_nearest_rank_within_one_percent_above(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(8, 1.2) for _ in range(5000)] + [3_000_000.0]  # us, one 3-s outlier
    h = cap.Histogram()
    for v in values:
        h.add(v)
    assert h.n == len(values)
    for pct in (50, 90, 99, 99.9):
        true = exact_rank(values, pct)
        got = h.quantile_us(pct)
        assert true <= got <= true * 1.01 + 1e-9, (pct, true, got)
    assert h.quantile_us(100) == h.max_us == 3_000_000.0
    assert h.summary_ms()["max"] == 3000.0


def test_histograms_merge_exactly_where_percentiles_do_not():
    """Two clients: one fast, one slow. The merged p99 is the p99 of all requests, not the max of the two."""
    rng = random.Random(7)
    fast = [rng.uniform(1000, 2000) for _ in range(9000)]
    slow = [rng.uniform(50_000, 60_000) for _ in range(1000)]
    a, b = cap.Histogram(), cap.Histogram()
    for v in fast:
        a.add(v)
    for v in slow:
        b.add(v)
    merged = a.merge(b)
    assert merged.n == 10_000
    true = exact_rank(fast + slow, 50)
    assert true <= merged.quantile_us(50) <= true * 1.01
    assert merged.quantile_us(50) < 2100  # the max of the two p50s would say 55 ms
    round_trip = cap.Histogram.from_json(merged.to_json())
    assert round_trip.counts == merged.counts and round_trip.quantile_us(99) == merged.quantile_us(99)


def test_a_histogram_of_another_resolution_is_refused():
    with pytest.raises(ValueError, match="base"):
        cap.Histogram.from_json({"base": 1.02, "unit": "us", "counts": {}})


def records(rate, seconds, service_ms, send_lag_ms=0.0, t0_ns=1_000_000_000_000, fail_every=0, stall=None):
    """A driver's records: request i intended at t0 + i/rate, sent send_lag_ms later, answered in service_ms.
    stall=(from_s, to_s): the driver could not send in that span (it sends the backlog at to_s)."""
    out = []
    for i in range(int(rate * seconds)):
        intended = t0_ns + i * 1e9 / rate
        sent = intended + send_lag_ms * 1e6
        if stall and stall[0] * 1e9 <= intended - t0_ns < stall[1] * 1e9:
            sent = t0_ns + stall[1] * 1e9
        ok = not (fail_every and i % fail_every == 0)
        out.append(cap.Record(seq=i, sent_ns=int(sent), latency_ns=int(service_ms * 1e6), ok=ok))
    return out


def step_of(recs, rate, warmup_s=1.0, step_time_s=4.0):
    step = cap.Step(rate=rate, warmup_s=warmup_s, step_time_s=step_time_s)
    step.t0_ns = cap.schedule_start(recs, rate)
    for r in recs:
        step.add(r)
    return step


def test_a_step_counts_only_its_measured_window_and_reports_the_achieved_rate():
    recs = records(200, 5.0, service_ms=4.0)
    step = step_of(recs, 200)
    assert step.planned == 800 and step.answered == 800 and step.unanswered() == 0
    assert step.achieved_rate() == pytest.approx(200, rel=0.002)
    doc = cap.judge(step, slo_p99_ms=10, slo_error_pct=0.1)
    assert doc["passed"] and doc["error_pct"] == 0
    assert 4.0 <= doc["latency_ms"]["p99"] <= 4.04


def test_latency_is_charged_from_the_intended_send_time_when_the_driver_was_held_up():
    """A 0.5-s stall: a closed-loop tool would report 4 ms for every request; from the intended time, the
    requests that waited are 4..504 ms late, and p99 misses a 100-ms objective."""
    recs = records(200, 5.0, service_ms=4.0, stall=(2.0, 2.5))
    step = step_of(recs, 200)
    assert step.service.quantile_us(99) / 1000 == pytest.approx(4.0, rel=0.011)
    assert step.latency.quantile_us(99) / 1000 > 400
    doc = cap.judge(step, slo_p99_ms=100, slo_error_pct=0.1)
    assert not doc["passed"] and "p99" in doc["why"]
    assert doc["send_lag_ms"]["max"] == pytest.approx(500, rel=0.01)


def test_a_constant_send_lag_is_the_drivers_not_the_servers_and_sets_t0():
    """t0 is estimated from the records: a driver that is uniformly 2 ms late is taken as on time (the schedule
    starts when it started), and only variation in lateness is charged."""
    step = step_of(records(100, 5.0, service_ms=3.0, send_lag_ms=2.0), 100)
    assert step.latency.quantile_us(99) / 1000 == pytest.approx(3.0, rel=0.011)


def test_errors_and_unanswered_requests_fail_a_step():
    step = step_of(records(100, 5.0, service_ms=3.0, fail_every=50), 100)
    doc = cap.judge(step, slo_p99_ms=100, slo_error_pct=1.0)
    assert doc["errors"] == 8 and doc["error_pct"] == pytest.approx(2.0) and not doc["passed"]
    assert "errors" in doc["why"]
    partial = step_of(records(100, 4.0, service_ms=3.0), 100)  # the last second never came back
    assert partial.unanswered() == 100
    assert not cap.judge(partial, 100, 1.0)["passed"]


def test_the_early_stop_fires_only_when_the_step_has_certainly_missed():
    rate, slo = 100.0, 50.0
    t0 = 1_000_000_000_000
    step = cap.Step(rate=rate, warmup_s=1.0, step_time_s=10.0)
    step.t0_ns = t0
    # 3 s in, every request answered in 5 ms: not over
    for r in records(rate, 3.0, service_ms=5.0):
        step.add(r)
    assert cap.certainly_over(step, t0 + int(3.0e9), slo, 0.1) == ""
    # then the server stops answering: 1 % of 1000 planned = 10 slow allowed; after 0.16 s of silence past the
    # objective, 11 requests are certainly late
    assert cap.certainly_over(step, t0 + int(3.0e9 + 50e6 + 100e6), slo, 0.1) == ""
    why = cap.certainly_over(step, t0 + int(3.0e9 + 50e6 + 120e6), slo, 0.1)
    assert "took longer than 50 ms" in why
    # errors beyond the allowed budget stop it too
    bad = cap.Step(rate=rate, warmup_s=0.0, step_time_s=10.0)
    bad.t0_ns = t0
    for r in records(rate, 1.0, service_ms=1.0, fail_every=1)[:2]:
        bad.add(r)
    assert "failed" in cap.certainly_over(bad, t0 + 30_000_000, slo, 0.1)


def test_a_stopped_step_never_passes():
    step = step_of(records(100, 5.0, service_ms=3.0), 100)
    doc = cap.judge(step, 100, 1.0, stopped_early="the server stopped answering")
    assert not doc["passed"] and doc["stopped_early"] and doc["why"].startswith("stopped early")


def search(plan, capacity):
    """Run the search against a server that meets the objective below `capacity`."""
    steps = []
    while (rate := cap.next_rate(plan, steps)) is not None:
        steps.append({"rate": rate, "passed": rate <= capacity})
    return steps, cap.outcome(steps)


@pytest.mark.parametrize("capacity", [73, 180, 555, 1234])
def test_the_search_brackets_the_capacity_within_its_resolution(capacity):
    plan = cap.SearchPlan(start_rate=50, max_rate=10_000, factor=2.0, resolution_pct=5.0)
    steps, out = search(plan, capacity)
    assert out["status"] == "found"
    assert out["lower"] <= capacity < out["upper"]
    assert out["upper"] <= out["lower"] * 1.05 + 1
    assert len(steps) <= 12, steps


def test_the_search_goes_down_when_the_first_rate_fails_and_says_censored_at_max_rate():
    plan = cap.SearchPlan(start_rate=400, max_rate=2000)
    steps, out = search(plan, 120)
    assert steps[0]["rate"] == 400 and steps[1]["rate"] == 200 and out["lower"] <= 120 < out["upper"]
    steps, out = search(plan, 10**6)
    assert out["status"] == "censored" and out["capacity"] == 2000 and "at least" in out["text"]
    steps, out = search(cap.SearchPlan(start_rate=4, max_rate=100, min_rate=1), 0.5)
    assert out["status"] == "none" and out["capacity"] is None


def test_a_noisy_lower_failure_is_reported_not_hidden():
    steps = [
        {"rate": 100, "passed": True},
        {"rate": 200, "passed": False},
        {"rate": 141, "passed": True},
        {"rate": 168, "passed": True},
        {"rate": 183, "passed": False},
        {"rate": 175, "passed": True},
        {"rate": 120, "passed": False},
    ]
    out = cap.outcome(steps)
    assert out["capacity"] == 175 and out["upper"] == 183 and out["inconsistent_failures"] == [120]


def test_two_clients_shares_merge_into_one_step_judged_on_the_whole():
    """Client A answers in 2 ms, client B in 60 ms for 2 % of its share: each alone would say different things;
    the merged step is judged on every request (p99 of the union), and rates and counts add up."""
    a = step_of(records(100, 5.0, service_ms=2.0), 100)
    b_recs = records(100, 5.0, service_ms=2.0)
    for r in b_recs[::50]:
        r.latency_ns = int(60e6)
    b = step_of(b_recs, 100)
    da, db = cap.judge(a, 50, 1.0), cap.judge(b, 50, 1.0)
    assert da["passed"] and not db["passed"]  # B alone: p99 60 ms
    merged = cap.merge([da, db], 50, 1.0)
    assert merged["rate"] == 200 and merged["planned"] == 800 and merged["answered"] == 800
    assert merged["achieved_rate"] == pytest.approx(200, rel=0.01) and merged["clients"] == 2
    # 8 slow of 800 = 1 %: the union's p99 is a fast request, so the whole step passes
    assert merged["latency_ms"]["p99"] < 2.1 and merged["passed"], merged["why"]
    assert merged["latency_ms"]["p99"] != max(da["latency_ms"]["p99"], db["latency_ms"]["p99"])
    assert merged["histogram"]["n"] == 800 and merged["latency_ms"]["max"] == 60.0
    stopped = cap.merge([da, cap.judge(b, 50, 1.0, stopped_early="B saw errors")], 50, 1.0)
    assert not stopped["passed"] and stopped["stopped_early"] and "B saw errors" in stopped["why"]


def test_progress_counts_add_up_across_clients_for_the_early_stop():
    """A share that alone has missed may not have missed the whole step: the decision takes every share's counts."""
    t0 = 1_000_000_000_000

    def share(seconds_answered):
        step = cap.Step(rate=50.0, warmup_s=0.0, step_time_s=10.0)
        step.t0_ns = t0
        for r in records(50, seconds_answered, service_ms=1.0):
            step.add(r)
        return step

    now = t0 + int(1.25e9)  # 1.25 s in, objective 50 ms: requests intended before 1.2 s are decided
    silent, answering = share(1.0), share(1.3)  # one client's answers stopped at 1.0 s
    counts = [cap.progress(silent, now, 50), cap.progress(answering, now, 50)]
    assert [c["slow"] for c in counts] == [10, 0] and [c["planned"] for c in counts] == [500, 500]
    assert "10 of 500" in cap.over(counts[:1], 50, 1.0)  # alone: 10 slow, 5 allowed
    assert cap.over(counts, 50, 1.0) == ""  # the whole step: 10 slow of 1000, 10 allowed
    counts[1]["slow"] = 1
    assert "11 of 1000" in cap.over(counts, 50, 1.0)


def test_the_cross_check_compares_medians_at_the_throughput_wrk_reached():
    steps = [
        {"rate": 50.0, "passed": True, "latency_ms": {"p50": 4.0}},
        {"rate": 100.0, "passed": True, "latency_ms": {"p50": 5.0}},
        {"rate": 200.0, "passed": True, "latency_ms": {"p50": 9.0}},
        {"rate": 400.0, "passed": False, "latency_ms": {"p50": 300.0}},
    ]
    wrk = {"rps": 150.0, "errors": 0, "non_2xx": 0, "latency_ms": {"p50": 7.5}}
    doc = cap.cross_check(steps, steps[1], 1, wrk)
    assert doc["open_rates"] == [100.0, 200.0] and doc["open_p50_ms"] == pytest.approx(7.0)
    assert doc["agree"] is True and doc["rate"] == 150.0
    far = cap.cross_check(steps, steps[1], 1, {**wrk, "latency_ms": {"p50": 12.0}})
    assert far["agree"] is False and "differ by more than max(1 ms, 25%)" in far["why"]
    assert "agree within max(1 ms, 25%)" in doc["why"]
    beyond = cap.cross_check(steps, steps[1], 4, {**wrk, "rps": 600.0})  # past the failing step: nearest pass
    assert beyond["open_rates"] == [200.0] and beyond["open_p50_ms"] == 9.0
    assert cap.cross_check(steps, steps[1], 1, {"rps": 0})["agree"] is None


def test_the_closed_loop_is_paced_to_the_steps_rate_by_littles_law():
    h = cap.Histogram()
    for _ in range(100):
        h.add(4000.0)  # 4 ms service
    step = {"rate": 100.0, "service_histogram": h.to_json()}
    connections, delay = cap.paced_for(step)
    # 2 x 100/s x 4 ms = 0.8 -> 1 connection, one request every 10 ms: 4 ms service + 6 ms delay
    assert (connections, delay) == (1, 6)
    connections, delay = cap.paced_for({**step, "rate": 1000.0})
    assert (
        connections == 8 and delay == 4 and connections / ((4 + delay) / 1000) == pytest.approx(800, rel=0.3)
    )


def test_a_search_without_steps_has_no_capacity():
    out = cap.outcome([])
    assert out["status"] == "none" and out["capacity"] is None and out["text"] == "no step was run"


def _hiccup(rate: float, miss: bool, slo_ms: float = 100) -> dict:
    """A judged step at `rate` (3 ms answers); with miss, one request more than its p99 allows took 150 ms."""
    step = step_of(records(rate, 5.0, service_ms=3.0), rate)
    slow = step.answered - math.ceil(0.99 * step.answered) + 1 if miss else 0
    for _ in range(slow):  # the slow ones replace as many fast ones in the histogram
        step.latency.counts[step.latency.bucket(3000.0)] -= 1
        step.latency.add(150_000.0)
    return cap.judge(step, slo_ms, 1.0)


def test_a_marginal_miss_at_the_top_of_the_bracket_is_tried_again_and_counts_pooled():
    plan = cap.SearchPlan(start_rate=100, max_rate=1000, resolution_pct=5.0)
    # 100 .. 161 passed; 200 was clearly over; 168 missed by a hair (one slow request more than a p99 allows)
    first = {**_hiccup(168, True), "label": "step-4"}
    steps = [
        {"rate": 100, "passed": True},
        {"rate": 200, "passed": False, "stopped_early": True},
        {"rate": 141, "passed": True},
        {"rate": 154, "passed": True},
        {"rate": 161, "passed": True},
        first,
    ]
    assert not first["passed"] and not first["stopped_early"]
    assert cap.next_rate(plan, steps) == 168  # resolved bracket [161, 168]: its failing top is measured again
    again = {**_hiccup(168, False), "label": "step-7"}  # the hiccup does not come back
    pooled = cap.pool([first, again], 100, 1.0)
    # the same slow requests among twice the requests: within what a p99 allows -> the rate met the objective
    assert pooled["passed"] and pooled["answered"] == first["answered"] + again["answered"]
    assert pooled["tries"] == ["step-4", "step-7"]
    assert pooled["latency_ms"]["p99"] < 100
    steps.append({**again, "pooled": pooled})
    assert cap.bounds(steps) == (168, 200)
    nxt = cap.next_rate(plan, steps)
    assert 168 < nxt < 200  # the search goes on above
    out = cap.outcome([*steps, {"rate": nxt, "passed": False, "stopped_early": True}])
    assert out["capacity"] == 168 and out["inconsistent_failures"] == []


def test_a_miss_that_comes_back_stays_a_miss_and_is_not_tried_a_third_time():
    plan = cap.SearchPlan(start_rate=100, max_rate=1000, resolution_pct=5.0)
    first = {**_hiccup(168, True), "label": "step-5"}
    again = {**_hiccup(168, True), "label": "step-6"}
    pooled = cap.pool([first, again], 100, 1.0)
    assert not pooled["passed"] and pooled["latency_ms"]["p99"] >= 150
    steps = [{"rate": 161, "passed": True}, first, {**again, "pooled": pooled}]
    assert cap.bounds(steps) == (161, 168) and cap.next_rate(plan, steps) is None
    assert cap.outcome(steps)["capacity"] == 161


def test_a_step_stopped_early_or_a_search_without_confirm_is_not_tried_again():
    steps = [{"rate": 161, "passed": True}, {"rate": 168, "passed": False, "stopped_early": True}]
    assert cap.next_rate(cap.SearchPlan(start_rate=100, max_rate=1000), steps) is None
    steps[1]["stopped_early"] = False
    assert cap.next_rate(cap.SearchPlan(start_rate=100, max_rate=1000), steps) == 168
    assert cap.next_rate(cap.SearchPlan(start_rate=100, max_rate=1000, confirm=False), steps) is None
    # a pool with a try stopped early fails, whatever the other says
    ok = {**_hiccup(168, False), "label": "a"}
    stopped = {**_hiccup(168, False), "label": "b", "stopped_early": True}
    assert not cap.pool([ok, stopped], 100, 1.0)["passed"]
