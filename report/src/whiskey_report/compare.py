"""Compare two runs: the same summary rows with absolute and % differences and their significance."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from whiskey_report import __version__
from whiskey_report.findings import significance
from whiskey_report.report import analyse, app_under_test, env
from whiskey_report.summary import CI_METRICS, Row, fmt, fmt_ci, text_table

COMPARE_HEAD = [
    "workers",
    "scenario",
    "conc",
    "metric",
    "baseline",
    "contender",
    "Δ",
    "Δ %",
    "significant",
    "verdict",
]


@dataclass
class Diff:
    workers: int
    scenario: str
    concurrency: int | None
    metric: str
    unit: str
    base: Row
    cont: Row
    delta: float | None
    pct: float | None
    significant: bool | None
    why: str
    better: bool | None  # contender better than baseline (None: no value or no difference)

    def cells(self) -> list[str]:
        verdict = "-"
        if self.better is not None:
            verdict = ("better" if self.better else "worse") if self.significant else "no clear change"
        return [
            str(self.workers),
            self.scenario,
            fmt(self.concurrency),
            f"{self.metric} ({self.unit})",
            fmt_ci(self.base.ci[self.metric])
            if self.metric in self.base.ci
            else fmt(self.base.failure_pct, 2),
            fmt_ci(self.cont.ci[self.metric])
            if self.metric in self.cont.ci
            else fmt(self.cont.failure_pct, 2),
            "-" if self.delta is None else f"{self.delta:+.2f}",
            "-" if self.pct is None else f"{self.pct:+.1f}%",
            {True: "yes", False: "no", None: "untested"}[self.significant],
            verdict,
        ]

    @property
    def tone(self) -> str:
        if not self.significant or self.better is None:
            return ""
        return "good" if self.better else "bad"


@dataclass
class Comparison:
    base_dir: Path
    cont_dir: Path
    base_id: str
    cont_id: str
    diffs: list[Diff]
    only_one: list[str]
    warnings: list[str]
    base_app: str = ""
    cont_app: str = ""


def compare(base_dir: Path, cont_dir: Path) -> Comparison:
    base, cont = analyse(base_dir), analyse(cont_dir)
    bmap = {(r.workers, r.scenario, r.concurrency): r for r in base.rows}
    cmap = {(r.workers, r.scenario, r.concurrency): r for r in cont.rows}
    diffs = []
    for key in [k for k in bmap if k in cmap]:
        b, c = bmap[key], cmap[key]
        for metric, _label, unit, lower in CI_METRICS:
            bv, cv = b.value(metric), c.value(metric)
            if bv is None or cv is None:
                diffs.append(Diff(*key, metric, unit, b, c, None, None, None, "no value", None))
                continue
            sig, why = significance(b, c, metric)
            delta = cv - bv
            better = None if delta == 0 else (delta < 0 if lower else delta > 0)
            diffs.append(
                Diff(*key, metric, unit, b, c, delta, 100.0 * delta / bv if bv else None, sig, why, better)
            )
        bf, cf = b.failure_pct, c.failure_pct
        if bf is not None and cf is not None:
            sig, why = significance(b, c, "failure_pct")
            delta = cf - bf
            diffs.append(
                Diff(*key, "failure_pct", "%", b, c, delta, None, sig, why, None if delta == 0 else delta < 0)
            )
    only = [f"baseline only: {r.label}" for k, r in bmap.items() if k not in cmap]
    only += [f"contender only: {r.label}" for k, r in cmap.items() if k not in bmap]
    warns = [f"baseline: {w}" for w in base.warnings] + [f"contender: {w}" for w in cont.warnings]
    base_app, cont_app = app_under_test(base.runset.meta), app_under_test(cont.runset.meta)
    if _app_identity(base.runset.meta) != _app_identity(cont.runset.meta):
        warns.insert(
            0,
            "the two runs measured different apps (baseline: "
            f"{base_app}; contender: {cont_app}): a difference is the apps' as much as the setups'",
        )
    return Comparison(
        Path(base_dir),
        Path(cont_dir),
        base.runset.run_id,
        cont.runset.run_id,
        diffs,
        only,
        warns,
        base_app,
        cont_app,
    )


def _app_identity(meta: dict) -> tuple:
    """What makes two runs' apps the same one: name, version and the digest of what was installed (results older
    than apps measured the quote server)."""
    app = meta.get("app")
    if not isinstance(app, dict):
        return ("quoteserver", None, None) if app is None else ("unknown", None, None)
    return (app.get("name"), app.get("version"), app.get("digest"))


def headlines(cmp: Comparison) -> list[str]:
    out = []
    for d in cmp.diffs:
        if d.metric in ("rps", "avg", "p99") and d.significant and d.better is not None:
            out.append(
                f"workers={d.workers} {d.scenario}{'' if d.concurrency is None else f' c={d.concurrency}'}: "
                f"{d.metric} {'better' if d.better else 'worse'} by {abs(d.pct or 0):.1f}% "
                f"({d.delta:+.2f} {d.unit}; {d.why})."
            )
    if not out and cmp.diffs:
        out.append("No significant difference in RPS, average or p99 latency.")
    return out


def terminal_text(cmp: Comparison) -> str:
    lines = [f"baseline {cmp.base_id}  vs  contender {cmp.cont_id}"]
    if cmp.base_app == cmp.cont_app:
        lines.append(f"App under test: {cmp.base_app}")
    else:
        lines += [f"Baseline's app: {cmp.base_app}", f"Contender's app: {cmp.cont_app}"]
    lines.append("")
    lines.append(text_table(COMPARE_HEAD, [d.cells() for d in cmp.diffs]))
    lines += [""] + [f"  - {h}" for h in headlines(cmp)]
    if cmp.only_one:
        lines += ["", "On one side only:"] + [f"  {o}" for o in cmp.only_one]
    if cmp.warnings:
        lines += ["", f"Warnings ({len(cmp.warnings)}):"] + [f"  ! {w}" for w in cmp.warnings]
    return "\n".join(lines)


def write_html(cmp: Comparison, path: Path) -> Path:
    html = (
        env()
        .get_template("compare.html.j2")
        .render(
            title=f"whiskey: {cmp.cont_id} compared with {cmp.base_id}",
            subtitle=f"{len({(d.workers, d.scenario, d.concurrency) for d in cmp.diffs})} matched rows.",
            warnings=cmp.warnings,
            base_id=cmp.base_id,
            cont_id=cmp.cont_id,
            base_path=str(cmp.base_dir.resolve()),
            cont_path=str(cmp.cont_dir.resolve()),
            base_app=cmp.base_app,
            cont_app=cmp.cont_app,
            has_conc=any(d.concurrency is not None for d in cmp.diffs),
            headlines=headlines(cmp),
            head=COMPARE_HEAD,
            body=[(d.cells(), d.tone) for d in cmp.diffs],
            only_one=cmp.only_one,
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
