"""The whole report of one run: summary.csv/json, figures, report.html."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from whiskey_report import __version__
from whiskey_report.figures import all_figures
from whiskey_report.findings import Finding, findings, primary_metric, warnings
from whiskey_report.loader import RunSet, load_runset
from whiskey_report.summary import Row, build_rows, summary_table, table_body, table_head, write_summary

WINDOW_NOTE = (
    "Locust runs: ramp-up and warm-up excluded, computed from locust_stats_history.csv; p50/p90/p99 are "
    "request-weighted means of Locust's rolling 10-s percentiles; throughput runs: throughput.json, warm-up "
    "level excluded by the driver"
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

    @property
    def incomplete(self) -> bool:
        return any(r.state != "ok" for r in self.runset.runs) or bool(self.runset.expected_missing)


def analyse(run_dir: Path) -> RunReport:
    rs = load_runset(run_dir)
    rows = build_rows(rs)
    return RunReport(rs, rows, findings(rows), warnings(rs, rows), Path(run_dir) / "report")


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


def _kv(d: dict | None) -> list[tuple[str, str]]:
    out = []
    for k, v in (d or {}).items():
        out.append((str(k), json.dumps(v) if isinstance(v, dict | list) else str(v)))
    return out


def write_html(rep: RunReport, figs: list[tuple[str, Path]]) -> Path:
    rs = rep.runset
    meta = rs.meta
    _, desc, _ = primary_metric(rep.rows) if rep.rows else ("avg", "average latency", True)
    runs = []
    for r in rs.runs:
        m = r.measurements[0] if r.measurements else None
        tel = r.server_tel.collector if r.server_tel else "missing"
        runs.append(
            {
                "workers": r.workers,
                "scenario": r.scenario,
                "repeat": r.repeat,
                "state": r.state,
                "started": r.status.get("started", ""),
                "window": f"{m.window_s:.0f}" if m and m.concurrency is None else ("levels" if m else "-"),
                "lreq": r.locust_totals["requests"] if r.locust_totals else "-",
                "lfail": r.locust_totals["failures"] if r.locust_totals else "-",
                "telemetry": tel,
                "notes": "; ".join(
                    ([r.error] if r.error else [])
                    + r.problems
                    + (["client-bound"] if r.status.get("client_bound") else [])
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
        ("telemetry collector", collectors(rs)),
        (
            "runs",
            f"{sum(r.state == 'ok' for r in rs.runs)} ok, {sum(r.state == 'failed' for r in rs.runs)} failed, "
            f"{sum(r.state == 'unfinished' for r in rs.runs)} unfinished, {len(rs.expected_missing)} not run",
        ),
    ]
    html = (
        env()
        .get_template("run.html.j2")
        .render(
            title=f"whiskey: which WSGI setup? Run {rs.run_id}",
            subtitle=f"{len(rep.rows)} summary rows from {len(rs.runs)} run folders. Ranked on {desc}.",
            warnings=rep.warnings,
            headlines=[f for f in rep.findings if f.kind == "headline"],
            significance=[f for f in rep.findings if f.kind == "significance"],
            conclusions=[f for f in rep.findings if f.kind == "conclusion"],
            metric_desc=desc,
            has_conc=any(r.concurrency is not None for r in rep.rows),
            window_note=WINDOW_NOTE,
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
        "generated_by": f"whiskey-report {__version__}",
        "window": WINDOW_NOTE,
        "telemetry_collector": collectors(rep.runset),
        "warnings": rep.warnings,
        "findings": [{"kind": f.kind, "text": f.text, "verdict": f.verdict} for f in rep.findings],
    }
    write_summary(rep.rows, rep.out_dir, extra)
    figs = all_figures(rep.runset, rep.rows, rep.out_dir) if figures else []
    if html:
        rep.html = write_html(rep, figs)
    return rep


def terminal_text(rep: RunReport) -> str:
    lines = [f"whiskey run {rep.runset.run_id}: {len(rep.rows)} rows", "", summary_table(rep.rows), ""]
    lines += ["Findings:"] + [f"  - {f.text}" for f in rep.findings if f.kind != "conclusion"]
    lines += ["", "The original's conclusions:"]
    lines += [f"  [{f.verdict}] {f.text}" for f in rep.findings if f.kind == "conclusion"]
    if rep.warnings:
        lines += ["", f"Warnings ({len(rep.warnings)}):"] + [f"  ! {w}" for w in rep.warnings]
    return "\n".join(lines)
