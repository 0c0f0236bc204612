"""One summary row per (workers, scenario[, concurrency]): the VALID runs' repeats combined into mean and 95 % CI.

Only runs whose verdict is `valid` (status.json, verdict.py; `ok` of an older whiskey counts as valid) are
combined and ranked; invalid, failed and unfinished runs are listed apart (report.not_ranked).
"""

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from whiskey_report.loader import Run, RunSet
from whiskey_report.stats import MeanCI, mean_ci

# Metrics that get a mean and a confidence interval across repeats: (key, label, unit, lower_is_better).
CI_METRICS = [
    ("rps", "RPS", "req/s", False),
    ("avg", "avg", "ms", True),
    ("p50", "p50", "ms", True),
    ("p90", "p90", "ms", True),
    ("p99", "p99", "ms", True),
    ("p999", "p99.9", "ms", True),
]
PERCENTILES = ("p50", "p90", "p99", "p999")
ESTIMATE = "≈"  # marks percentiles estimated from Locust's rolling values (results without stats_reset)
ORIGINAL_SEVEN = [
    "werkzeug",
    "gunicorn",
    "uwsgi-http",
    "nginx-werkzeug",
    "nginx-gunicorn",
    "nginx-uwsgi-http",
    "nginx-uwsgi",
]


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return fmean(vals) if vals else None


@dataclass
class Row:
    workers: int
    scenario: str
    concurrency: int | None
    server: str | None
    via: str | None
    protocol: str | None
    runs: list[Run]  # the valid runs combined here
    repeats_total: int  # every folder of this (workers, scenario): valid, invalid, failed, unfinished
    per_repeat: dict[str, list[float | None]] = field(default_factory=dict)
    ci: dict[str, MeanCI] = field(default_factory=dict)
    requests: int = 0
    failures: int = 0
    locust_requests: int | None = None
    locust_failures: int | None = None
    max_ms: float | None = None
    window_s: float | None = None
    server_cpu: float | None = None
    server_procs_cpu: float | None = None
    server_app_cores: float | None = None  # the processes under test, in cores (exact in containers too)
    server_rss_mb: float | None = None
    server_load1: float | None = None
    client_cpu: float | None = None
    client_driver_cpu: float | None = None
    client_bound: bool = False
    telemetry: str | None = None
    percentiles_estimated: bool = False  # some repeat's p50..p99.9 are estimates (no stats_reset)

    @property
    def repeats(self) -> int:
        return len(self.runs)

    @property
    def failure_pct(self) -> float | None:
        return 100.0 * self.failures / self.requests if self.requests else None

    @property
    def label(self) -> str:
        conc = f" c={self.concurrency}" if self.concurrency is not None else ""
        return f"{self.scenario}{conc} (workers={self.workers})"

    def value(self, key: str) -> float | None:
        return self.ci[key].mean if key in self.ci else None

    def as_dict(self) -> dict:
        out = {
            "workers": self.workers,
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "server": self.server,
            "via": self.via,
            "protocol": self.protocol,
            "repeats": self.repeats,
            "repeats_total": self.repeats_total,
            "requests": self.requests,
            "failures": self.failures,
            "failure_pct": _round(self.failure_pct, 3),
            "locust_requests": self.locust_requests,
            "locust_failures": self.locust_failures,
            "percentiles_estimated": self.percentiles_estimated,
        }
        for key, *_ in CI_METRICS:
            ci = self.ci[key]
            unit = "" if key == "rps" else "_ms"
            out[f"{key}{unit}"] = _round(ci.mean, 3)
            out[f"{key}{unit}_ci95"] = _round(ci.half_width, 3)
        out.update(
            {
                "max_ms": _round(self.max_ms, 3),
                "window_s": _round(self.window_s, 1),
                "server_cpu_pct": _round(self.server_cpu, 2),
                "server_procs_cpu_pct": _round(self.server_procs_cpu, 2),
                "server_app_cores": _round(self.server_app_cores, 3),
                "server_rss_mb": _round(self.server_rss_mb, 1),
                "server_load1": _round(self.server_load1, 2),
                "client_cpu_pct": _round(self.client_cpu, 2),
                "client_driver_cpu_pct": _round(self.client_driver_cpu, 2),
                "client_bound": self.client_bound,
                "telemetry_collector": self.telemetry,
            }
        )
        return out


def _round(value, digits):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, digits)


def build_rows(rs: RunSet) -> list[Row]:
    groups: dict[tuple, list] = {}
    totals: dict[tuple[int, str], int] = {}
    for run in rs.runs:
        totals[run.key] = totals.get(run.key, 0) + 1
        if run.state != "valid":
            continue
        for m in run.measurements:
            groups.setdefault((run.workers, run.scenario, m.concurrency), []).append((run, m))
    rows = []
    for (workers, scenario, conc), items in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        info = rs.scenario_info(scenario)
        row = Row(
            workers,
            scenario,
            conc,
            info["server"],
            info["via"],
            info["protocol"],
            [r for r, _ in items],
            totals[(workers, scenario)],
        )
        for key, *_ in CI_METRICS:
            row.per_repeat[key] = [getattr(m, key) for _, m in items]
            row.ci[key] = mean_ci(row.per_repeat[key])
        row.per_repeat["failure_pct"] = [
            100.0 * m.failures / m.requests if m.requests else None for _, m in items
        ]
        row.ci["failure_pct"] = mean_ci(row.per_repeat["failure_pct"])
        row.requests = sum(m.requests for _, m in items)
        row.failures = sum(m.failures for _, m in items)
        if conc is None and all(r.locust_totals for r, _ in items):
            row.locust_requests = sum(r.locust_totals["requests"] for r, _ in items)
            row.locust_failures = sum(r.locust_totals["failures"] for r, _ in items)
        maxes = [m.max for _, m in items if m.max is not None]
        row.max_ms = max(maxes) if maxes else None
        row.window_s = _mean(m.window_s for _, m in items)
        row.percentiles_estimated = any(m.percentiles_estimated for _, m in items)
        srv, procs, cores, rss, load, ccpu, cdrv, colls = [], [], [], [], [], [], [], set()
        for run, m in items:
            if run.server_tel:
                tel = run.server_tel.window(m.window_start, m.window_end)
                srv.append(_mean(tel.cpu_busy))
                procs.append(_mean(tel.proc_cpu))
                cores.append(_mean(tel.proc_cores))
                rss.append(_mean(tel.proc_rss_mb))
                load.append(_mean(tel.load1))
                colls.add(run.server_tel.collector)
            for ct in run.client_tels:
                tel = ct.window(m.window_start, m.window_end)
                ccpu.append(_mean(tel.cpu_busy))
                cdrv.append(_mean(tel.proc_cpu))
            row.client_bound = row.client_bound or bool(run.status.get("client_bound"))
        row.server_cpu, row.server_procs_cpu, row.server_app_cores = _mean(srv), _mean(procs), _mean(cores)
        row.server_rss_mb, row.server_load1 = _mean(rss), _mean(load)
        row.client_cpu, row.client_driver_cpu = _mean(ccpu), _mean(cdrv)
        row.telemetry = ", ".join(sorted(colls)) or None
        rows.append(row)
    return rows


def _sort_key(key):
    workers, scenario, conc = key
    order = ORIGINAL_SEVEN.index(scenario) if scenario in ORIGINAL_SEVEN else len(ORIGINAL_SEVEN)
    return (workers, order, scenario, conc or 0)


# ---------------------------------------------------------------- output


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def fmt_ci(ci: MeanCI, digits: int = 1) -> str:
    if ci.mean is None:
        return "-"
    if ci.half_width is None:
        return fmt(ci.mean, digits)
    return f"{ci.mean:.{digits}f}±{ci.half_width:.{digits}f}"


TABLE_HEAD = [
    "workers",
    "scenario",
    "conc",
    "reps",
    "requests",
    "fail",
    "fail%",
    "RPS",
    "avg ms",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "app cores",
    "srv CPU%",
    "srv RSS MB",
    "load1",
    "cli CPU%",
    "client-bound",
]


def table_cells(row: Row) -> list[str]:
    def pct(key: str) -> str:
        text = fmt_ci(row.ci[key])
        return f"{ESTIMATE}{text}" if row.percentiles_estimated and text != "-" else text

    return [
        str(row.workers),
        row.scenario,
        fmt(row.concurrency),
        f"{row.repeats}/{row.repeats_total}" if row.repeats != row.repeats_total else str(row.repeats),
        str(row.requests),
        str(row.failures),
        fmt(row.failure_pct, 2),
        fmt_ci(row.ci["rps"]),
        fmt_ci(row.ci["avg"]),
        pct("p50"),
        pct("p90"),
        pct("p99"),
        pct("p999"),
        fmt(row.max_ms, 0),
        fmt(row.server_app_cores, 2),
        fmt(row.server_cpu),
        fmt(row.server_rss_mb),
        fmt(row.server_load1, 2),
        fmt(row.client_cpu),
        "YES" if row.client_bound else "no",
    ]


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)]
    lines = [
        "  ".join(
            h.rjust(w) if i > 1 else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def table_head(rows: list[Row]) -> list[str]:
    """TABLE_HEAD, without the concurrency column when no row has one (seed profile)."""
    return (
        TABLE_HEAD if any(r.concurrency is not None for r in rows) else [h for h in TABLE_HEAD if h != "conc"]
    )


def table_body(rows: list[Row]) -> list[list[str]]:
    keep_conc = any(r.concurrency is not None for r in rows)
    return [c if keep_conc else c[:2] + c[3:] for c in (table_cells(r) for r in rows)]


def summary_table(rows: list[Row]) -> str:
    return text_table(table_head(rows), table_body(rows))


def write_summary(rows: list[Row], out_dir: Path, extra: dict) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    dicts = [r.as_dict() for r in rows]
    csv_p = out_dir / "summary.csv"
    buf = io.StringIO()
    if dicts:
        writer = csv.DictWriter(buf, fieldnames=list(dicts[0]), lineterminator="\n")
        writer.writeheader()
        for d in dicts:
            writer.writerow({k: "" if v is None else v for k, v in d.items()})
    csv_p.write_text(buf.getvalue(), encoding="utf-8")
    json_p = out_dir / "summary.json"
    doc = dict(extra)
    doc["rows"] = []
    for r, d in zip(rows, dicts, strict=True):
        d = dict(d)
        d["per_repeat"] = {
            "repeat": [run.repeat for run in r.runs],
            **{k: [_round(v, 3) for v in vals] for k, vals in r.per_repeat.items()},
        }
        doc["rows"].append(d)
    json_p.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return csv_p, json_p


# ---------------------------------------------------------------- capacity profile


@dataclass
class CapacityRow:
    """One (workers, scenario) of a capacity bench: the valid repeats' capacities combined."""

    workers: int
    scenario: str
    server: str | None
    via: str | None
    protocol: str | None
    runs: list[Run]  # the valid runs with a capacity
    repeats_total: int
    capacities: list[float]
    ci: MeanCI
    censored: bool  # some repeat met the objective up to max_rate: the capacity is at least that
    slo_p99_ms: float | None
    slo_error_pct: float | None
    p99_ms: MeanCI  # the capacity step's p99
    app_cores: float | None = None  # mean cores of the processes under test in the capacity steps' windows
    per_core: MeanCI | None = None  # capacity / app cores, per repeat
    rss_per_worker_mb: float | None = None
    # each repeat's capacity / the geometric mean of every scenario's capacity in that repeat (repeat_levels):
    # the comparison a drift of the machine between repeats does not move
    relative: MeanCI | None = None

    @property
    def repeats(self) -> int:
        return len(self.runs)

    @property
    def cv(self) -> float | None:
        """Coefficient of variation of the repeats' capacities: sample SD / mean (n >= 2)."""
        return _cv(self.ci)

    @property
    def label(self) -> str:
        return f"{self.scenario} (workers={self.workers})"

    def as_dict(self) -> dict:
        return {
            "workers": self.workers,
            "scenario": self.scenario,
            "server": self.server,
            "via": self.via,
            "protocol": self.protocol,
            "repeats": self.repeats,
            "repeats_total": self.repeats_total,
            "capacity_rps": _round(self.ci.mean, 2),
            "capacity_ci95": _round(self.ci.half_width, 2),
            "capacity_ci_low": _round(self.ci.low, 2),
            "capacity_ci_high": _round(self.ci.high, 2),
            "capacity_cv": _round(self.cv, 4),
            "censored": self.censored,
            "slo_p99_ms": self.slo_p99_ms,
            "slo_error_pct": self.slo_error_pct,
            "p99_ms_at_capacity": _round(self.p99_ms.mean, 3),
            "app_cores": _round(self.app_cores, 3),
            "capacity_per_core": _round(self.per_core.mean if self.per_core else None, 2),
            "rss_per_worker_mb": _round(self.rss_per_worker_mb, 1),
            "capacity_relative": _round(self.relative.mean if self.relative else None, 4),
            "capacity_relative_cv": _round(self.relative_cv, 4),
        }

    @property
    def relative_cv(self) -> float | None:
        """CV of the relative capacities (n >= 2)."""
        return _cv(self.relative)


def _cv(ci: MeanCI | None) -> float | None:
    """Sample SD / mean of the values behind a MeanCI (None below 2 values or at mean 0)."""
    if ci is None or ci.sd is None or not ci.mean:
        return None
    return ci.sd / ci.mean


def _in_window(tel, start, end):
    """The telemetry samples inside [start, end], or None when none are (Telemetry.window would give all)."""
    if tel is None or start is None or end is None:
        return None
    if not any(start <= t <= end for t in tel.times):
        return None
    return tel.window(start, end)


def build_capacity_rows(rs: RunSet) -> list[CapacityRow]:
    """One row per (workers, scenario) of the runs that have a capacity search; only valid runs combined."""
    totals: dict[tuple[int, str], int] = {}
    groups: dict[tuple[int, str], list[Run]] = {}
    for run in rs.runs:
        if run.capacity is None and run.status.get("profile") != "capacity":
            continue
        totals[run.key] = totals.get(run.key, 0) + 1
        if run.state == "valid" and run.capacity is not None and run.capacity.capacity is not None:
            groups.setdefault(run.key, []).append(run)
    rows = []
    for key in sorted(totals, key=lambda k: _sort_key((*k, None))):
        workers, scenario = key
        runs = groups.get(key, [])
        info = rs.scenario_info(scenario)
        caps = [r.capacity.capacity for r in runs]
        steps = [r.capacity.capacity_step for r in runs]
        row = CapacityRow(
            workers,
            scenario,
            info["server"],
            info["via"],
            info["protocol"],
            runs,
            totals[key],
            caps,
            mean_ci(caps),
            any(r.capacity.status == "censored" for r in runs),
            next((r.capacity.slo_p99_ms for r in runs), None),
            next((r.capacity.slo_error_pct for r in runs), None),
            mean_ci(
                [p99 for r in runs if (p99 := (r.capacity.capacity_latency_ms or {}).get("p99")) is not None]
            ),
        )
        cores, per_core, rss = [], [], []
        for run, step in zip(runs, steps, strict=True):
            tel = _in_window(run.server_tel, step.start_epoch, step.end_epoch) if step else None
            if tel is None:
                continue
            c = _mean(tel.proc_cores)
            if c:
                cores.append(c)
                per_core.append(run.capacity.capacity / c)
            m = _mean(tel.proc_rss_mb)
            if m is not None and workers:
                rss.append(m / workers)
        row.app_cores = _mean(cores)
        row.per_core = mean_ci(per_core) if per_core else None
        row.rss_per_worker_mb = _mean(rss)
        rows.append(row)
    return attach_relative(rows)


def attach_relative(rows: list[CapacityRow]) -> list[CapacityRow]:
    """Each row's relative capacity: its repeats' capacities / their repeats' levels (repeat_levels), n >= 2."""
    levels = repeat_levels(rows)
    for row in rows:
        level = levels.get(row.workers, {})
        rel = [
            c / level[run.repeat]
            for run, c in zip(row.runs, row.capacities, strict=True)
            if run.repeat in level
        ]
        row.relative = mean_ci(rel) if len(rel) >= 2 else None
    return rows


def repeat_levels(rows: list[CapacityRow]) -> dict[int, dict[int, float]]:
    """workers -> {repeat: geometric mean of that repeat's capacities}, over the complete repeats only (every
    scenario of that workers value has a valid capacity in it) and only when there are two or more. The loop runs
    every scenario once before any runs again, so a machine that speeds up or slows down over a bench moves a whole
    repeat: a capacity divided by its repeat's level compares setups within one pass over them."""
    out: dict[int, dict[int, float]] = {}
    for workers in sorted({r.workers for r in rows}):
        group = [r for r in rows if r.workers == workers]
        if len(group) < 2:
            continue
        by_repeat = [
            {run.repeat: c for run, c in zip(r.runs, r.capacities, strict=True) if c and c > 0} for r in group
        ]
        complete = sorted(set.intersection(*(set(b) for b in by_repeat)))
        if len(complete) < 2:
            continue
        out[workers] = {
            rep: math.exp(sum(math.log(b[rep]) for b in by_repeat) / len(by_repeat)) for rep in complete
        }
    return out


CAPACITY_HEAD = [
    "workers",
    "scenario",
    "reps",
    "capacity req/s",
    "95% CI",
    "CV",
    "relative (CV)",
    "p99 ms at capacity",
    "app cores",
    "req/s per core",
    "RSS MB per worker",
]


def capacity_cells(row: CapacityRow) -> list[str]:
    ge = "≥" if row.censored else ""
    ci = row.ci
    return [
        str(row.workers),
        row.scenario,
        f"{row.repeats}/{row.repeats_total}" if row.repeats != row.repeats_total else str(row.repeats),
        f"{ge}{fmt(ci.mean, 1)}" if ci.mean is not None else "-",
        f"{ge}{ci.low:.1f}–{ci.high:.1f}" if ci.low is not None else "-",
        f"{100.0 * row.cv:.1f}%" if row.cv is not None else "-",
        f"{row.relative.mean:.3f} ({100.0 * row.relative_cv:.1f}%)"
        if row.relative is not None and row.relative_cv is not None
        else "-",
        fmt(row.p99_ms.mean, 2),
        fmt(row.app_cores, 2),
        f"{ge}{row.per_core.mean:.1f}" if row.per_core and row.per_core.mean is not None else "-",
        fmt(row.rss_per_worker_mb, 1),
    ]


def capacity_table(rows: list[CapacityRow]) -> str:
    return text_table(CAPACITY_HEAD, [capacity_cells(r) for r in rows])


def write_capacity(rows: list[CapacityRow], out_dir: Path) -> Path:
    """capacity.csv: one line per (workers, scenario), as CapacityRow.as_dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    dicts = [r.as_dict() for r in rows]
    if dicts:
        writer = csv.DictWriter(buf, fieldnames=list(dicts[0]), lineterminator="\n")
        writer.writeheader()
        for d in dicts:
            writer.writerow({k: "" if v is None else v for k, v in d.items()})
    path = out_dir / "capacity.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path
