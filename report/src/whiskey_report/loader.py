"""Read one results/<run_id>/ folder (docs/results-format.md) into per-run measurements.

Measurement window of a Locust run. Locust's own Aggregated numbers count from the first request, ramp-up
included, so the report recomputes everything from locust_stats_history.csv (one row per second holding
cumulative counts, the cumulative average and rolling ~10-s percentiles):

  window start = the later of (a) the first second at which the user count reached its maximum (ramp-up
                 over) and (b) the last `duration_s` seconds of the history (status.json; the seconds before
                 were warm-up), or history start + `warmup_s` when duration_s is unknown;
  window end   = the last history row.
  requests, failures = cumulative counts at the end minus those at the start;
  RPS = requests / window seconds; average latency = exact, from the cumulative averages × counts;
  p50/p90/p99 = the request-weighted mean of Locust's rolling percentiles of the rows inside the window
                (an estimate: Locust keeps no exact window percentiles); max = the largest rolling max.
Throughput-profile runs are read from throughput.json (one measurement per concurrency level; warm-up is
already excluded by the driver).
"""

import csv
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PCT_COLS = {"p50": "50%", "p90": "90%", "p99": "99%", "max": "100%"}


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


@dataclass
class Run:
    workers: int
    scenario: str
    repeat: int
    path: Path
    state: str  # ok | failed | unfinished
    status: dict
    error: str | None = None
    measurements: list[Measurement] = field(default_factory=list)
    locust_totals: dict | None = None  # Aggregated row of locust_stats.csv
    series: Series | None = None
    t0: float | None = None  # epoch of the first history row
    server_tel: Telemetry | None = None
    client_tels: list[Telemetry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, str]:
        return (self.workers, self.scenario)


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


def read_locust(run: Run) -> None:
    """Fill run.measurements / series / locust_totals from Locust's CSV files."""
    stats_p = run.path / "locust_stats.csv"
    hist_p = run.path / "locust_stats_history.csv"
    if stats_p.exists():
        for row in _csv_rows(stats_p):
            if row.get("Name") == "Aggregated":
                run.locust_totals = {
                    "requests": int(_num(row.get("Request Count")) or 0),
                    "failures": int(_num(row.get("Failure Count")) or 0),
                    "rps": _num(row.get("Requests/s")),
                    "avg": _num(row.get("Average Response Time")),
                }
    if not hist_p.exists():
        run.problems.append("no locust_stats_history.csv (run Locust with --csv-full-history)")
        return
    rows = [
        r for r in _csv_rows(hist_p) if r.get("Name") == "Aggregated" and _num(r.get("Timestamp")) is not None
    ]
    if not rows:
        run.problems.append("locust_stats_history.csv has no Aggregated rows")
        return
    ts = [_num(r["Timestamp"]) for r in rows]
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

    st = run.status
    max_users = max(ser.users)
    ramp_end = next(t for t, u in zip(ts, ser.users, strict=True) if u >= max_users)
    t_end = ts[-1]
    duration = _num(st.get("duration_s"))
    warmup = _num(st.get("warmup_s")) or 0.0
    start = max(ramp_end, t_end - duration) if duration else max(ramp_end, t0 + warmup)
    i0 = next(i for i, t in enumerate(ts) if t >= start)
    start = ts[i0]
    window = t_end - start
    if window <= 0:
        run.problems.append("no measurement window left after ramp-up and warm-up")
        return
    c0, c1 = ser.requests[i0], ser.requests[-1]
    f0, f1 = ser.failures[i0], ser.failures[-1]
    a0 = _num(rows[i0].get("Total Average Response Time")) or 0.0
    a1 = _num(rows[-1].get("Total Average Response Time")) or 0.0
    n = c1 - c0
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
        )
    )


def read_throughput(run: Run) -> None:
    doc = _read_json(run.path / "throughput.json")
    for lvl in doc.get("levels") or []:
        lat = lvl.get("latency_ms") or {}
        dur = _num(lvl.get("duration_s")) or 0.0
        reqs = int(_num(lvl.get("requests")) or 0)
        # `errors` counts every failed request (connection errors and non-2xx answers); non_2xx is a subset.
        fails = int(max(_num(lvl.get("errors")) or 0, _num(lvl.get("non_2xx")) or 0))
        rps = _num(lvl.get("rps"))
        run.measurements.append(
            Measurement(
                int(_num(lvl.get("concurrency")) or 0),
                reqs,
                fails,
                rps if rps is not None else (reqs / dur if dur else 0.0),
                _num(lat.get("avg")),
                _num(lat.get("p50")),
                _num(lat.get("p90")),
                _num(lat.get("p99")),
                _num(lat.get("max")),
                dur,
            )
        )
    if not run.measurements:
        run.problems.append("throughput.json has no levels")


def read_run(path: Path, workers: int, scenario: str, repeat: int) -> Run:
    status_p = path / "status.json"
    if not status_p.exists():
        run = Run(workers, scenario, repeat, path, "unfinished", {}, "no status.json: the run did not finish")
    else:
        try:
            status = _read_json(status_p)
        except (OSError, ValueError) as exc:
            return Run(workers, scenario, repeat, path, "failed", {}, f"unreadable status.json: {exc}")
        state = "ok" if status.get("status") == "ok" else "failed"
        run = Run(
            workers, scenario, repeat, path, state, status, status.get("error") if state != "ok" else None
        )
        if state == "failed" and not run.error:
            run.error = f"status is {status.get('status')!r}"
    if run.state != "ok":
        return run
    try:
        if (path / "throughput.json").exists():
            read_throughput(run)
        elif (path / "locust_stats_history.csv").exists() or (path / "locust_stats.csv").exists():
            read_locust(run)
        else:
            run.problems.append("no locust_stats_history.csv and no throughput.json")
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        run.problems.append(f"could not read the load results: {type(exc).__name__}: {exc}")
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
            run.problems.append("no server telemetry (telemetry-server.json missing)")
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
