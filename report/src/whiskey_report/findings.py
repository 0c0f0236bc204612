"""Plain-language findings computed from the summary rows, and the warnings a reader must see."""

from dataclasses import dataclass

from whiskey_report.loader import RunSet
from whiskey_report.stats import cis_overlap, welch
from whiskey_report.summary import ORIGINAL_SEVEN, Row

# "Fine" for the original's second conclusion: within this fraction of the best scenario, and few failures.
FINE_WITHIN = 0.10
FINE_MAX_FAILURE_PCT = 1.0


@dataclass
class Finding:
    kind: str  # headline | significance | conclusion
    text: str
    verdict: str | None = None  # holds | does not hold | cannot check (conclusions only)


def primary_metric(rows: list[Row]) -> tuple[str, str, bool]:
    """(key, description, lower_is_better): average latency for the seed profile, RPS for throughput."""
    if any(r.concurrency is not None for r in rows):
        return "rps", "requests per second", False
    return "avg", "average latency", True


def significance(a: Row, b: Row, key: str) -> tuple[bool | None, str]:
    """Is the difference of a and b on key significant? Welch's t-test, else non-overlapping CIs."""
    w = welch(a.per_repeat[key], b.per_repeat[key])
    if w.significant is not None:
        return w.significant, w.reason
    overlap = cis_overlap(a.ci[key], b.ci[key])
    if overlap is not None:
        return (not overlap), ("95% CIs do not overlap" if not overlap else "95% CIs overlap")
    return None, "not testable: fewer than 2 repeats"


def _sig_word(sig: bool | None) -> str:
    return {True: "significant", False: "not significant", None: "untested"}[sig]


def _unit(key: str) -> str:
    return "req/s" if key == "rps" else "ms"


def _groups(rows: list[Row]) -> dict[tuple, list[Row]]:
    """Rows that compete with each other: same workers and same concurrency level (highest level only)."""
    out: dict[tuple, list[Row]] = {}
    top: dict[int, int] = {}
    for r in rows:
        if r.concurrency is not None:
            top[r.workers] = max(top.get(r.workers, 0), r.concurrency)
    for r in rows:
        if r.concurrency is not None and r.concurrency != top[r.workers]:
            continue
        if r.value(primary_metric(rows)[0]) is None:
            continue
        out.setdefault((r.workers, r.concurrency), []).append(r)
    return out


def _best_first(group: list[Row], key: str, lower: bool) -> list[Row]:
    return sorted(group, key=lambda r: r.value(key), reverse=not lower)


def findings(rows: list[Row]) -> list[Finding]:
    if not rows:
        return []
    key, desc, lower = primary_metric(rows)
    out: list[Finding] = []
    for (workers, conc), group in _groups(rows).items():
        where = f"workers={workers}" + (f", concurrency {conc}" if conc is not None else "")
        ranked = _best_first(group, key, lower)
        best = ranked[0]
        ranking = ", ".join(f"{r.scenario} {r.value(key):.1f}" for r in ranked)
        out.append(
            Finding(
                "headline",
                f"{where}: fastest by {desc} is {best.scenario} ({best.value(key):.1f} {_unit(key)}). "
                f"Ranking: {ranking} {_unit(key)}.",
            )
        )
        for other in ranked[1:]:
            sig, why = significance(best, other, key)
            diff = other.value(key) - best.value(key)
            pct = 100.0 * diff / best.value(key) if best.value(key) else float("nan")
            word = {True: "significant", False: "NOT significant", None: "untested"}[sig]
            out.append(
                Finding(
                    "significance",
                    f"{where}: {best.scenario} vs {other.scenario}: {diff:+.1f} {_unit(key)} ({pct:+.1f}%), "
                    f"{word} ({why}).",
                )
            )
        out.extend(_original_conclusions(where, group, key, desc, lower))
    return out


def _original_conclusions(where: str, group: list[Row], key: str, desc: str, lower: bool) -> list[Finding]:
    by = {r.scenario: r for r in group}
    originals = [r for r in group if r.scenario in ORIGINAL_SEVEN]
    ranked = _best_first(originals, key, lower)
    out = []

    def missing(*names):
        return [n for n in names if n not in by]

    def better(a: Row, b: Row) -> bool:
        return a.value(key) < b.value(key) if lower else a.value(key) > b.value(key)

    # 1. The uWSGI protocol behind nginx is best.
    title = "1. uWSGI protocol behind nginx (nginx-uwsgi) is the best setup"
    if "nginx-uwsgi" not in by or len(ranked) < 2:
        out.append(
            Finding(
                "conclusion",
                f"{title}: cannot check at {where} (needs nginx-uwsgi and another of the "
                "original seven scenarios)",
                "cannot check",
            )
        )
    else:
        holds = ranked[0].scenario == "nginx-uwsgi"
        runner = ranked[1] if holds else ranked[0]
        sig, why = significance(by["nginx-uwsgi"], runner, key)
        note = f"best is {ranked[0].scenario}; vs {runner.scenario}: " + (_sig_word(sig)) + f" ({why})"
        out.append(
            Finding("conclusion", f"{title}: {note} at {where}.", "holds" if holds else "does not hold")
        )

    # 2. gunicorn does fine with or without nginx.
    title = "2. gunicorn does fine with or without nginx"
    miss = missing("gunicorn", "nginx-gunicorn")
    if miss or not ranked:
        out.append(
            Finding(
                "conclusion", f"{title}: cannot check at {where} (missing {', '.join(miss)})", "cannot check"
            )
        )
    else:
        best = ranked[0].value(key)
        verdicts, parts = [], []
        for name in ("gunicorn", "nginx-gunicorn"):
            r = by[name]
            rel = abs(r.value(key) - best) / best if best else 0.0
            verdicts.append(rel <= FINE_WITHIN and (r.failure_pct or 0.0) < FINE_MAX_FAILURE_PCT)
            parts.append(f"{name} within {100 * rel:.1f}% of the best, {r.failure_pct or 0:.2f}% failures")
        sig, why = significance(by["gunicorn"], by["nginx-gunicorn"], key)
        parts.append(f"direct vs nginx difference {_sig_word(sig)} ({why})")
        out.append(
            Finding(
                "conclusion",
                f"{title} (fine = within {100 * FINE_WITHIN:.0f}% of the best {desc} and "
                f"< {FINE_MAX_FAILURE_PCT:g}% failures): {'; '.join(parts)} at {where}.",
                "holds" if all(verdicts) else "does not hold",
            )
        )

    # 3. uwsgi-http behind nginx is worse than nginx-uwsgi.
    title = "3. uWSGI's http router behind nginx is worse than the uwsgi protocol"
    miss = missing("nginx-uwsgi-http", "nginx-uwsgi")
    if miss:
        out.append(
            Finding(
                "conclusion", f"{title}: cannot check at {where} (missing {', '.join(miss)})", "cannot check"
            )
        )
    else:
        a, b = by["nginx-uwsgi-http"], by["nginx-uwsgi"]
        sig, why = significance(a, b, key)
        holds = better(b, a)
        out.append(
            Finding(
                "conclusion",
                f"{title}: nginx-uwsgi-http {a.value(key):.1f} vs nginx-uwsgi "
                f"{b.value(key):.1f} {_unit(key)}, "
                f"{_sig_word(sig)}"
                f" ({why}) at {where}.",
                "holds" if holds else "does not hold",
            )
        )

    # 4. werkzeug is the slowest.
    title = "4. werkzeug is the slowest"
    wz = [r for r in originals if r.server == "werkzeug" or r.scenario in ("werkzeug", "nginx-werkzeug")]
    others = [r for r in originals if r not in wz]
    if not wz or not others:
        out.append(
            Finding(
                "conclusion",
                f"{title}: cannot check at {where} (needs a werkzeug scenario and another "
                "of the original seven)",
                "cannot check",
            )
        )
    else:
        best_other_worst = _best_first(others, key, lower)[-1]
        holds = all(better(best_other_worst, w) for w in wz)
        out.append(
            Finding(
                "conclusion",
                f"{title}: werkzeug scenarios "
                f"{', '.join(f'{w.scenario} {w.value(key):.1f}' for w in wz)} vs the slowest "
                f"other, {best_other_worst.scenario} {best_other_worst.value(key):.1f} "
                f"{_unit(key)} at {where}.",
                "holds" if holds else "does not hold",
            )
        )
    return out


CONTAINER_KINDS = {"docker", "podman", "container", "lxc", "containerd", "systemd-nspawn"}


def _container_warning(rs: RunSet) -> str | None:
    """Containers see the host's /proc/stat, loadavg and meminfo: say which columns that makes machine-wide."""
    hosts = rs.meta.get("hosts") or {}
    boxed = sorted(
        name
        for name, h in hosts.items()
        if isinstance(h, dict) and str(h.get("virtualization") or "").lower() in CONTAINER_KINDS
    )
    if not boxed:
        return None
    return (
        f"{', '.join(boxed)} ran in containers: their srv CPU%, load1, free memory and cli CPU% are the whole "
        "machine's (a container sees the host's /proc), so they include everything else running on it; "
        "'app cores' (CPU of the processes under test, from whiskey_processes) is exact"
    )


def warnings(rs: RunSet, rows: list[Row]) -> list[str]:
    out = list(rs.problems)
    boxed = _container_warning(rs)
    if boxed:
        out.append(boxed)
    for run in rs.runs:
        where = f"workers={run.workers} {run.scenario} repeat {run.repeat}"
        if run.state == "failed":
            out.append(
                f"FAILED run {where}: {run.error or 'no error given'} (excluded; logs in {run.path / 'logs'})"
            )
        elif run.state == "unfinished":
            out.append(
                f"UNFINISHED run {where}: {run.error} (excluded; re-run bench.yml with the same run_id)"
            )
        else:
            if run.status.get("client_bound"):
                reasons = "; ".join(run.status.get("client_bound_reasons") or []) or "no reason given"
                out.append(
                    f"client-bound run {where}: the load generator, not the server, set the pace ({reasons})"
                )
            for p in run.problems:
                out.append(f"{where}: {p}")
            if not run.measurements and not run.problems:
                out.append(f"{where}: no measurements")
    for w, s, rep in rs.expected_missing:
        out.append(f"NOT RUN: workers={w} {s} repeat {rep} (in run.json's plan, no folder)")
    for row in rows:
        if row.failure_pct and row.failure_pct > 0:
            out.append(f"{row.label}: {row.failures} failed requests ({row.failure_pct:.2f}%)")
        if row.repeats < 2:
            out.append(f"{row.label}: only {row.repeats} repeat, no confidence interval (use repeats >= 2)")
    return out
