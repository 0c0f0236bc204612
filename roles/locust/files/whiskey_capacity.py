"""The capacity profile's logic (stdlib only; the driver side, on the clients): latency histograms that merge
exactly, one step's numbers from an open-model driver's per-request records, the rate search, and the rule that
stops a step early only when it has certainly missed the objective.

Latency is measured from each request's *intended* send time (the driver's schedule: t0 + seq / rate), not from
when the driver got round to sending it, so a server that stalls is charged for the requests that waited to be
sent (no coordinated omission). Histograms have 1 %-wide log buckets: a percentile is the upper edge of the bucket
holding the nearest-rank request, never more than 1 % above the true value, never below it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

BASE = 1.01  # bucket i holds latencies in (BASE**(i-1), BASE**i] microseconds; bucket 0 holds <= 1 us
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# The driver check (the driver alone against nginx's ping at the capacity's rate) is measured this many steps long:
# a step near the knee holds a few thousand requests on the lab, so its p99 is its ~40 slowest, and one stall of a
# shared host (tens of ms, measured with nothing else running) can decide it; twice the requests, as a confirmed
# step has, take two such stalls.
DRIVER_CHECK_STEPS = 2


class Histogram:
    """Counts of latencies (microseconds) in 1 %-wide log buckets; sums exactly across steps and clients."""

    def __init__(
        self, counts: dict[int, int] | None = None, max_us: float = 0.0, min_us: float | None = None
    ):
        self.counts: dict[int, int] = dict(counts or {})
        self.max_us = max_us
        self.min_us = min_us

    @staticmethod
    def bucket(us: float) -> int:
        if us <= 1.0:
            return 0
        i = math.ceil(math.log(us) / math.log(BASE))
        # guard the float edge: us must be <= BASE**i and > BASE**(i-1)
        while BASE ** (i - 1) >= us:
            i -= 1
        while BASE**i < us:
            i += 1
        return i

    def add(self, us: float, count: int = 1) -> None:
        i = self.bucket(us)
        self.counts[i] = self.counts.get(i, 0) + count
        self.max_us = max(self.max_us, us)
        self.min_us = us if self.min_us is None else min(self.min_us, us)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: Histogram) -> Histogram:
        out = Histogram(self.counts, max(self.max_us, other.max_us), self.min_us)
        for i, c in other.counts.items():
            out.counts[i] = out.counts.get(i, 0) + c
        if other.min_us is not None:
            out.min_us = other.min_us if out.min_us is None else min(out.min_us, other.min_us)
        return out

    def quantile_us(self, pct: float) -> float | None:
        """Nearest rank: the smallest bucket edge with at least ceil(pct/100 * n) requests at or below it."""
        n = self.n
        if n == 0:
            return None
        rank = max(1, math.ceil(pct / 100.0 * n - 1e-9))
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return min(BASE**i, self.max_us) if i else min(1.0, self.max_us)
        return self.max_us

    def mean_us(self) -> float | None:
        """The mean, each request at its bucket's geometric middle (within 0.5 %)."""
        n = self.n
        if n == 0:
            return None
        return sum(c * (BASE ** (i - 0.5) if i else 1.0) for i, c in self.counts.items()) / n

    def count_above(self, us: float) -> int:
        """Requests certainly slower than us (their whole bucket is above it)."""
        return sum(c for i, c in self.counts.items() if i and BASE ** (i - 1) >= us)

    def summary_ms(self) -> dict:
        out = {f"p{p:g}": _ms(self.quantile_us(p)) for p in PERCENTILES}
        out["max"] = _ms(self.max_us if self.n else None)
        return out

    def to_json(self) -> dict:
        return {
            "unit": "us",
            "base": BASE,
            "n": self.n,
            "max_us": round(self.max_us, 1),
            "min_us": None if self.min_us is None else round(self.min_us, 1),
            "counts": {str(i): c for i, c in sorted(self.counts.items())},
        }

    @classmethod
    def from_json(cls, doc: dict) -> Histogram:
        if doc.get("base", BASE) != BASE or doc.get("unit", "us") != "us":
            raise ValueError(f"histogram with base {doc.get('base')} {doc.get('unit')}: expected {BASE} us")
        return cls(
            {int(i): int(c) for i, c in doc.get("counts", {}).items()},
            float(doc.get("max_us", 0)),
            doc.get("min_us"),
        )


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)


@dataclass
class Record:
    """One request as the open-model driver reports it."""

    seq: int  # its place in the driver's schedule (0, 1, 2, ... at `rate` per second)
    sent_ns: int  # when it was sent (epoch ns)
    latency_ns: int  # from sending to the end of the answer
    ok: bool  # 2xx and no transport error


@dataclass
class Step:
    """One step of a search: a rate held for warmup_s (not counted) and then step_time_s (measured)."""

    rate: float
    warmup_s: float
    step_time_s: float
    t0_ns: int | None = None  # the schedule's start (seq 0's intended send time)
    latency: Histogram = field(default_factory=Histogram)  # from the intended send time, measured window only
    service: Histogram = field(default_factory=Histogram)  # from the actual send (what the driver saw)
    lag: Histogram = field(default_factory=Histogram)  # actual minus intended send: the driver's own lateness
    errors: int = 0
    answered: int = 0
    first_sent_ns: int | None = None
    last_sent_ns: int | None = None

    @property
    def planned(self) -> int:
        """Requests the schedule holds in the measured window."""
        return round(self.rate * self.step_time_s)

    def window_seq(self) -> tuple[int, int]:
        lo = math.ceil(self.rate * self.warmup_s - 1e-9)
        return lo, lo + self.planned

    def add(self, rec: Record) -> None:
        if self.t0_ns is None:
            raise ValueError("set t0_ns first (schedule_start)")
        lo, hi = self.window_seq()
        if not lo <= rec.seq < hi:
            return
        intended = self.t0_ns + rec.seq * 1e9 / self.rate
        lag_ns = max(0.0, rec.sent_ns - intended)
        self.answered += 1
        self.latency.add((lag_ns + rec.latency_ns) / 1000.0)
        self.service.add(rec.latency_ns / 1000.0)
        self.lag.add(lag_ns / 1000.0)
        if not rec.ok:
            self.errors += 1
        self.first_sent_ns = (
            rec.sent_ns if self.first_sent_ns is None else min(self.first_sent_ns, rec.sent_ns)
        )
        self.last_sent_ns = rec.sent_ns if self.last_sent_ns is None else max(self.last_sent_ns, rec.sent_ns)

    def achieved_rate(self) -> float | None:
        """Requests sent per second over the measured window, from the actual send times."""
        if self.answered < 2 or self.first_sent_ns is None or self.last_sent_ns == self.first_sent_ns:
            return None
        return (self.answered - 1) / ((self.last_sent_ns - self.first_sent_ns) / 1e9)

    def unanswered(self) -> int:
        return max(0, self.planned - self.answered)

    def error_pct(self) -> float:
        """Failed plus unanswered requests, as a percentage of the window's planned requests."""
        return 100.0 * (self.errors + self.unanswered()) / self.planned if self.planned else 0.0


def schedule_start(records: Iterable[Record], rate: float) -> int:
    """The schedule's start: the latest t0 at which no request was sent before its intended time."""
    return int(min(r.sent_ns - r.seq * 1e9 / rate for r in records))


def progress(step: Step, now_ns: int, slo_p99_ms: float) -> dict:
    """What is already decided about a step (or one client's share of it) at now_ns: its planned requests, the
    failed answers, and the requests certainly slower than the objective — answered slower, or intended more than
    the objective ago and not answered yet (whatever their answer, it is late). Counts add up across clients."""
    if step.t0_ns is None or step.planned == 0:
        return {"planned": step.planned, "errors": step.errors, "slow": 0}
    lo, hi = step.window_seq()
    due_by = (now_ns - slo_p99_ms * 1e6 - step.t0_ns) * step.rate / 1e9
    due = max(0, min(hi, math.floor(due_by)) - lo)
    late_unanswered = max(0, due - step.answered)
    slow = step.latency.count_above(slo_p99_ms * 1000.0) + late_unanswered
    return {"planned": step.planned, "errors": step.errors, "slow": slow}


def over(counts: list[dict], slo_p99_ms: float, slo_error_pct: float) -> str:
    """Why the step whose shares have these progress counts has certainly missed the objective ('' while it may
    still pass)."""
    planned = sum(c["planned"] for c in counts)
    errors = sum(c["errors"] for c in counts)
    slow = sum(c["slow"] for c in counts)
    if planned == 0:
        return ""
    if errors > slo_error_pct / 100.0 * planned:
        return f"{errors} of {planned} planned requests failed (objective <= {slo_error_pct:g} %)"
    allowed_slow = planned - math.ceil(0.99 * planned - 1e-9)
    if slow > allowed_slow:
        return (
            f"{slow} of {planned} planned requests took longer than {slo_p99_ms:g} ms "
            f"(p99 objective allows {allowed_slow})"
        )
    return ""


def certainly_over(step: Step, now_ns: int, slo_p99_ms: float, slo_error_pct: float) -> str:
    """over() of one client's whole step."""
    if step.t0_ns is None:
        return ""
    return over([progress(step, now_ns, slo_p99_ms)], slo_p99_ms, slo_error_pct)


def verdict(
    p99_us: float | None, err: float, answered: int, slo_p99_ms, slo_error_pct, stopped_early: str | bool = ""
) -> tuple[bool, str]:
    """The step rule, the one both the driver and the report apply: not stopped early, something answered,
    errors (failed + unanswered, % of planned) within slo_error_pct, p99 within slo_p99_ms."""
    p99 = p99_us
    if stopped_early:
        return False, "stopped early" if stopped_early is True else f"stopped early: {stopped_early}"
    if answered == 0:
        return False, "no request was answered"
    if err > slo_error_pct:
        return False, f"errors {err:.3g} % > {slo_error_pct:g} %"
    if p99 is None or p99 / 1000.0 > slo_p99_ms:
        return False, f"p99 {_ms(p99)} ms > {slo_p99_ms:g} ms"
    return True, f"p99 {_ms(p99)} ms <= {slo_p99_ms:g} ms, errors {err:.3g} %"


def _doc(
    rate, achieved, planned, answered, errors, latency, service, lag, passed, why, stopped_early
) -> dict:
    unanswered = max(0, planned - answered)
    return {
        "rate": rate,
        "achieved_rate": None if achieved is None else round(achieved, 2),
        "planned": planned,
        "answered": answered,
        "errors": errors,
        "unanswered": unanswered,
        "error_pct": round(100.0 * (errors + unanswered) / planned, 4) if planned else 0.0,
        "latency_ms": latency.summary_ms(),
        "service_ms": service.summary_ms(),
        "send_lag_ms": lag.summary_ms(),
        "passed": passed,
        "why": why,
        "stopped_early": bool(stopped_early),
        "histogram": latency.to_json(),
        "service_histogram": service.to_json(),
        "send_lag_histogram": lag.to_json(),
    }


def judge(step: Step, slo_p99_ms: float, slo_error_pct: float, stopped_early: str = "") -> dict:
    """The step's numbers and whether it met the objective."""
    passed, why = verdict(
        step.latency.quantile_us(99.0),
        step.error_pct(),
        step.answered,
        slo_p99_ms,
        slo_error_pct,
        stopped_early,
    )
    return _doc(step.rate, step.achieved_rate(), step.planned, step.answered, step.errors, step.latency,
                step.service, step.lag, passed, why, stopped_early)  # fmt: skip


def merge(shares: list[dict], slo_p99_ms: float, slo_error_pct: float, stopped_early: str = "") -> dict:
    """One step from every client's share of it (each a judge() document): the histograms summed bucket by
    bucket, the counts and achieved rates summed, and the objective judged on the whole — never a maximum of
    percentiles."""
    if not shares:
        raise ValueError("no share to merge")
    hist = {key: Histogram() for key in ("histogram", "service_histogram", "send_lag_histogram")}
    for share in shares:
        for key in hist:
            hist[key] = hist[key].merge(Histogram.from_json(share[key]))
    planned = sum(s["planned"] for s in shares)
    answered = sum(s["answered"] for s in shares)
    errors = sum(s["errors"] for s in shares)
    rates = [s["achieved_rate"] for s in shares]
    achieved = sum(rates) if all(r is not None for r in rates) else None
    err = 100.0 * (errors + max(0, planned - answered)) / planned if planned else 0.0
    stopped = stopped_early or "; ".join(
        s["why"][len("stopped early: ") :] for s in shares if s["stopped_early"]
    )
    passed, why = verdict(
        hist["histogram"].quantile_us(99.0), err, answered, slo_p99_ms, slo_error_pct, stopped
    )
    doc = _doc(sum(s["rate"] for s in shares), achieved, planned, answered, errors, hist["histogram"],
               hist["service_histogram"], hist["send_lag_histogram"], passed, why, stopped)  # fmt: skip
    doc["clients"] = len(shares)
    return doc


def pool(tries: list[dict], slo_p99_ms: float, slo_error_pct: float) -> dict:
    """One verdict from several tries of one rate, as if they were one step as long as all of them: their
    histograms and counts summed, the objective judged on every request (a try stopped early fails the pool).
    Each try is a judge()/merge() document (its "histogram" as JSON) or the report's reading of one (its "hist")."""
    if not tries:
        raise ValueError("no try to pool")
    hist = Histogram()
    for t in tries:
        hist = hist.merge(t["hist"] if "hist" in t else Histogram.from_json(t["histogram"]))
    planned = sum(t["planned"] for t in tries)
    answered = sum(t["answered"] for t in tries)
    errors = sum(t["errors"] for t in tries)
    err = 100.0 * (errors + max(0, planned - answered)) / planned if planned else 0.0
    stopped = "; ".join(f"{t['label']} stopped early" for t in tries if t["stopped_early"])
    passed, why = verdict(hist.quantile_us(99.0), err, answered, slo_p99_ms, slo_error_pct, stopped)
    return {
        "tries": [t["label"] for t in tries],
        "passed": passed,
        "why": why,
        "planned": planned,
        "answered": answered,
        "errors": errors,
        "error_pct": round(err, 4),
        "latency_ms": hist.summary_ms(),
    }


def verdicts(steps: list[dict]) -> dict[float, bool]:
    """Whether each rate tried met the objective: a rate tried again (the search's confirmation) counts by its
    tries pooled (the later try's "pooled"), any other by its one step."""
    out: dict[float, bool] = {}
    for s in steps:
        pooled = s.get("pooled")
        out[s["rate"]] = pooled["passed"] if isinstance(pooled, dict) else s["passed"]
    return out


def confirms(plan: SearchPlan, steps: list[dict], rate: float) -> bool:
    """Whether `rate`, the failing top of a resolved bracket, is measured once more: it was tried once, and it
    failed without being stopped early (a marginal miss, which one hiccup of a shared host can cause; a step
    stopped early has certainly missed)."""
    tries = [s for s in steps if s["rate"] == rate]
    return plan.confirm and len(tries) == 1 and not tries[0]["passed"] and not tries[0].get("stopped_early")


@dataclass
class SearchPlan:
    """Step the rate up geometrically from start_rate until a step misses the objective, then bisect (geometric
    midpoints) until the highest passing and lowest failing rates are within resolution_pct of each other. With
    confirm, the failing rate of that bracket is tried once more when it missed only marginally (not stopped
    early), and counts by both tries pooled: a step twice as long where the answer is decided (its p99 rests on
    twice the requests), so one hiccup does not move the capacity a grid step down."""

    start_rate: float
    max_rate: float
    factor: float = 2.0
    resolution_pct: float = 5.0
    min_rate: float = 1.0
    max_steps: int = 20
    confirm: bool = True


def next_rate(plan: SearchPlan, steps: list[dict]) -> float | None:
    """The next rate to try after steps (each {'rate', 'passed'}), or None when the search is over."""
    if len(steps) >= plan.max_steps:
        return None
    if not steps:
        return float(round(plan.start_rate))
    lo, hi = bounds(steps)
    if hi is None:  # nothing failed above the best pass yet: go up
        if lo >= plan.max_rate:
            return None
        return float(min(round(lo * plan.factor), round(plan.max_rate)))
    if lo == 0:  # even the lowest rate tried failed: go down
        down = float(round(hi / plan.factor))
        return down if down >= plan.min_rate and down < hi else None
    if hi <= lo * (1 + plan.resolution_pct / 100.0):
        return float(hi) if confirms(plan, steps, hi) else None
    mid = float(round(math.sqrt(lo * hi)))
    return mid if lo < mid < hi else None


def bounds(steps: list[dict]) -> tuple[float, float | None]:
    """(highest passing rate or 0, lowest failing rate above it or None), each rate by verdicts()."""
    v = verdicts(steps)
    lo = max((r for r, ok in v.items() if ok), default=0.0)
    hi = min((r for r, ok in v.items() if not ok and r > lo), default=None)
    return lo, hi


def outcome(steps: list[dict]) -> dict:
    """The search's answer: the highest rate that met the objective, the rate that did not, and what to say."""
    lo, hi = bounds(steps)
    inconsistent = sorted(r for r, ok in verdicts(steps).items() if not ok and r < lo)
    if not steps:
        status, text = "none", "no step was run"
    elif lo == 0:
        status, text = (
            "none",
            f"no rate tried met the objective (lowest tried {min(s['rate'] for s in steps):g}/s)",
        )
    elif hi is None:
        status, text = "censored", f"met the objective up to max_rate {lo:g}/s: the capacity is at least that"
    else:
        status, text = "found", f"{lo:g}/s met the objective, {hi:g}/s did not"
    return {
        "capacity": lo or None,
        "lower": lo or None,
        "upper": hi,
        "status": status,
        "text": text,
        # a lower rate that failed after a higher one passed: the search's answer rests on noisy steps
        "inconsistent_failures": inconsistent,
        "steps": len(steps),
    }


CROSS_CHECK_TOLERANCE = (0.25, 1.0)  # medians agree within 25 % of the open-model median, or 1 ms


def cross_check_point(steps: list[dict], capacity: float | None) -> dict | None:
    """The step to cross-check with a closed-loop tool: the highest passing step at no more than half the
    capacity (well below the knee, where both models should see the same service), else the lowest passing one."""
    passing = [s for s in steps if s["passed"] and s.get("answered")]
    if not capacity or not passing:
        return None
    below = [s for s in passing if s["rate"] <= capacity / 2]
    return max(below, key=lambda s: s["rate"]) if below else min(passing, key=lambda s: s["rate"])


def paced_for(step: dict) -> tuple[int, int]:
    """(connections, delay ms) with which a closed loop carries the step's rate: each connection sends one request
    per (mean service time + delay), so rate = connections / (service + delay) (Little's law). Twice the
    connections the service alone needs, so that at least half of each cycle is the delay (whole ms in wrk)."""
    mean_s = (Histogram.from_json(step["service_histogram"]).mean_us() or 0.0) / 1e6
    rate = step["rate"]
    connections = max(1, math.ceil(2 * rate * mean_s))
    return connections, max(0, round((connections / rate - mean_s) * 1000))


def open_p50_at(steps: list[dict], rate: float) -> tuple[float | None, list[float]]:
    """The open model's median at `rate`, interpolated linearly between the passing steps around it (the rates
    used); outside them, the nearest passing step's."""
    points = sorted(
        (s["rate"], s["latency_ms"]["p50"]) for s in steps if s["passed"] and s["latency_ms"]["p50"]
    )
    if not points:
        return None, []
    below = [p for p in points if p[0] <= rate]
    above = [p for p in points if p[0] >= rate]
    if below and above:
        (r0, m0), (r1, m1) = below[-1], above[0]
        if r1 == r0:
            return m0, [r0]
        return m0 + (m1 - m0) * (rate - r0) / (r1 - r0), [r0, r1]
    r, m = below[-1] if below else above[0]
    return m, [r]


def cross_check(steps: list[dict], point: dict, connections: int, wrk: dict, delay_ms: int = 0) -> dict:
    """Compare a closed loop's median (wrk paced to about `point`'s rate: paced_for) with the open model's median
    at the throughput wrk actually reached (a closed loop is paced, not held to a rate)."""
    closed_rps = wrk.get("rps") or 0.0
    closed_p50 = (wrk.get("latency_ms") or {}).get("p50")
    open_p50, used = open_p50_at(steps, closed_rps)
    rel, floor = CROSS_CHECK_TOLERANCE
    agree = None
    if open_p50 is not None and closed_p50 is not None and closed_rps > 0:
        agree = abs(closed_p50 - open_p50) <= max(floor, rel * open_p50)
    open_text = "" if open_p50 is None else f"{open_p50:.3g} ms (open, at {closed_rps:.0f}/s from {used})"
    return {
        "tool": "wrk",
        "point_rate": point["rate"],
        "connections": connections,
        "delay_ms": delay_ms,
        "rate": round(closed_rps, 2),
        "closed_rps": round(closed_rps, 2),
        "closed_p50_ms": closed_p50,
        "closed_errors": (wrk.get("errors") or 0) + (wrk.get("non_2xx") or 0),
        "open_p50_ms": None if open_p50 is None else round(open_p50, 3),
        "open_rates": used,
        "tolerance": {"relative": rel, "ms": floor},
        "agree": agree,
        "why": (
            "no median to compare"
            if agree is None
            else f"medians {closed_p50:g} ms (wrk, {connections} connections, {delay_ms} ms apart, "
            f"{closed_rps:.0f}/s) and "
            f"{open_text} {'agree within' if agree else 'differ by more than'} max({floor:g} ms, {rel:.0%})"
        ),
    }
