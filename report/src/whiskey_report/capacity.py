"""The capacity profile's results: read and check capacity.json, merge several clients' files of one run.

This module is the one reader of capacity.json (docs/results-format.md), written by the open-model driver
(roles/locust/files/whiskey_load.py `capacity`, logic in whiskey_capacity.py): a search of rates, each step a rate
held for step_warmup_s (not counted) and step_time_s (measured), latency measured from each request's intended
send time, in a histogram of 1 %-wide log buckets (bucket i holds (1.01**(i-1), 1.01**i] microseconds).

Checks (each failure is a `problem`, which the verdict turns into an invalid run, kind `results`):
  the histogram's unit is "us" and base 1.01; its counts are integers >= 0 summing to its n; n == answered;
  answered + unanswered == planned; errors <= answered; every step's rate > 0; the p99 of latency_ms is the
  nearest-rank p99 of the histogram (within 1 % or 1 us); a step marked passed meets the objective (p99 <=
  slo_p99_ms, error_pct <= slo_error_pct, not stopped early); result.capacity == the highest passing rate,
  result.upper == the lowest failing rate above it, and result.status agrees (none: nothing passed; censored:
  nothing failed above the capacity; found otherwise).

Several clients (RUN_DIR/clients/<host>/capacity.json): each client offered its own rate at the same time, so
the run's step is the clients' steps of the same label added up EXACTLY: histograms summed bucket by bucket,
planned / answered / errors / unanswered summed, rate and achieved rate summed; the percentiles are recomputed
from the merged histogram (nearest rank), never the max or the mean of the clients' percentiles; whether the
merged step met the objective is decided again on the merged numbers, and so is the result (the highest merged
rate that met it). Steps are matched by label; a label that some client lacks, clients whose searches tried
different rates at one label, or different objectives, are problems.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

# The driver's own module (capacity_driver.py is a symlink to roles/locust/files/whiskey_capacity.py, the file the
# clients run): one bucket math, one percentile rule and one search rule for the writer and this reader.
from whiskey_report import capacity_driver as driver

BASE = driver.BASE
Histogram = driver.Histogram
P99_TOLERANCE = 0.01  # latency_ms.p99 vs the histogram's own p99


class CapacityError(Exception):
    """capacity.json cannot be read at all (missing, not JSON, not an object)."""


def _num(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def read_histogram(doc, where: str, problems: list[str]) -> Histogram | None:
    if not isinstance(doc, dict):
        problems.append(f"{where}: no histogram")
        return None
    if doc.get("unit") != "us" or _num(doc.get("base")) != BASE:
        problems.append(
            f"{where}: histogram with unit {doc.get('unit')!r} and base {doc.get('base')!r} "
            f"(expected 'us' and {BASE}): its buckets cannot be read"
        )
        return None
    counts: dict[int, int] = {}
    raw = doc.get("counts")
    if not isinstance(raw, dict):
        problems.append(f"{where}: histogram has no counts")
        return None
    for key, value in raw.items():
        try:
            i = int(key)
        except (TypeError, ValueError):
            problems.append(f"{where}: histogram bucket {key!r} is not an integer")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{where}: histogram bucket {key} holds {value!r}, not a count >= 0")
            return None
        counts[i] = value
    n = doc.get("n")
    hist = Histogram(counts, _num(doc.get("max_us")) or 0.0, _num(doc.get("min_us")))
    if not isinstance(n, int) or isinstance(n, bool) or n != hist.n:
        problems.append(f"{where}: histogram counts sum to {hist.n}, its n says {n!r}")
    return hist


@dataclass
class Step:
    label: str
    rate: float
    achieved_rate: float | None
    planned: int
    answered: int
    errors: int
    unanswered: int
    error_pct: float
    latency_ms: dict
    passed: bool
    why: str
    stopped_early: bool
    start_epoch: float | None
    end_epoch: float | None
    seconds: float | None
    hist: Histogram | None = None
    service_ms: dict = field(default_factory=dict)
    send_lag_ms: dict = field(default_factory=dict)
    # A rate tried again (the search's confirmation of a marginal miss): the driver's verdict on every try of it
    # pooled, as recorded, and this reader's own (pool_tries), which is the one that counts.
    recorded_pooled: dict | None = None
    pooled: dict | None = None

    @property
    def p99(self) -> float | None:
        return _num(self.latency_ms.get("p99"))

    @property
    def p50(self) -> float | None:
        return _num(self.latency_ms.get("p50"))

    def rate_miss_pct(self) -> float | None:
        """How far the achieved rate fell short of (or overshot) the rate, % of the rate."""
        if self.achieved_rate is None or not self.rate:
            return None
        return 100.0 * abs(self.achieved_rate - self.rate) / self.rate

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "rate": self.rate,
            "achieved_rate": self.achieved_rate,
            "planned": self.planned,
            "answered": self.answered,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "error_pct": self.error_pct,
            "latency_ms": self.latency_ms,
            "passed": self.passed,
            "why": self.why,
            "stopped_early": self.stopped_early,
            "start_epoch": self.start_epoch,
            "end_epoch": self.end_epoch,
        }


def _int(doc: dict, key: str, where: str, problems: list[str]) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{where}: {key} is {value!r}, not a count >= 0")
        return 0
    return value


def read_step(doc, where: str, problems: list[str]) -> Step | None:
    if not isinstance(doc, dict):
        problems.append(f"{where} is not an object")
        return None
    label = str(doc.get("label") or where)
    where = f"{where} ({label})" if doc.get("label") else where
    rate = _num(doc.get("rate"))
    if rate is None or rate <= 0:
        problems.append(f"{where}: rate is {doc.get('rate')!r}, not > 0")
        rate = 0.0
    lat = doc.get("latency_ms") if isinstance(doc.get("latency_ms"), dict) else {}
    planned = _int(doc, "planned", where, problems)
    answered = _int(doc, "answered", where, problems)
    errors = _int(doc, "errors", where, problems)
    unanswered = _int(doc, "unanswered", where, problems)
    if answered + unanswered != planned:
        problems.append(f"{where}: {answered} answered + {unanswered} unanswered != {planned} planned")
    if errors > answered:
        problems.append(f"{where}: {errors} errors of {answered} answered requests")
    hist = read_histogram(doc.get("histogram"), where, problems)
    if hist is not None:
        if hist.n != answered:
            problems.append(f"{where}: the histogram holds {hist.n} requests, {answered} were answered")
        p99, mine = _num(lat.get("p99")), hist.quantile_us(99.0)
        if mine is not None and (p99 is None or abs(p99 * 1000.0 - mine) > max(1.0, P99_TOLERANCE * mine)):
            problems.append(
                f"{where}: latency_ms.p99 is {lat.get('p99')!r}, the histogram's p99 {mine / 1000.0:.3f} ms"
            )
    error_pct = _num(doc.get("error_pct"))
    if error_pct is None:
        error_pct = 100.0 * (errors + unanswered) / planned if planned else 0.0
    return Step(
        label,
        rate,
        _num(doc.get("achieved_rate")),
        planned,
        answered,
        errors,
        unanswered,
        error_pct,
        {k: _num(v) for k, v in lat.items()},
        doc.get("passed") is True,
        str(doc.get("why") or ""),
        doc.get("stopped_early") is True,
        _num(doc.get("start_epoch")),
        _num(doc.get("end_epoch")),
        _num(doc.get("seconds")),
        hist,
        doc.get("service_ms") if isinstance(doc.get("service_ms"), dict) else {},
        doc.get("send_lag_ms") if isinstance(doc.get("send_lag_ms"), dict) else {},
        doc.get("pooled") if isinstance(doc.get("pooled"), dict) else None,
    )


def meets(step: Step, slo_p99_ms: float, slo_error_pct: float) -> tuple[bool, str]:
    """Whether a step met the objective: the driver's own rule (driver.verdict), on the step's histogram (its
    recorded p99 when it has none)."""
    if step.hist is not None:
        p99_us = step.hist.quantile_us(99.0)
    else:
        p99_us = None if step.p99 is None else step.p99 * 1000.0
    return driver.verdict(
        p99_us, step.error_pct, step.answered, slo_p99_ms, slo_error_pct, step.stopped_early
    )


def pool_tries(
    steps: list[Step], slo_p99_ms: float, slo_error_pct: float, where: str, problems: list[str]
) -> None:
    """Each step at a rate tried before gets the verdict of all its tries pooled (driver.pool: summed histograms
    and counts, judged on every request), and the driver's recorded pooled verdict must be the same."""
    for i, step in enumerate(steps):
        earlier = [s for s in steps[:i] if s.rate == step.rate]
        if not earlier:
            if step.recorded_pooled is not None:
                problems.append(
                    f"{where} {step.label}: records a pooled verdict, but no earlier try of {step.rate:g}/s"
                )
            continue
        tries = [*earlier, step]
        if any(t.hist is None for t in tries):
            problems.append(
                f"{where} {step.label}: a try of {step.rate:g}/s has no histogram: cannot be pooled"
            )
            continue
        step.pooled = driver.pool(
            [
                {
                    "label": t.label,
                    "planned": t.planned,
                    "answered": t.answered,
                    "errors": t.errors,
                    "stopped_early": t.stopped_early,
                    "hist": t.hist,
                }
                for t in tries
            ],
            slo_p99_ms,
            slo_error_pct,
        )
        recorded = step.recorded_pooled
        if recorded is not None and recorded.get("passed") is not step.pooled["passed"]:
            problems.append(
                f"{where} {step.label}: the driver pooled {', '.join(step.pooled['tries'])} as "
                f"passed={recorded.get('passed')!r}, their histograms say {step.pooled['why']}"
            )


def outcome(steps: list[Step]) -> dict:
    """The search's answer from its steps, by the driver's own rule (whiskey_capacity.outcome): the highest passing
    rate (a rate tried twice counts by its tries pooled), the lowest failing rate above it, and found / censored /
    none."""
    doc = driver.outcome([{"rate": s.rate, "passed": s.passed, "pooled": s.pooled} for s in steps])
    return {k: doc[k] for k in ("capacity", "lower", "upper", "status", "inconsistent_failures")}


@dataclass
class Capacity:
    """One run's capacity search (one client's file, or several clients' merged)."""

    settings: dict
    steps: list[Step]
    capacity: float | None
    lower: float | None
    upper: float | None
    status: str  # found | censored | none
    text: str
    inconsistent_failures: list[float]
    driver_check: Step | None
    error: str | None
    problems: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    missing_check: list[str] = field(default_factory=list)  # clients without a driver check
    # A client's share of a search run from several clients together (capacity.json "clients" > 1): its steps'
    # passed/why and its result are the whole search's, checked only once the shares are merged.
    share_of: int = 1
    recorded: dict | None = None
    # wrk (closed loop) at a step below the knee, from the leading client: {rate, open_p50_ms, closed_p50_ms,
    # closed_rps, connections, agree, why} as the driver wrote it
    cross_check: dict | None = None

    @property
    def slo_p99_ms(self) -> float | None:
        return _num(self.settings.get("slo_p99_ms"))

    @property
    def slo_error_pct(self) -> float | None:
        return _num(self.settings.get("slo_error_pct"))

    @property
    def max_rate(self) -> float | None:
        return _num(self.settings.get("max_rate"))

    @property
    def capacity_step(self) -> Step | None:
        """The last step at the capacity's rate: the one whose verdict (alone, or with its earlier tries pooled) made
        that rate the capacity (driver.verdicts: a rate counts by its last try)."""
        if self.capacity is None:
            return None
        at = [s for s in self.steps if s.rate == self.capacity]
        return at[-1] if at else None

    @property
    def capacity_latency_ms(self) -> dict | None:
        """The latency at the capacity: of its step, or of all its tries pooled when it was tried again."""
        step = self.capacity_step
        if step is None:
            return None
        return step.pooled["latency_ms"] if step.pooled else step.latency_ms

    def curve(self) -> list[dict]:
        """rate -> p50 / p99 / passed / stopped_early, by rate (the search's order is not kept)."""
        return [
            {
                "rate": s.rate,
                "p50_ms": s.p50,
                "p99_ms": s.p99,
                "passed": s.passed,
                "stopped_early": s.stopped_early,
            }
            for s in sorted(self.steps, key=lambda s: s.rate)
        ]

    def summary(self) -> dict:
        step = self.capacity_step
        check = self.driver_check
        return {
            "capacity": self.capacity,
            "lower": self.lower,
            "upper": self.upper,
            "status": self.status,
            "text": self.text,
            "slo_p99_ms": self.slo_p99_ms,
            "slo_error_pct": self.slo_error_pct,
            "max_rate": self.max_rate,
            "clients": len(self.clients) or 1,
            "latency_ms": self.capacity_latency_ms,
            "pooled": step.pooled["tries"] if step and step.pooled else None,
            "window": {"start_epoch": step.start_epoch, "end_epoch": step.end_epoch} if step else None,
            "curve": self.curve(),
            "driver_check": None
            if check is None
            else {"rate": check.rate, "achieved_rate": check.achieved_rate, "p99_ms": check.p99},
            "cross_check": self.cross_check,
        }


def _describe(status: str, lo, hi, steps: list[Step]) -> str:
    if status == "none":
        lowest = min((s.rate for s in steps), default=None)
        return f"no rate tried met the objective (lowest tried {lowest:g}/s)" if steps else "no step"
    if status == "censored":
        return f"met the objective up to max_rate {lo:g}/s: the capacity is at least that"
    return f"{lo:g}/s met the objective, {hi:g}/s did not"


def read_capacity(path: Path, who: str = "") -> Capacity:
    """One capacity.json, checked; CapacityError when it cannot be read at all."""
    path = Path(path)
    name = f"{who}: capacity.json" if who else "capacity.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CapacityError(f"unreadable {name}: {exc}") from exc
    if not isinstance(doc, dict):
        raise CapacityError(f"{name} is not a JSON object")
    problems: list[str] = []
    settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
    slo, slo_err = _num(settings.get("slo_p99_ms")), _num(settings.get("slo_error_pct"))
    if slo is None or slo <= 0 or slo_err is None or slo_err < 0:
        problems.append(f"{name}: settings hold no objective (slo_p99_ms {settings.get('slo_p99_ms')!r})")
    raw_steps = doc.get("steps") if isinstance(doc.get("steps"), list) else []
    share_of = int(_num(doc.get("clients")) or 1)
    steps = []
    for i, raw in enumerate(raw_steps):
        step = read_step(raw, f"{name} step {i + 1}", problems)
        if step is None:
            continue
        if share_of > 1 and slo is not None and slo_err is not None:
            step.passed, step.why = meets(
                step, slo, slo_err
            )  # the share alone; the merge decides for the run
        elif step.passed and slo is not None and slo_err is not None and not meets(step, slo, slo_err)[0]:
            problems.append(
                f"{name} step {i + 1} ({step.label}) is marked passed, but {meets(step, slo, slo_err)[1]}"
            )
        steps.append(step)
    labels = [s.label for s in steps]
    if len(set(labels)) != len(labels):
        problems.append(f"{name}: step labels repeat ({', '.join(labels)})")
    if share_of == 1 and slo is not None and slo_err is not None:
        pool_tries(steps, slo, slo_err, name, problems)
    mine = outcome(steps)
    result = doc.get("result") if isinstance(doc.get("result"), dict) else None
    if steps and result is None:
        problems.append(f"{name} has steps but no result")
    if result is not None and share_of == 1:
        have_cap, have_up = _num(result.get("capacity")), _num(result.get("upper"))
        if have_cap != mine["capacity"]:
            problems.append(
                f"{name}: result.capacity is {result.get('capacity')!r}, the highest passing rate of its steps "
                f"{mine['capacity']!r}"
            )
        if have_up != mine["upper"]:
            problems.append(
                f"{name}: result.upper is {result.get('upper')!r}, the lowest failing rate above the capacity "
                f"{mine['upper']!r}"
            )
        if result.get("status") != mine["status"]:
            problems.append(
                f"{name}: result.status is {result.get('status')!r}, its steps say {mine['status']!r}"
            )
    check = None
    if doc.get("driver_check") is not None:
        check = read_step(doc["driver_check"], f"{name} driver_check", problems)
    error = doc.get("error")
    return Capacity(
        settings,
        steps,
        mine["capacity"],
        mine["lower"],
        mine["upper"],
        mine["status"],
        (result or {}).get("text") or _describe(mine["status"], mine["lower"], mine["upper"], steps),
        mine["inconsistent_failures"],
        check,
        None if error in (None, "") else " ".join(str(error).split()),
        problems,
        [who] if who else [],
        [] if check is not None or mine["capacity"] is None else [who or "client"],
        share_of,
        result,
        doc.get("cross_check") if isinstance(doc.get("cross_check"), dict) else None,
    )


def merge_steps(steps: list[Step], slo_p99_ms: float | None, slo_error_pct: float | None) -> Step:
    """The clients' steps of one label as one: counts and rates summed, percentiles of the summed histogram."""
    hist = None
    if all(s.hist is not None for s in steps):
        hist = steps[0].hist
        for s in steps[1:]:
            hist = hist.merge(s.hist)
    planned = sum(s.planned for s in steps)
    errors = sum(s.errors for s in steps)
    unanswered = sum(s.unanswered for s in steps)
    achieved = [s.achieved_rate for s in steps]
    starts = [s.start_epoch for s in steps if s.start_epoch is not None]
    ends = [s.end_epoch for s in steps if s.end_epoch is not None]
    out = Step(
        steps[0].label,
        sum(s.rate for s in steps),
        None if any(a is None for a in achieved) else round(sum(achieved), 2),
        planned,
        sum(s.answered for s in steps),
        errors,
        unanswered,
        round(100.0 * (errors + unanswered) / planned, 4) if planned else 0.0,
        hist.summary_ms() if hist is not None else {},
        False,
        "",
        any(s.stopped_early for s in steps),
        min(starts) if starts else None,
        max(ends) if ends else None,
        max((s.seconds or 0.0 for s in steps), default=None),
        hist,
    )
    if slo_p99_ms is not None and slo_error_pct is not None:
        out.passed, out.why = meets(out, slo_p99_ms, slo_error_pct)
    return out


def merge(parts: list[Capacity]) -> Capacity:
    """Several clients' searches of one run as one (see the module docstring)."""
    if len(parts) == 1:
        return parts[0]
    problems = [p for c in parts for p in c.problems]
    names = [c.clients[0] if c.clients else f"client {i + 1}" for i, c in enumerate(parts)]
    objective = {(c.slo_p99_ms, c.slo_error_pct) for c in parts}
    if len(objective) > 1:
        problems.append(f"the clients' objectives differ ({sorted(objective, key=str)}): not merged as one")
    slo, slo_err = parts[0].slo_p99_ms, parts[0].slo_error_pct
    labels = list(dict.fromkeys(s.label for c in parts for s in c.steps))
    steps = []
    for label in labels:
        have = {n: s for n, c in zip(names, parts, strict=True) for s in c.steps if s.label == label}
        missing = [n for n in names if n not in have]
        if missing:
            problems.append(
                f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no {label}: not merged"
            )
            continue
        rates = {n: s.rate for n, s in have.items()}
        if len(set(rates.values())) > 1:
            problems.append(
                f"the clients' searches diverged at {label} ("
                + ", ".join(f"{n} {r:g}/s" for n, r in rates.items())
                + "): their sum is no step of one search"
            )
        merged = merge_steps(list(have.values()), slo, slo_err)
        merged.recorded_pooled = next((s.recorded_pooled for s in have.values() if s.recorded_pooled), None)
        steps.append(merged)
    if slo is not None and slo_err is not None:
        pool_tries(steps, slo, slo_err, "the clients' merged", problems)
    mine = outcome(steps)
    # A search run together (one leader, its followers): what the leader decided must be what the merged steps say.
    for n, c in zip(names, parts, strict=True):
        if c.share_of > 1 and c.recorded is not None and _num(c.recorded.get("capacity")) != mine["capacity"]:
            problems.append(
                f"{n}: the search recorded capacity {c.recorded.get('capacity')!r}, the clients' merged steps "
                f"say {mine['capacity']!r}"
            )
        if c.share_of > 1 and c.share_of != len(parts):
            problems.append(f"{n}: its search ran on {c.share_of} clients, {len(parts)} files were found")
    checks = [c.driver_check for c in parts]
    settings = dict(parts[0].settings)
    mr = [c.max_rate for c in parts]
    if all(m is not None for m in mr):
        settings["max_rate"] = sum(mr)
    errors = [f"{n}: {c.error}" for n, c in zip(names, parts, strict=True) if c.error]
    return Capacity(
        settings,
        steps,
        mine["capacity"],
        mine["lower"],
        mine["upper"],
        mine["status"],
        _describe(mine["status"], mine["lower"], mine["upper"], steps),
        mine["inconsistent_failures"],
        merge_steps(checks, None, None) if all(checks) else None,
        "; ".join(errors) or None,
        problems,
        names,
        [n for n, c in zip(names, checks, strict=True) if c is None] if mine["capacity"] else [],
        cross_check=next((c.cross_check for c in parts if c.cross_check), None),
    )


def capacity_files(run_dir: Path, client_dirs: list[Path] | None = None) -> list[tuple[str, Path]]:
    """(client, capacity.json) of a run: in client_dirs, else RUN_DIR/clients/<host>/, else RUN_DIR."""
    run_dir = Path(run_dir)
    dirs = list(client_dirs or [])
    if not dirs:
        clients = run_dir / "clients"
        dirs = sorted(p for p in clients.iterdir() if p.is_dir()) if clients.is_dir() else []
        dirs = [d for d in dirs if (d / "capacity.json").exists()] or [run_dir]
    out = []
    for d in dirs:
        p = Path(d) / "capacity.json"
        if p.exists():
            out.append((Path(d).name if Path(d).parent.name == "clients" else "", p))
    return out


def has_capacity(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return (run_dir / "capacity.json").exists() or any(run_dir.glob("clients/*/capacity.json"))


def read_run(run_dir: Path, client_dirs: list[Path] | None = None) -> Capacity:
    """A run's capacity: its client's file, or its clients' files merged; CapacityError when there is none or
    one cannot be read."""
    files = capacity_files(run_dir, client_dirs)
    if not files:
        raise CapacityError(f"no capacity.json in {run_dir}")
    parts = [read_capacity(p, who if len(files) > 1 else "") for who, p in files]
    return merge(parts)
