"""PNG figures (matplotlib, Agg): the original's panels over time, Figure 7 redone, bars, throughput curves.

Colour = WSGI server and line style = direct vs nginx, like the original's plots.py (dash-dot marks nginx
speaking the uwsgi protocol, which the original drew like any nginx line).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from whiskey_report.loader import RunSet
from whiskey_report.summary import Row

SERVER_COLOURS = {
    "werkzeug": "#d62728",
    "gunicorn": "#1f77b4",
    "uwsgi": "#2ca02c",
    "granian": "#9467bd",
    "waitress": "#ff7f0e",
}
OTHER_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
WORKER_STYLES = [":", "-", "--", "-.", (0, (3, 1, 1, 1, 1, 1))]
DPI = 90


def colour(server: str | None) -> str:
    if server in SERVER_COLOURS:
        return SERVER_COLOURS[server]
    return OTHER_COLOURS[hash(server) % len(OTHER_COLOURS)]


def style(info: dict) -> str:
    if info.get("via") == "nginx":
        return "-." if info.get("protocol") == "uwsgi" else "--"
    return "-"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _first_ok_runs(rs: RunSet, workers: int):
    """The first valid repeat of each scenario at this workers value (what the panels draw): invalid and
    failed runs are never drawn."""
    chosen = {}
    for run in sorted(rs.runs, key=lambda r: (r.scenario, r.repeat)):
        if run.workers == workers and run.state == "valid" and run.series and run.scenario not in chosen:
            chosen[run.scenario] = run
    return chosen


def timeseries(rs: RunSet, out: Path) -> list[Path]:
    paths = []
    for workers in sorted({r.workers for r in rs.runs}):
        chosen = _first_ok_runs(rs, workers)
        if not chosen:
            continue
        fig, axes = plt.subplots(4, 2, figsize=(11, 11))
        panels = [
            ("cumulative requests", "requests"),
            ("cumulative failures", "failures"),
            ("median response time (ms, rolling)", "p50"),
            ("average response time (ms, cumulative)", "avg"),
            ("90th percentile (ms, rolling)", "p90"),
            ("server load average (1 min)", "load1"),
            ("server free memory (MB)", "mem"),
        ]
        starts = [
            run.measurements[0].window_start - run.t0
            for run in chosen.values()
            if run.measurements and run.measurements[0].window_start is not None and run.t0 is not None
        ]
        for ax, (title, key) in zip(axes.flat, panels, strict=False):
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            if starts:
                ax.axvspan(0, max(starts), color="grey", alpha=0.12, linewidth=0)
            for name, run in chosen.items():
                info = rs.scenario_info(name)
                kw = {"color": colour(info["server"]), "linestyle": style(info), "linewidth": 1.3}
                if key in ("load1", "mem"):
                    tel = run.server_tel
                    if tel is None or run.t0 is None:
                        continue
                    xs = [t - run.t0 for t in tel.times]
                    ys = tel.load1 if key == "load1" else tel.mem_free_mb
                    ax.plot(xs, [float("nan") if y is None else y for y in ys], **kw)
                else:
                    ys = getattr(run.series, key)
                    ax.plot(run.series.t, [float("nan") if y is None else y for y in ys], **kw)
        legend_ax = axes.flat[-1]
        legend_ax.axis("off")
        handles = [
            Line2D(
                [],
                [],
                color=colour(rs.scenario_info(n)["server"]),
                linestyle=style(rs.scenario_info(n)),
                label=n,
            )
            for n in chosen
        ]
        if starts:
            handles.append(Patch(color="grey", alpha=0.25, label="ramp-up / warm-up (excluded)"))
        legend_ax.legend(
            handles=handles, loc="center", title=f"workers={workers} (first valid repeat)", fontsize=9
        )
        for ax in list(axes.flat)[:-1]:
            ax.set_xlabel("seconds since Locust started", fontsize=8)
        fig.suptitle(f"Run {rs.run_id}: over time, workers={workers}", fontsize=12)
        paths.append(_save(fig, out / f"timeseries-w{workers}.png"))
    return paths


def figure7(rs: RunSet, out: Path) -> Path | None:
    """Blog Figure 7 redone: average response time over run time, one line style per workers value."""
    workers_all = sorted({r.workers for r in rs.runs})
    fig, ax = plt.subplots(figsize=(10, 5.5))
    drawn = False
    scen_colours = {}
    palette = [plt.get_cmap("tab20")(i) for i in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7, 9)]
    for wi, workers in enumerate(workers_all):
        for name, run in _first_ok_runs(rs, workers).items():
            c = scen_colours.setdefault(name, palette[len(scen_colours) % len(palette)])
            ys = [float("nan") if y is None else y for y in run.series.avg]
            ax.plot(
                run.series.t, ys, color=c, linestyle=WORKER_STYLES[wi % len(WORKER_STYLES)], linewidth=1.4
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    handles = [Line2D([], [], color=c, label=n) for n, c in scen_colours.items()]
    handles += [
        Line2D([], [], color="black", linestyle=WORKER_STYLES[i % len(WORKER_STYLES)], label=f"workers={w}")
        for i, w in enumerate(workers_all)
    ]
    ax.legend(handles=handles, fontsize=8, ncol=2)
    ax.set_xlabel("seconds since Locust started")
    ax.set_ylabel("average response time (ms, cumulative)")
    ax.set_title("Figure 7 redone: average response time over the run")
    ax.grid(alpha=0.3)
    return _save(fig, out / "figure7-avg-latency.png")


def bars(rows: list[Row], out: Path) -> Path | None:
    """RPS and p99 per scenario with 95 % CI error bars (throughput profile: the highest concurrency)."""
    top: dict[int, int] = {}
    for r in rows:
        if r.concurrency is not None:
            top[r.workers] = max(top.get(r.workers, 0), r.concurrency)
    rows = [r for r in rows if r.concurrency is None or r.concurrency == top[r.workers]]
    if not rows:
        return None
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    workers_all = sorted({r.workers for r in rows})
    width = 0.8 / len(workers_all)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, key, label in ((axes[0], "rps", "requests/s"), (axes[1], "p99", "p99 latency (ms)")):
        for wi, workers in enumerate(workers_all):
            xs, ys, errs, cols = [], [], [], []
            for si, name in enumerate(scenarios):
                row = next((r for r in rows if r.workers == workers and r.scenario == name), None)
                if row is None or row.value(key) is None:
                    continue
                xs.append(si + (wi - (len(workers_all) - 1) / 2) * width)
                ys.append(row.value(key))
                errs.append(row.ci[key].half_width or 0.0)
                cols.append(colour(row.server))
            hatch = ["", "//", "..", "xx", "\\\\"][wi % 5]
            ax.bar(
                xs,
                ys,
                width * 0.95,
                yerr=errs,
                capsize=3,
                color=cols,
                hatch=hatch,
                edgecolor="black",
                linewidth=0.5,
                label=f"workers={workers}",
            )
        ax.set_xticks(range(len(scenarios)), scenarios, rotation=30, ha="right", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        if len(workers_all) > 1:
            ax.legend(fontsize=8)
    conc = f" at concurrency {', '.join(str(v) for v in sorted(set(top.values())))}" if top else ""
    fig.suptitle(f"Throughput and p99 per scenario{conc} (error bars: 95% CI over repeats)", fontsize=11)
    return _save(fig, out / "bars-rps-p99.png")


def throughput_curves(rows: list[Row], out: Path) -> Path | None:
    rows = [r for r in rows if r.concurrency is not None]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    workers_all = sorted({r.workers for r in rows})
    markers = ["o", "s", "^", "D", "v"]
    for key, ax, label in (("rps", axes[0], "requests/s"), ("p99", axes[1], "p99 latency (ms)")):
        for wi, workers in enumerate(workers_all):
            for name in dict.fromkeys(r.scenario for r in rows):
                pts = sorted(
                    (r for r in rows if r.workers == workers and r.scenario == name),
                    key=lambda r: r.concurrency,
                )
                pts = [r for r in pts if r.value(key) is not None]
                if not pts:
                    continue
                info = {"via": pts[0].via, "protocol": pts[0].protocol}
                ax.errorbar(
                    [r.concurrency for r in pts],
                    [r.value(key) for r in pts],
                    yerr=[r.ci[key].half_width or 0.0 for r in pts],
                    color=colour(pts[0].server),
                    linestyle=style(info),
                    marker=markers[wi % len(markers)],
                    capsize=3,
                    label=f"{name} (w={workers})",
                )
        levels = sorted({r.concurrency for r in rows})
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(c) for c in levels])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrency (connections)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Throughput profile: RPS and p99 against concurrency", fontsize=11)
    return _save(fig, out / "throughput-vs-concurrency.png")


def capacity_curves(rs: RunSet, crows: list, out: Path) -> Path | None:
    """Capacity profile: every scenario's p50 (dashed) and p99 (solid) against the offered rate (log x), one
    line per valid repeat, the objective as a horizontal line and each scenario's knee (its mean capacity) marked.
    Steps stopped early (they had certainly missed the objective) are drawn as crosses."""
    drawn = [r for r in crows if r.runs]
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    slos = sorted({r.slo_p99_ms for r in drawn if r.slo_p99_ms is not None})
    several_workers = len({r.workers for r in drawn}) > 1
    handles = []
    for i, row in enumerate(drawn):
        info = rs.scenario_info(row.scenario)
        c = (
            colour(info["server"])
            if info["server"] in SERVER_COLOURS
            else OTHER_COLOURS[i % len(OTHER_COLOURS)]
        )
        # the server's colour; behind nginx a lighter shade of it (the uwsgi protocol with square markers)
        if info.get("via") == "nginx":
            rgb = matplotlib.colors.to_rgb(c)
            c = tuple(0.45 + 0.55 * v for v in rgb)
        mark = "s" if info.get("protocol") == "uwsgi" else ("D" if info.get("via") == "nginx" else "o")
        name = row.scenario + (f" (w={row.workers})" if several_workers else "")
        for run in row.runs:
            curve = run.capacity.curve()
            full = [p for p in curve if not p["stopped_early"]]
            xs = [p["rate"] for p in full]
            ax.plot(
                xs, [p["p99_ms"] for p in full], color=c, linestyle="-", marker=mark, ms=3, lw=1.2, alpha=0.8
            )
            ax.plot(
                xs, [p["p50_ms"] for p in full], color=c, linestyle="--", marker=".", ms=3, lw=1, alpha=0.6
            )
            early = [p for p in curve if p["stopped_early"] and p["p99_ms"] is not None]
            ax.scatter([p["rate"] for p in early], [p["p99_ms"] for p in early], color=c, marker="x", s=25)
        knee = row.ci.mean
        if knee:
            ax.axvline(knee, color=c, linestyle=":", lw=1.2)
            if row.slo_p99_ms is not None:
                ax.plot([knee], [row.slo_p99_ms], marker="v", color=c, ms=9, zorder=5)
        cap_text = f"{'≥' if row.censored else ''}{knee:.0f} req/s" if knee else "-"
        handles.append(Line2D([], [], color=c, marker=mark, ms=4, label=f"{name}: capacity {cap_text}"))
    for slo in slos:
        ax.axhline(slo, color="black", lw=1, alpha=0.7)
    handles += [
        Line2D([], [], color="grey", linestyle="-", label="p99"),
        Line2D([], [], color="grey", linestyle="--", label="p50"),
        Line2D([], [], color="grey", linestyle="", marker="x", label="p99 of a step stopped early"),
        Line2D(
            [], [], color="black", lw=1, label="objective: p99 ≤ " + ", ".join(f"{s:g}" for s in slos) + " ms"
        ),
        Line2D([], [], color="grey", linestyle=":", marker="v", label="knee (mean capacity)"),
    ]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (requests/s, log)")
    ax.set_ylabel("latency from the intended send time (ms, log)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.set_title(
        f"Run {rs.run_id}: capacity profile, latency against offered rate (valid repeats)", fontsize=11
    )
    return _save(fig, out / "capacity-latency-vs-rate.png")


def all_figures(rs: RunSet, rows: list[Row], out: Path, crows: list | None = None) -> list[tuple[str, Path]]:
    """Every figure that the data allows, as (caption, path)."""
    out.mkdir(parents=True, exist_ok=True)
    figs: list[tuple[str, Path]] = []
    p = capacity_curves(rs, crows or [], out)
    if p:
        figs.append(
            (
                "Capacity profile: p99 (solid) and p50 (dashed) against the offered rate, one line per valid "
                "repeat; the black line is the objective, the dotted verticals and triangles each scenario's "
                "knee (its mean capacity); crosses are steps stopped early.",
                p,
            )
        )
    for p in timeseries(rs, out):
        figs.append(
            (
                f"The original's panels over time ({p.stem.split('-w')[-1]} workers): colour = server, "
                "solid = direct, dashed = behind nginx (http), dash-dot = nginx with the uwsgi protocol.",
                p,
            )
        )
    p = figure7(rs, out)
    if p:
        figs.append(
            ("Figure 7 redone: average response time over the run, one line style per workers value.", p)
        )
    p = bars(rows, out)
    if p:
        figs.append(("Requests/s and p99 per scenario (measurement window only); error bars are 95% CIs.", p))
    p = throughput_curves(rows, out)
    if p:
        figs.append(("Throughput profile: RPS and p99 against the number of connections.", p))
    return figs
