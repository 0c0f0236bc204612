"""Read one results/<run_id>/ folder (docs/results-format.md) into per-run measurements.

How every number is computed is written down in docs/statistics.md; in short:

Locust runs with `stats_reset` (status.json: Locust ran with --reset-stats, which resets every statistic once
spawning completes). The Aggregated row of locust_stats.csv then covers exactly the measurement window, from
the reset to the end of the run: requests, failures, Requests/s, the average and the 50/90/99/99.9 %
percentiles are Locust's own, computed on the window's response-time histogram (Locust rounds response times
above 100 ms to 2 significant digits); max is its Max Response Time. The window lasts from the reset (located
in locust_stats_history.csv: the one drop of the cumulative counters to ~0, where spawning completed) to the
last history row. The history gives the time series for the figures.

Locust runs without `stats_reset` (results of an older whiskey): Locust's Aggregated numbers count from the
first request, ramp-up included, so the window is recomputed from locust_stats_history.csv (one row per
second holding cumulative counts, the cumulative average and rolling ~10-s percentiles):

  window start = the later of (a) the first second at which the user count reached its maximum (ramp-up
                 over) and (b) the last `duration_s` seconds of the history (status.json; the seconds before
                 were warm-up), or history start + `warmup_s` when duration_s is unknown;
  window end   = the last history row.
  requests, failures = cumulative counts at the end minus those at the start;
  RPS = requests / window seconds; average latency = exact, from the cumulative averages × counts;
  p50/p90/p99/p99.9 = the request-weighted mean of Locust's rolling percentiles of the rows inside the window:
                an ESTIMATE, not a percentile (Measurement.percentiles_estimated); max = the largest rolling max.

Both ways the history is checked (read_history): its last line is complete, the cumulative counters never
decrease (but for the one reset when stats_reset), no rate is negative, and its final counts match Locust's
Aggregated row within 1 % (or the last second's requests). A failed check is a `results` problem
(Run.result_errors), which the verdict (verdict.py) turns into an `invalid` run.
Capacity-profile runs are read from capacity.json (capacity.py: its checks, and the exact merge of several
clients' files) into Run.capacity; they have no Measurement. Throughput-profile runs are read from throughput.json (one measurement per concurrency level; warm-up is
already excluded by the driver; a level's telemetry is the samples of its `window`, when the driver recorded it).
"""

import csv
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from whiskey_report import capacity as cap

PCT_COLS = {"p50": "50%", "p90": "90%", "p99": "99%", "p999": "99.9%", "max": "100%"}
# A drop of the cumulative counters counts as Locust's statistics reset only this close to the end of spawning.
RESET_SLACK_S = 5.0
# The history's last counts must match locust_stats.csv's Aggregated row within this fraction (or within the
# last second's requests: Locust writes locust_stats.csv after the last history row).
TOTALS_TOLERANCE = 0.01
VERDICTS = ("valid", "invalid", "failed")


class ResultsError(Exception):
    """The results folder cannot be reported on at all (missing, empty); exit code 2."""


@dataclass
class Telemetry:
    path: Path
    collector: str
    role: str
    times: list[float]  # epoch seconds
    cpu_busy: list[float | None]  # % of all CPUs
    load1: list[float | None]
    mem_free_mb: list[float | None]
    proc_cpu: list[float | None]  # whiskey_processes.cpu_percent, % of all CPUs
    proc_rss_mb: list[float | None]
    proc_cores: list[float | None] = field(default_factory=list)  # whiskey_processes.cpu_cores

    def window(self, start: float | None, end: float | None) -> "Telemetry":
        """The samples between start and end; all samples if none fall inside."""
        if start is None or end is None:
            return self
        idx = [i for i, t in enumerate(self.times) if start <= t <= end]
        if not idx:
            return self
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return Telemetry(
            self.path,
            self.collector,
            self.role,
            pick(self.times),
            pick(self.cpu_busy),
            pick(self.load1),
            pick(self.mem_free_mb),
            pick(self.proc_cpu),
            pick(self.proc_rss_mb),
            pick(self.proc_cores),
        )


@dataclass
class Series:
    """Per-second time series of one Locust run (t in seconds since the history's first row)."""

    t: list[float] = field(default_factory=list)
    users: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p90: list[float | None] = field(default_factory=list)
    avg: list[float | None] = field(default_factory=list)


@dataclass
class Measurement:
    """One measured (workers, scenario, repeat[, concurrency]) result."""

    concurrency: int | None
    requests: int
    failures: int
    rps: float
    avg: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    window_s: float
    window_start: float | None = None  # epoch
    window_end: float | None = None
    p999: float | None = None
    # True when p50..p99.9 are request-weighted means of Locust's rolling percentiles (no stats_reset), not
    # percentiles of the window's own distribution.
    percentiles_estimated: bool = False


@dataclass
class Run:
    workers: int
    scenario: str
    repeat: int
    path: Path
    state: str  # the verdict: valid | invalid | failed, or unfinished (no status.json)
    status: dict
    error: str | None = None
    measurements: list[Measurement] = field(default_factory=list)
    locust_totals: dict | None = None  # Aggregated row of locust_stats.csv
    series: Series | None = None
    t0: float | None = None  # epoch of the first history row
    server_tel: Telemetry | None = None
    client_tels: list[Telemetry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # everything the reader noticed (report warnings)
    result_errors: list[str] = field(
        default_factory=list
    )  # the problems that fail the results' sanity checks
    judged: bool = True  # False: status "ok" of an older whiskey, without a verdict (treated as valid)
    reasons: list[dict] = field(default_factory=list)  # status.json's reasons: [{"kind", "message"}]
    warns: list[dict] = field(default_factory=list)  # status.json's warnings: [{"kind", "message"}]
    capacity: object | None = None  # capacity profile: capacity.Capacity (its file(s), checked and merged)

    @property
    def key(self) -> tuple[int, str]:
        return (self.workers, self.scenario)

    @property
    def label(self) -> str:
        return f"{self.workers}/{self.scenario}/{self.repeat}"

    @property
    def measured(self) -> bool:
        return self.state in ("valid", "invalid")

    def bad(self, message: str) -> None:
        """A problem that fails the results' sanity checks (a `results` reason of the verdict)."""
        self.problems.append(message)
        self.result_errors.append(message)


@dataclass
class RunSet:
    path: Path
    meta: dict
    runs: list[Run]
    expected_missing: list[tuple[int, str, int]]
    problems: list[str]

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.path.name)

    def scenario_info(self, name: str) -> dict:
        for sc in self.meta.get("scenarios") or []:
            if isinstance(sc, dict) and sc.get("name") == name:
                return {
                    "server": sc.get("server"),
                    "via": sc.get("via", "direct"),
                    "protocol": sc.get("protocol"),
                }
        return guess_scenario(name)


def guess_scenario(name: str) -> dict:
    """server/via/protocol from a scenario name like nginx-uwsgi-http, when run.json lacks the table."""
    via = "nginx" if name.startswith("nginx-") else "direct"
    rest = name.removeprefix("nginx-")
    server = rest.split("-", 1)[0]
    protocol = "uwsgi" if (via == "nginx" and rest == "uwsgi") else "http"
    return {"server": server, "via": via, "protocol": protocol}


def _num(value) -> float | None:
    if value is None:
        return None
    value = str(value).strip()
    if value in ("", "N/A", "nan"):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return None if math.isnan(out) else out


def _read_json(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        doc = json.load(fh)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _epoch(utc: str) -> float:
    """Seconds since the epoch of a UTC timestamp, with a zone (the fallback's `...Z`) or without (cmonitor's)."""
    when = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


_PER_CORE = re.compile(r"cpu\d+")


def _cpu_total(stat: dict) -> dict:
    """stat.cpu_total, or (cmonitor 2.x writes only per-core stat.cpuN) the mean of the per-core figures."""
    if stat.get("cpu_total"):
        return stat["cpu_total"]
    cores = [v for k, v in stat.items() if _PER_CORE.fullmatch(k) and isinstance(v, dict)]
    out = {}
    for field_name in ("idle", "iowait"):
        vals = [x for x in (_num(c.get(field_name)) for c in cores) if x is not None]
        if vals:
            out[field_name] = sum(vals) / len(vals)
    return out


def read_telemetry(path: Path, role: str) -> Telemetry:
    doc = _read_json(path)
    header = doc.get("header") or {}
    coll = header.get("collector") or {}
    if coll.get("name"):
        collector = f"{coll['name']} {coll.get('version', '')}".strip()
    elif header.get("cmonitor"):
        collector = f"cmonitor_collector {(header['cmonitor'] or {}).get('version', '')}".strip()
    else:
        collector = "unknown collector"
    tel = Telemetry(path, collector, role, [], [], [], [], [], [])
    for s in doc.get("samples") or []:
        try:
            t = _epoch(s["timestamp"]["UTC"])
        except (KeyError, TypeError, ValueError):
            continue
        cpu = _cpu_total(s.get("stat") or {})
        idle, iowait = _num(cpu.get("idle")), _num(cpu.get("iowait")) or 0.0
        load = s.get("proc_loadavg") or {}
        mem = s.get("proc_meminfo") or {}
        procs = s.get("whiskey_processes") or {}
        free = _num(mem.get("MemFree"))
        rss = _num(procs.get("rss_kb"))
        tel.times.append(t)
        tel.cpu_busy.append(None if idle is None else max(0.0, 100.0 - idle - iowait))
        tel.load1.append(_num(load.get("load_avg_1min")))
        tel.mem_free_mb.append(None if free is None else free / 1024.0)
        tel.proc_cpu.append(_num(procs.get("cpu_percent")))
        tel.proc_rss_mb.append(None if rss is None else rss / 1024.0)
        tel.proc_cores.append(_num(procs.get("cpu_cores")))
    return tel


def _csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _count(n: float) -> str:
    """1471 -> '1 471' (a space between thousands, as in the verdict's messages)."""
    return f"{round(n):,}".replace(",", " ")


def read_aggregated(path: Path) -> dict | None:
    """The Aggregated row of a locust_stats.csv, as numbers (None when the file has none)."""
    for row in _csv_rows(path):
        if row.get("Name") == "Aggregated":
            pct = {key: _num(row.get(col)) for key, col in PCT_COLS.items()}
            exact_max = _num(row.get("Max Response Time"))
            return {
                "requests": int(_num(row.get("Request Count")) or 0),
                "failures": int(_num(row.get("Failure Count")) or 0),
                "rps": _num(row.get("Requests/s")),
                "avg": _num(row.get("Average Response Time")),
                "p50": pct["p50"],
                "p90": pct["p90"],
                "p99": pct["p99"],
                "p999": pct["p999"],
                "max": exact_max if exact_max is not None else pct["max"],
            }
    return None


@dataclass
class History:
    """The Aggregated rows of locust_stats_history.csv and what its checks found."""

    rows: list[dict] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)  # epoch seconds
    users: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)  # Total Request Count
    failures: list[float] = field(default_factory=list)  # Total Failure Count
    ramp_end: int | None = None  # first row at the maximum user count (spawning complete)
    reset_index: int | None = None  # first row after Locust's statistics reset
    problems: list[str] = field(default_factory=list)  # failed checks (results problems)

    def at(self, i: int) -> str:
        return f"t={self.ts[i] - self.ts[0]:.0f} s"


def read_history(path: Path, stats_reset: bool) -> History:
    """Read and check locust_stats_history.csv: truncation, counters that decrease, negative rates.

    With stats_reset, one drop of the cumulative counters to ~0 is allowed where spawning completed (within
    RESET_SLACK_S of the first row at the maximum user count): Locust's --reset-stats. Any other drop is a
    problem: a counter that decreases, a reset in the middle of the run, or a second reset.
    """
    hist = History()
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        cut = lines.pop()
        hist.problems.append(
            f"{path.name} is truncated: its last line is cut ({cut[:40]!r}{'...' if len(cut) > 40 else ''})"
        )
    parsed = list(csv.reader(lines))
    header = parsed[0] if parsed else []
    for lineno, fields in enumerate(parsed[1:], start=2):
        if len(fields) != len(header):
            hist.problems.append(
                f"{path.name} line {lineno} has {len(fields)} fields, the header {len(header)} "
                "(a cut or damaged line)"
            )
            continue
        row = dict(zip(header, fields, strict=True))
        if row.get("Name") != "Aggregated" or _num(row.get("Timestamp")) is None:
            continue
        hist.rows.append(row)
    if not hist.rows:
        return hist
    for r in hist.rows:
        hist.ts.append(_num(r["Timestamp"]))
        hist.users.append(_num(r.get("User Count")) or 0.0)
        hist.requests.append(_num(r.get("Total Request Count")) or 0.0)
        hist.failures.append(_num(r.get("Total Failure Count")) or 0.0)
    max_users = max(hist.users)
    hist.ramp_end = next(i for i, u in enumerate(hist.users) if u >= max_users)
    negative = []
    for i, r in enumerate(hist.rows):
        for col in ("Requests/s", "Failures/s", "Total Request Count", "Total Failure Count"):
            v = _num(r.get(col))
            if v is not None and v < 0:
                negative.append(f"{col} {v:g} at {hist.at(i)}")
    if negative:
        hist.problems.append(f"{path.name} has negative values: {', '.join(negative[:3])}")
    n = len(hist.ts)
    drops = [i for i in range(1, n) if hist.requests[i] < hist.requests[i - 1]]

    # The busiest second of the history (requests per second between two rows that did not drop).
    peak = max(
        (
            (hist.requests[j] - hist.requests[j - 1]) / max(hist.ts[j] - hist.ts[j - 1], 1.0)
            for j in range(1, n)
            if hist.requests[j] >= hist.requests[j - 1]
        ),
        default=0.0,
    )

    def near_zero(i: int) -> bool:
        # After a reset the counter holds only what came in since it: at most ~2 busiest seconds' worth.
        step = max(hist.ts[i] - hist.ts[i - 1], 1.0)
        return hist.requests[i] <= max(10.0, 0.05 * hist.requests[i - 1], 2.0 * peak * step)

    resets = [i for i in drops if near_zero(i)] if stats_reset else []
    spawned = hist.ts[hist.ramp_end]
    expected = next((i for i in resets if abs(hist.ts[i] - spawned) <= RESET_SLACK_S), None)
    # locust_stats.csv covers what came after the last reset: the window starts there.
    hist.reset_index = resets[-1] if resets else None
    for i in drops:
        if i == expected:
            continue
        before, after = _count(hist.requests[i - 1]), _count(hist.requests[i])
        if not stats_reset:
            hist.problems.append(
                f"Total Request Count falls from {before} to {after} at {hist.at(i)} although Locust's "
                "statistics were not to be reset (stats_reset is not set)"
            )
        elif i in resets:
            hist.problems.append(
                f"Locust's statistics were reset at {hist.at(i)} (Total Request Count {before} -> {after}), "
                f"not where spawning completed ({hist.at(hist.ramp_end)}): a reset in the middle of the run"
                + (" (a second one)" if expected is not None else "")
            )
        else:
            hist.problems.append(
                f"Total Request Count decreases from {before} to {after} at {hist.at(i)} (not a reset to ~0)"
            )
    for i in range(1, n):
        if hist.failures[i] < hist.failures[i - 1] and i not in resets:
            hist.problems.append(
                f"Total Failure Count decreases from {_count(hist.failures[i - 1])} to "
                f"{_count(hist.failures[i])} at {hist.at(i)}"
            )
    ramp_s = spawned - hist.ts[0]
    if stats_reset and not resets and ramp_s >= 2 and hist.requests[hist.ramp_end - 1] >= 10:
        hist.problems.append(
            "stats_reset is set, but the history shows no reset of the counters where spawning completed "
            f"({hist.at(hist.ramp_end)}; was Locust run without --reset-stats?)"
        )
    return hist


def check_totals(hist: History, agg: dict) -> list[str]:
    """The history's final counts against locust_stats.csv's Aggregated row (same statistics, same reset)."""
    out = []
    last_second = max(hist.requests[-1] - hist.requests[-2], 0.0) if len(hist.requests) > 1 else 0.0
    last_second = max(last_second, _num(hist.rows[-1].get("Requests/s")) or 0.0)
    for what, have, want in (
        ("requests", hist.requests[-1], agg["requests"]),
        ("failures", hist.failures[-1], agg["failures"]),
    ):
        allowed = max(TOTALS_TOLERANCE * agg["requests"], math.ceil(last_second))
        if abs(have - want) > allowed:
            out.append(
                f"locust_stats_history.csv ends at {_count(have)} {what}, locust_stats.csv's Aggregated row "
                f"says {_count(want)} (allowed difference {_count(allowed)})"
            )
    return out


def read_locust(run: Run) -> None:
    """Fill run.measurements / series / locust_totals from Locust's CSV files."""
    stats_p = run.path / "locust_stats.csv"
    hist_p = run.path / "locust_stats_history.csv"
    st = run.status
    stats_reset = bool(st.get("stats_reset"))
    agg = None
    if stats_p.exists():
        agg = read_aggregated(stats_p)
        if agg is None:
            run.bad("locust_stats.csv has no Aggregated row")
        run.locust_totals = agg
    else:
        run.bad("no locust_stats.csv (Locust's totals): the window cannot be checked against them")
    if not hist_p.exists():
        run.bad("no locust_stats_history.csv (run Locust with --csv-full-history)")
        return
    hist = read_history(hist_p, stats_reset)
    for p in hist.problems:
        run.bad(p)
    if not hist.rows:
        run.bad("locust_stats_history.csv has no Aggregated rows")
        return
    rows, ts = hist.rows, hist.ts
    if agg is not None:
        for p in check_totals(hist, agg):
            run.bad(p)
    t0 = ts[0]
    run.t0 = t0
    ser = Series()
    for r, t in zip(rows, ts, strict=True):
        ser.t.append(t - t0)
        ser.users.append(_num(r.get("User Count")) or 0.0)
        ser.requests.append(_num(r.get("Total Request Count")) or 0.0)
        ser.failures.append(_num(r.get("Total Failure Count")) or 0.0)
        cur = _num(r.get("Requests/s")) or 0.0
        ser.p50.append(_num(r.get("50%")) if cur > 0 else None)
        ser.p90.append(_num(r.get("90%")) if cur > 0 else None)
        ser.avg.append(_num(r.get("Total Average Response Time")) if ser.requests[-1] > 0 else None)
    run.series = ser

    t_end = ts[-1]
    duration = _num(st.get("duration_s"))
    if stats_reset and agg is not None:
        # Locust's Aggregated row is the window: the statistics were reset when spawning completed.
        k = hist.reset_index
        if k is not None:
            # The reset lies between the row before the drop and the drop; Locust's RPS = requests / (last
            # request - reset) places it inside that second.
            est = t_end - agg["requests"] / agg["rps"] if agg["rps"] else ts[k]
            start = min(max(est, ts[k - 1]), ts[k])
        else:
            start = ts[hist.ramp_end]
        window = t_end - start
        if window <= 0:
            run.bad("no measurement window left after the statistics reset")
            return
        if duration and window < 0.5 * duration:
            run.problems.append(
                f"measurement window only {window:.0f} s of duration_s={duration:.0f} (long ramp-up?)"
            )
        rps = agg["rps"] if agg["rps"] is not None else agg["requests"] / window
        run.measurements.append(
            Measurement(
                None,
                agg["requests"],
                agg["failures"],
                rps,
                agg["avg"],
                agg["p50"],
                agg["p90"],
                agg["p99"],
                agg["max"],
                window,
                start,
                t_end,
                p999=agg["p999"],
                percentiles_estimated=False,
            )
        )
        return

    warmup = _num(st.get("warmup_s")) or 0.0
    ramp_end = ts[hist.ramp_end]
    start = max(ramp_end, t_end - duration) if duration else max(ramp_end, t0 + warmup)
    if hist.reset_index is not None:
        start = max(start, ts[hist.reset_index])  # stats_reset without locust_stats.csv: after the reset
    i0 = next(i for i, t in enumerate(ts) if t >= start)
    start = ts[i0]
    window = t_end - start
    if window <= 0:
        run.bad("no measurement window left after ramp-up and warm-up")
        return
    c0, c1 = ser.requests[i0], ser.requests[-1]
    f0, f1 = ser.failures[i0], ser.failures[-1]
    a0 = _num(rows[i0].get("Total Average Response Time")) or 0.0
    a1 = _num(rows[-1].get("Total Average Response Time")) or 0.0
    n = c1 - c0
    if n < 0 or f1 - f0 < 0:
        run.bad(
            f"negative counts in the measurement window ({_count(n)} requests, {_count(f1 - f0)} failures)"
        )
    avg = (a1 * c1 - a0 * c0) / n if n > 0 else None
    pct: dict[str, float | None] = {}
    inside = [
        r
        for r, t in zip(rows, ts, strict=True)
        if start < t <= t_end and (_num(r.get("Requests/s")) or 0) > 0
    ]
    for key, col in PCT_COLS.items():
        pairs = [(_num(r.get(col)), _num(r.get("Requests/s"))) for r in inside]
        pairs = [(v, w) for v, w in pairs if v is not None and w]
        if not pairs:
            pct[key] = None
        elif key == "max":
            pct[key] = max(v for v, _ in pairs)
        else:
            pct[key] = sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
    if duration and window < 0.5 * duration:
        run.problems.append(
            f"measurement window only {window:.0f} s of duration_s={duration:.0f} (long ramp-up?)"
        )
    run.measurements.append(
        Measurement(
            None,
            int(n),
            int(f1 - f0),
            n / window,
            avg,
            pct["p50"],
            pct["p90"],
            pct["p99"],
            pct["max"],
            window,
            start,
            t_end,
            p999=pct["p999"],
            percentiles_estimated=True,
        )
    )


def read_throughput(run: Run) -> None:
    doc = _read_json(run.path / "throughput.json")
    levels = doc.get("levels")
    if not isinstance(levels, list):
        levels = []
    seen = []
    for idx, lvl in enumerate(levels):
        if not isinstance(lvl, dict):
            run.bad(f"throughput.json level {idx + 1} is not an object")
            continue
        lat = lvl.get("latency_ms") or {}
        if not isinstance(lat, dict):
            lat = {}
        window = lvl.get("window") if isinstance(lvl.get("window"), dict) else {}
        conc = _num(lvl.get("concurrency"))
        dur = _num(lvl.get("duration_s"))
        reqs = _num(lvl.get("requests"))
        errors, non_2xx = _num(lvl.get("errors")), _num(lvl.get("non_2xx"))
        rps = _num(lvl.get("rps"))
        where = (
            f"throughput.json level c={conc:g}" if conc is not None else f"throughput.json level {idx + 1}"
        )
        if conc is None:
            run.bad(f"{where} has no concurrency")
        if reqs is None or reqs < 0:
            run.bad(f"{where}: requests is {lvl.get('requests')!r}, not a count >= 0")
        if dur is None or dur <= 0:
            run.bad(f"{where}: duration_s is {lvl.get('duration_s')!r}, not > 0")
        if (
            (errors is not None and errors < 0)
            or (non_2xx is not None and non_2xx < 0)
            or (rps is not None and rps < 0)
        ):
            run.bad(f"{where}: negative errors, non_2xx or rps")
        if conc is not None:
            seen.append(int(conc))
        reqs_i = int(reqs) if reqs is not None and reqs > 0 else 0
        # `errors` counts every failed request (connection errors and non-2xx answers); non_2xx is a subset.
        fails = int(max(errors or 0, non_2xx or 0, 0))
        d = dur if dur is not None and dur > 0 else 0.0
        run.measurements.append(
            Measurement(
                int(conc or 0),
                reqs_i,
                fails,
                rps if rps is not None else (reqs_i / d if d else 0.0),
                _num(lat.get("avg")),
                _num(lat.get("p50")),
                _num(lat.get("p90")),
                _num(lat.get("p99")),
                _num(lat.get("max")),
                d,
                window_start=_num(window.get("start_epoch")),
                window_end=_num(window.get("end_epoch")),
                p999=_num(lat.get("p99.9", lat.get("p999"))),
            )
        )
    expected = run.status.get("concurrency")
    if isinstance(expected, list):
        missing = [c for c in expected if isinstance(c, int | float) and int(c) not in seen]
        if missing:
            run.bad(f"throughput.json has no level for concurrency {', '.join(str(int(c)) for c in missing)}")
    if not run.measurements:
        run.bad("throughput.json has no levels")


def _reason_list(value) -> list[dict]:
    """status.json's reasons / warnings: [{"kind", "message"}]; a bare string is kept as kind "other"."""
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            out.append({"kind": str(item.get("kind") or "other"), "message": str(item.get("message") or "")})
        elif item:
            out.append({"kind": "other", "message": str(item)})
    return out


def read_run(path: Path, workers: int, scenario: str, repeat: int) -> Run:
    status_p = path / "status.json"
    if not status_p.exists():
        run = Run(workers, scenario, repeat, path, "unfinished", {}, "no status.json: the run did not finish")
    else:
        try:
            status = _read_json(status_p)
        except (OSError, ValueError) as exc:
            return Run(workers, scenario, repeat, path, "failed", {}, f"unreadable status.json: {exc}")
        verdict = status.get("verdict") or status.get("status")
        judged = True
        if verdict == "ok" and "verdict" not in status:
            # An older whiskey wrote "ok" whatever the error rate: loaded as valid, flagged as not judged.
            verdict, judged = "valid", False
        state = verdict if verdict in VERDICTS else "failed"
        run = Run(workers, scenario, repeat, path, state, status, judged=judged)
        run.reasons = _reason_list(status.get("reasons"))
        run.warns = _reason_list(status.get("warnings"))
        if state == "failed":
            run.error = status.get("error") or (
                f"status is {verdict!r}" if verdict not in VERDICTS else "no error given"
            )
    if not run.measured:
        return run
    try:
        if cap.has_capacity(path):
            try:
                run.capacity = cap.read_run(path)
                for p in run.capacity.problems:
                    run.bad(p)
            except cap.CapacityError as exc:
                run.bad(str(exc))
        elif (path / "throughput.json").exists():
            read_throughput(run)
        elif (path / "locust_stats_history.csv").exists() or (path / "locust_stats.csv").exists():
            read_locust(run)
        else:
            run.bad("no locust_stats_history.csv and no throughput.json")
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        run.bad(f"could not read the load results: {type(exc).__name__}: {exc}")
        run.measurements.clear()
    tel_p = path / "telemetry-server.json"
    if tel_p.exists():
        try:
            run.server_tel = read_telemetry(tel_p, "server")
            if not run.server_tel.times:
                run.problems.append("telemetry-server.json holds no samples")
        except (OSError, ValueError) as exc:
            run.problems.append(f"unreadable telemetry-server.json: {exc}")
    if run.server_tel is None or not run.server_tel.times:
        run.server_tel = None
        if not any("telemetry-server" in p for p in run.problems):
            run.problems.append(NO_SERVER_TELEMETRY)
    if run.status.get("telemetry_ok") is False:
        run.problems.append("status.json says telemetry was not ok")
    for cp in sorted(path.glob("telemetry-client-*.json")):
        try:
            tel = read_telemetry(cp, "client")
        except (OSError, ValueError) as exc:
            run.problems.append(f"unreadable {cp.name}: {exc}")
            continue
        if tel.times:
            run.client_tels.append(tel)
    return run


NO_SERVER_TELEMETRY = "no server telemetry (telemetry-server.json missing)"


def load_runset(path: Path) -> RunSet:
    """Read every measured run below results/<run_id>/; ResultsError when there is nothing to report."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such folder")
    if not path.is_dir():
        raise ResultsError(f"{path}: not a folder")
    problems: list[str] = []
    meta: dict = {}
    run_json = path / "run.json"
    if run_json.exists():
        try:
            meta = _read_json(run_json)
        except (OSError, ValueError) as exc:
            problems.append(f"run.json is unreadable ({exc}): run metadata is missing from the report")
    runs: list[Run] = []
    for wdir in sorted(p for p in path.iterdir() if p.is_dir() and p.name.isdigit()):
        for sdir in sorted(p for p in wdir.iterdir() if p.is_dir()):
            for rdir in sorted(
                (p for p in sdir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
            ):
                runs.append(read_run(rdir, int(wdir.name), sdir.name, int(rdir.name)))
    if not runs:
        what = "only run.json" if run_json.exists() else "nothing"
        raise ResultsError(
            f"{path}: holds {what}, no measured runs (expected <workers>/<scenario>/<repeat>/ folders, "
            "see docs/results-format.md)"
        )
    if not meta and run_json.exists() is False:
        problems.append("no run.json: hosts, versions and variables are unknown")
    expected_missing = []
    var = meta.get("variables") or {}
    workers = var.get("workers")
    workers = workers if isinstance(workers, list) else [workers] if workers is not None else []
    names = [sc.get("name") for sc in meta.get("scenarios") or [] if isinstance(sc, dict)]
    if not names and isinstance(var.get("scenarios"), list):
        names = var["scenarios"]
    repeats = var.get("repeats")
    if workers and names and isinstance(repeats, int):
        have = {(r.workers, r.scenario, r.repeat) for r in runs}
        for w in workers:
            for s in names:
                for rep in range(1, repeats + 1):
                    if (int(w), s, rep) not in have:
                        expected_missing.append((int(w), s, rep))
    return RunSet(path, meta, runs, expected_missing, problems)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    return _SAFE.sub("_", text)
