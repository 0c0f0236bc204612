"""The whole report of one run: summary.csv/json, figures, report.html.

Only valid runs are ranked, compared and drawn; invalid, failed and unfinished runs (and planned runs without a
folder) are listed in their own table, "Not ranked", with their verdict and reasons.
"""

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from whiskey_report import __version__
from whiskey_report.figures import all_figures
from whiskey_report.findings import (
    Finding,
    capacity_drift,
    capacity_findings,
    findings,
    primary_metric,
    seed_users,
    warnings,
)
from whiskey_report.loader import RunSet, load_runset
from whiskey_report.summary import (
    CAPACITY_HEAD,
    ESTIMATE,
    CapacityRow,
    Row,
    build_capacity_rows,
    build_rows,
    capacity_cells,
    capacity_table,
    summary_table,
    table_body,
    table_head,
    write_capacity,
    write_summary,
)

WINDOW_NOTE = (
    "Locust runs with stats_reset: Locust's Aggregated row, which covers the window alone (statistics reset "
    "when spawning completed), percentiles of the window's own distribution; older Locust runs: ramp-up and "
    "warm-up excluded, computed from locust_stats_history.csv, p50..p99.9 marked ≈ are request-weighted means of "
    "Locust's rolling 10-s percentiles (estimates); throughput runs: throughput.json, warm-up level excluded by "
    "the driver. How each number is computed: docs/statistics.md"
)


def env() -> Environment:
    return Environment(
        loader=PackageLoader("whiskey_report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=False,
        lstrip_blocks=False,
    )


@dataclass
class RunReport:
    runset: RunSet
    rows: list[Row]
    findings: list[Finding]
    warnings: list[str]
    out_dir: Path
    html: Path | None = None
    not_ranked: list[dict] = field(default_factory=list)
    capacity_rows: list[CapacityRow] = field(
        default_factory=list
    )  # capacity profile: per (workers, scenario)

    @property
    def incomplete(self) -> bool:
        return any(r.state != "valid" for r in self.runset.runs) or bool(self.runset.expected_missing)


def not_ranked(rs: RunSet) -> list[dict]:
    """Every run that is not valid, and every planned run without a folder: run, verdict, reasons."""
    out = []
    for r in rs.runs:
        if r.state == "valid":
            continue
        if r.state == "invalid":
            reasons = [f"{x['kind']}: {x['message']}" for x in r.reasons] or ["no reason given"]
        elif r.state == "failed":
            reasons = [x["message"] for x in r.reasons if x.get("message")] or [r.error or "no error given"]
        else:
            reasons = [r.error or "no status.json"]
        out.append(
            {
                "run": r.label,
                "workers": r.workers,
                "scenario": r.scenario,
                "repeat": r.repeat,
                "verdict": r.state,
                "reasons": reasons,
            }
        )
    for w, s, rep in rs.expected_missing:
        out.append(
            {
                "run": f"{w}/{s}/{rep}",
                "workers": w,
                "scenario": s,
                "repeat": rep,
                "verdict": "not run",
                "reasons": ["in run.json's plan, no folder"],
            }
        )
    return out


def unranked_scenarios(rs: RunSet) -> dict[int, set[str]]:
    """Per workers value, the scenarios that were run (or planned) but have no valid run."""
    valid = {(r.workers, r.scenario) for r in rs.runs if r.state == "valid"}
    out: dict[int, set[str]] = {}
    for w, s in {(r.workers, r.scenario) for r in rs.runs} | {(w, s) for w, s, _ in rs.expected_missing}:
        if (w, s) not in valid:
            out.setdefault(w, set()).add(s)
    return out


def analyse(run_dir: Path) -> RunReport:
    rs = load_runset(run_dir)
    rows = build_rows(rs)
    crows = build_capacity_rows(rs)
    return RunReport(
        rs,
        rows,
        capacity_findings(crows) + findings(rows, unranked_scenarios(rs), seed_users(rs)),
        warnings(rs, rows) + capacity_drift(crows),
        Path(run_dir) / "report",
        not_ranked=not_ranked(rs),
        capacity_rows=crows,
    )


def collectors(rs: RunSet) -> str:
    names = sorted(
        {t.collector for r in rs.runs for t in ([r.server_tel] if r.server_tel else []) + r.client_tels}
    )
    declared = (rs.meta.get("versions") or {}).get("telemetry_collector")
    text = ", ".join(names) if names else "none (no telemetry files)"
    if declared and declared not in names:
        text += f" (run.json says: {declared})"
    if names and not any(n.startswith("cmonitor") for n in names):
        text += " - not cmonitor: whiskey's fallback sampler, same fields"
    return text


# Results of a whiskey that did not name apps: the app under test was always the quote server.
ORIGINAL_APP = (
    "quoteserver (the quote server of the original experiment: Flask + Elasticsearch, GET /quotes/byId?id=N; "
    "recorded before whiskey named apps)"
)


def _app(meta: dict) -> dict | None:
    """run.json's "app" (None when the results are older than apps)."""
    return meta.get("app")


def app_under_test(meta: dict) -> str:
    """Which app was measured, in one line (run.json's "app"), e.g. "cpu-bound 1.0.0 (commit 1a2b3c4, sha256
    9f86d081884c), wsgi cpubound.wsgi:app; requests: /work?n=20000 ×3, /hello ×1; backends: none"."""
    app = _app(meta)
    if app is None:
        return ORIGINAL_APP
    if not isinstance(app, dict):
        return f"unknown (run.json's app is not an object: {_excerpt(json.dumps(app), 80)})"
    ident = [f"commit {app['commit']}" if app.get("commit") else "not in git"]
    if app.get("digest"):
        ident.append(f"sha256 {str(app['digest'])[:12]}")
    head = app_label(meta)
    requests = [
        f"{r.get('path', '?')} ×{r.get('weight', 1)}"
        for r in app.get("requests") or []
        if isinstance(r, dict)
    ]
    if not requests:
        requests = [f"its locustfile {app['locustfile']}" if app.get("locustfile") else "none recorded"]
    backends = [str(b) for b in app.get("backends") or []]
    return (
        f"{head} ({', '.join(ident)}), wsgi {app.get('wsgi') or '?'}; requests: {', '.join(requests)}; "
        f"backends: {', '.join(backends) or 'none'}"
    )


def app_label(meta: dict) -> str:
    """Name and version of the app under test ("quoteserver" for results older than apps)."""
    app = _app(meta)
    if app is None:
        return "quoteserver"
    if not isinstance(app, dict):
        return "unknown"
    return " ".join(str(x) for x in (app.get("name") or "unnamed", app.get("version")) if x)


def app_items(meta: dict) -> list[tuple[str, str]]:
    """The run metadata's lines about the app under test."""
    app = _app(meta)
    items = [("app under test", app_under_test(meta))]
    if isinstance(app, dict):
        items += [
            ("app digest", f"sha256 {app.get('digest') or '?'} (its packed source and manifest)"),
            ("app health path", str(app.get("health") or "?")),
        ]
        if app.get("verify"):
            verify = app["verify"] if isinstance(app["verify"], dict) else {"check": app["verify"]}
            index = f" against index {verify['index']}" if verify.get("index") else ""
            items.append(("app answer check", f"{verify['check']}{index} (the probe's built-in check)"))
    return items


def other_app(meta: dict) -> str | None:
    """The measured app's name when it is not the original's quote server (whose results the original's
    conclusions are about); None for the quote server, older results and an unreadable app."""
    app = _app(meta)
    name = app.get("name") if isinstance(app, dict) else None
    return None if name in (None, "quoteserver") else app_label(meta)


def _excerpt(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kv(d: dict | None) -> list[tuple[str, str]]:
    out = []
    for k, v in (d or {}).items():
        out.append((str(k), json.dumps(v) if isinstance(v, dict | list) else str(v)))
    return out


def write_html(rep: RunReport, figs: list[tuple[str, Path]]) -> Path:
    rs = rep.runset
    meta = rs.meta
    _, desc, _ = primary_metric(rep.rows) if rep.rows else ("avg", "average latency", True)
    if rep.capacity_rows and not rep.rows:
        desc = "capacity (the highest rate meeting the objective)"
    runs = []
    for r in rs.runs:
        m = r.measurements[0] if r.measurements else None
        tel = r.server_tel.collector if r.server_tel else "missing"
        runs.append(
            {
                "workers": r.workers,
                "scenario": r.scenario,
                "repeat": r.repeat,
                "state": r.state + ("" if r.judged else " (not judged)"),
                "tone": "good" if r.state == "valid" and r.judged else ("" if r.state == "valid" else "bad"),
                "started": r.status.get("started", ""),
                "window": f"{m.window_s:.0f}"
                if m and m.concurrency is None
                else ("levels" if m else _capacity_window(r)),
                "lreq": r.locust_totals["requests"] if r.locust_totals else "-",
                "lfail": r.locust_totals["failures"] if r.locust_totals else "-",
                "telemetry": tel,
                "notes": "; ".join(
                    ([r.error] if r.error else [])
                    + ([f"{x['kind']}: {x['message']}" for x in r.reasons] if r.state == "invalid" else [])
                    + [p for p in r.problems if not (r.state == "invalid" and p in r.result_errors)]
                    + [f"{x['kind']}: {x['message']}" for x in r.warns]
                    + (["client-bound"] if r.status.get("client_bound") else [])
                    + (["not judged (results from an older whiskey)"] if not r.judged else [])
                    + (
                        ["percentiles estimated"]
                        if any(m.percentiles_estimated for m in r.measurements)
                        else []
                    )
                ),
            }
        )
    hosts = meta.get("hosts") or {}
    host_keys = list(dict.fromkeys(k for h in hosts.values() if isinstance(h, dict) for k in h))
    meta_items = [
        ("run id", rs.run_id),
        ("folder", str(rs.path.resolve())),
        ("started / ended", f"{meta.get('started', '?')} / {meta.get('ended', '?')}"),
        (
            "whiskey commit",
            f"{meta.get('whiskey_commit', '?')}{' (dirty)' if meta.get('whiskey_dirty') else ''}",
        ),
        *app_items(meta),
        ("telemetry collector", collectors(rs)),
        ("runs", runs_count(rs)),
    ]
    html = (
        env()
        .get_template("run.html.j2")
        .render(
            title=f"whiskey: which WSGI setup? Run {rs.run_id}",
            subtitle=f"{len(rep.rows)} summary rows from {len(rs.runs)} run folders ({runs_count(rs)}). "
            f"Ranked on {desc}, valid runs only.",
            app=app_under_test(meta),
            app_label=app_label(meta),
            other_app=other_app(meta),
            warnings=rep.warnings,
            headlines=[f for f in rep.findings if f.kind == "headline"],
            significance=[f for f in rep.findings if f.kind == "significance"],
            conclusions=[f for f in rep.findings if f.kind == "conclusion"],
            metric_desc=desc,
            has_conc=any(r.concurrency is not None for r in rep.rows),
            window_note=WINDOW_NOTE,
            estimated=any(r.percentiles_estimated for r in rep.rows),
            not_ranked=rep.not_ranked,
            capacity_head=CAPACITY_HEAD,
            capacity_body=[capacity_cells(r) for r in rep.capacity_rows],
            capacity_objective=capacity_objective(rep.capacity_rows),
            head=table_head(rep.rows),
            body=table_body(rep.rows),
            figures=[
                {"name": p.name, "caption": cap, "b64": base64.b64encode(p.read_bytes()).decode("ascii")}
                for cap, p in figs
            ],
            runs=runs,
            meta_items=meta_items,
            hosts=list(hosts.items()),
            host_keys=host_keys,
            versions=_kv(meta.get("versions")),
            variables=_kv(meta.get("variables")),
            calibration=_kv(meta.get("calibration")),
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    path = rep.out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def build(run_dir: Path, out_dir: Path | None = None, figures: bool = True, html: bool = True) -> RunReport:
    rep = analyse(run_dir)
    if out_dir is not None:
        rep.out_dir = Path(out_dir)
    rep.out_dir.mkdir(parents=True, exist_ok=True)
    extra = {
        "run_id": rep.runset.run_id,
        "app": _app(rep.runset.meta),
        "app_under_test": app_under_test(rep.runset.meta),
        "generated_by": f"whiskey-report {__version__}",
        "window": WINDOW_NOTE,
        "telemetry_collector": collectors(rep.runset),
        "runs": runs_count(rep.runset),
        "warnings": rep.warnings,
        "findings": [{"kind": f.kind, "text": f.text, "verdict": f.verdict} for f in rep.findings],
        "not_ranked": rep.not_ranked,
    }
    if rep.capacity_rows:
        extra["capacity"] = [r.as_dict() | {"per_repeat": _capacity_repeats(r)} for r in rep.capacity_rows]
        write_capacity(rep.capacity_rows, rep.out_dir)
    write_summary(rep.rows, rep.out_dir, extra)
    figs = all_figures(rep.runset, rep.rows, rep.out_dir, rep.capacity_rows) if figures else []
    if html:
        rep.html = write_html(rep, figs)
    return rep


def _capacity_window(run) -> str:
    step = run.capacity.capacity_step if run.capacity is not None else None
    if step is None or step.start_epoch is None or step.end_epoch is None:
        return "-"
    return f"{step.end_epoch - step.start_epoch:.0f}"


def _capacity_repeats(row: CapacityRow) -> dict:
    return {
        "repeat": [r.repeat for r in row.runs],
        "capacity_rps": row.capacities,
        "status": [r.capacity.status for r in row.runs],
        "curve": [r.capacity.curve() for r in row.runs],
    }


def capacity_objective(rows: list[CapacityRow]) -> str:
    objs = sorted({(r.slo_p99_ms, r.slo_error_pct) for r in rows if r.slo_p99_ms is not None}, key=str)
    return "; ".join(f"p99 ≤ {p:g} ms and errors ≤ {e:g} %" for p, e in objs) or "unknown"


def runs_count(rs: RunSet) -> str:
    """ "8 valid (8 not judged), 1 invalid, 0 failed, 0 unfinished, 0 not run" """
    n = {s: sum(r.state == s for r in rs.runs) for s in ("valid", "invalid", "failed", "unfinished")}
    old = sum(r.state == "valid" and not r.judged for r in rs.runs)
    return (
        f"{n['valid']} valid"
        + (f" ({old} not judged)" if old else "")
        + f", {n['invalid']} invalid, {n['failed']} failed, {n['unfinished']} unfinished, "
        f"{len(rs.expected_missing)} not run"
    )


def terminal_text(rep: RunReport) -> str:
    rows = len(rep.rows) + len(rep.capacity_rows)
    lines = [
        f"whiskey run {rep.runset.run_id}: {rows} rows ({runs_count(rep.runset)})",
        f"App under test: {app_under_test(rep.runset.meta)}",
        "",
    ]
    if rep.capacity_rows:
        lines += [
            f"Capacity (objective {capacity_objective(rep.capacity_rows)}):",
            capacity_table(rep.capacity_rows),
            "",
        ]
    if rep.rows or not rep.capacity_rows:
        lines += [summary_table(rep.rows), ""]
    if any(r.percentiles_estimated for r in rep.rows):
        lines += [
            f"{ESTIMATE} percentiles estimated from Locust's rolling values (results without stats_reset)",
            "",
        ]
    lines += ["Findings (valid runs only):"] + [
        f"  - {f.text}" for f in rep.findings if f.kind != "conclusion"
    ]
    if rep.rows or not rep.capacity_rows:
        lines += ["", "The original's conclusions:"]
        lines += [f"  [{f.verdict}] {f.text}" for f in rep.findings if f.kind == "conclusion"]
    if rep.not_ranked:
        lines += ["", f"Not ranked ({len(rep.not_ranked)}):"]
        w_run = max(len("run"), *(len(n["run"]) for n in rep.not_ranked))
        w_verdict = max(len("verdict"), *(len(n["verdict"]) for n in rep.not_ranked))
        lines.append(f"  {'run'.ljust(w_run)}  {'verdict'.ljust(w_verdict)}  reasons")
        for n in rep.not_ranked:
            lines.append(
                f"  {n['run'].ljust(w_run)}  {n['verdict'].ljust(w_verdict)}  {'; '.join(n['reasons'])}"
            )
    if rep.warnings:
        lines += ["", f"Warnings ({len(rep.warnings)}):"] + [f"  ! {w}" for w in rep.warnings]
    return "\n".join(lines)
