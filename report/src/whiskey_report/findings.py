"""Plain-language findings computed from the summary rows, and the warnings a reader must see.

The rows hold valid runs only (summary.build_rows), so no headline, ranking, significance test or conclusion
rests on an invalid or failed run; a scenario whose runs were all invalid is named as such where a conclusion
cannot be checked without it.
"""

from dataclasses import dataclass

from whiskey_report.loader import RunSet
from whiskey_report.stats import cis_overlap, welch
from whiskey_report.summary import ORIGINAL_SEVEN, Row, repeat_levels

# "Fine" for the original's second conclusion: within this fraction of the best scenario, and few failures.
FINE_WITHIN = 0.10
FINE_MAX_FAILURE_PCT = 1.0
# A closed loop (users with think time) is throttled by the server when more than this share of the users are
# waiting for an answer at any moment (Little's law: requests/s x average latency / users): the load each setup
# faced then depended on the setup itself, and the average latency is mostly queueing.
SATURATED_WAITING = 0.10
# capacity: the levels of two complete repeats (geometric means of every scenario's capacity) further apart than
# this (max / min - 1) say the machine drifted; setups 10 % apart are what a bench must tell apart
DRIFT_WARN = 0.10


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


def waiting_share(row: Row, users: float | None) -> float | None:
    """The share of a closed loop's users waiting for an answer at any moment (Little's law: requests/s x
    average latency = requests in the system, over the users); None for the throughput profile (no think time:
    every connection always waits, by design) or when a number is missing."""
    rps, avg = row.value("rps"), row.value("avg")
    if row.concurrency is not None or not users or rps is None or avg is None:
        return None
    return rps * avg / 1000.0 / users


def saturated(rows: list[Row], users: float | None) -> list[tuple[Row, float]]:
    """The seed-profile rows whose closed loop the server throttled (waiting_share > SATURATED_WAITING)."""
    out = []
    for row in rows:
        share = waiting_share(row, users)
        if share is not None and share > SATURATED_WAITING:
            out.append((row, share))
    return out


def _saturation_warning(rows: list[Row], users: float | None) -> str | None:
    hit = saturated(rows, users)
    if not hit:
        return None
    seed_rows = [r for r in rows if waiting_share(r, users) is not None]
    who = "every setup" if len(hit) == len(seed_rows) else f"{len(hit)} of {len(seed_rows)} setups"
    detail = ", ".join(
        f"{r.label} {100 * share:.0f} % waiting, {r.value('rps'):.0f} req/s, app cores "
        + ("?" if r.server_app_cores is None else f"{r.server_app_cores:.2f}")
        for r, share in hit
    )
    return (
        f"saturated closed loop ({who}: {detail}): more than {100 * SATURATED_WAITING:.0f} % of the {users:g} "
        "users were waiting for an answer at any moment (requests/s x average latency / users), so the server, "
        "not the users' think time, set the load: each setup faced a different load and its average latency is "
        "mostly queueing — a server that answers some requests fast and makes others wait can lead by average "
        "with the worst tail. Compare p99 and max, or ask for the rate each sustains within an objective: "
        "load_profile=capacity"
    )


def findings(
    rows: list[Row], unranked: dict[int, set[str]] | None = None, users: float | None = None
) -> list[Finding]:
    """Headlines, significance and the original's conclusions, from valid rows only. `unranked`: per workers
    value, the scenarios that were run but have no valid run (named where a conclusion needs them). `users`:
    the seed profile's users, to tell a closed loop the server throttled (the headline says so)."""
    if not rows:
        return []
    unranked = unranked or {}
    throttled = {id(r) for r, _ in saturated(rows, users)}
    key, desc, lower = primary_metric(rows)
    out: list[Finding] = []
    for (workers, conc), group in _groups(rows).items():
        where = f"workers={workers}" + (f", concurrency {conc}" if conc is not None else "")
        ranked = _best_first(group, key, lower)
        best = ranked[0]
        ranking = ", ".join(f"{r.scenario} {r.value(key):.1f}" for r in ranked)
        text = (
            f"{where}: fastest by {desc} is {best.scenario} ({best.value(key):.1f} {_unit(key)}). "
            f"Ranking: {ranking} {_unit(key)}."
        )
        if key == "avg" and all(id(r) in throttled for r in group):
            text += (
                " Every setup saturated the server (a closed loop it throttled, see the warnings): this "
                "average is queueing, rank by p99 or with load_profile=capacity."
            )
        out.append(Finding("headline", text))
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
        out.extend(_original_conclusions(where, group, key, desc, lower, unranked.get(workers, set())))
    return out


def _original_conclusions(
    where: str, group: list[Row], key: str, desc: str, lower: bool, unranked: set[str] = frozenset()
) -> list[Finding]:
    by = {r.scenario: r for r in group}
    originals = [r for r in group if r.scenario in ORIGINAL_SEVEN]
    ranked = _best_first(originals, key, lower)
    out = []

    def missing(*names):
        return [f"{n} (no valid run)" if n in unranked else n for n in names if n not in by]

    def better(a: Row, b: Row) -> bool:
        return a.value(key) < b.value(key) if lower else a.value(key) > b.value(key)

    # 1. The uWSGI protocol behind nginx is best.
    title = "1. uWSGI protocol behind nginx (nginx-uwsgi) is the best setup"
    if "nginx-uwsgi" not in by or len(ranked) < 2:
        out.append(
            Finding(
                "conclusion",
                f"{title}: cannot check at {where} (needs nginx-uwsgi"
                + (" (no valid run)" if "nginx-uwsgi" in unranked else "")
                + " and another of the original seven scenarios)",
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


def seed_users(rs: RunSet) -> float | None:
    """The closed loop's users, from run.json's variables (None when absent or not a number)."""
    users = (rs.meta.get("variables") or {}).get("users")
    return (
        float(users) if isinstance(users, int | float) and not isinstance(users, bool) and users > 0 else None
    )


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


# Warnings are grouped: one line per kind, naming the runs (or summary rows) it concerns. key -> (label, what it
# means). "reason:<kind>" are the reasons of invalid runs (not ranked), the others never exclude a run.
GROUPS = {
    "failed": ("FAILED", "not measured, not ranked (logs in each run's logs/)"),
    "unfinished": ("UNFINISHED", "no status.json, not ranked (re-run bench.yml with the same run_id)"),
    "not-run": ("NOT RUN", "in run.json's plan, no folder"),
    "reason:errors": ("too many failed requests", "invalid, not ranked"),
    "reason:backend": ("a backend unhealthy", "invalid, not ranked"),
    "reason:request": ("the probe's request failed", "invalid, not ranked"),
    "reason:processes": ("server restarted or workers died", "invalid, not ranked"),
    "reason:results": ("results failed their sanity checks", "invalid, not ranked"),
    "reason:client": (
        "client-bound",
        "the load generator, not the server, set the pace: invalid, not ranked",
    ),
    "old-client-bound": (
        "client-bound",
        "flagged by an older whiskey, which still ranked the run: the load generator, not the server, set the pace",
    ),
    "not-judged": (
        "not judged (results from an older whiskey)",
        "status 'ok' without a verdict: ranked as valid, but errors, backend, processes and client were not checked",
    ),
    "client": ("client check incomplete", None),
    "probe": ("probe incomplete", None),
    "telemetry": ("telemetry", None),
    "results": ("results", None),
    "context": ("verdict context", None),
    "failed requests": ("failed requests in the measurement window", None),
    "single repeat": ("only 1 repeat, no confidence interval", "use repeats >= 2"),
}
MAX_DETAILS = 8


def group_lines(entries: list[tuple[str, str, str]], unit: str = "run") -> list[str]:
    """[(key, who, message)] -> one line per key: "<label> (<n> runs: a, b): <meaning>; a: <message>; ..."."""
    order = list(GROUPS)
    by: dict[str, dict[str, list[str]]] = {}
    for key, who, message in entries:
        msgs = by.setdefault(key, {}).setdefault(who, [])
        if message and message not in msgs:
            msgs.append(message)
    out = []
    for key in sorted(by, key=lambda k: (order.index(k) if k in order else len(order), k)):
        if key in GROUPS:
            label, meaning = GROUPS[key]
        elif key.startswith("reason:"):
            label, meaning = key.removeprefix("reason:"), "invalid, not ranked"
        else:
            label, meaning = key, None
        whos = by[key]
        n = len(whos)
        names = ", ".join(whos)
        line = f"{label} ({n} {unit}{'' if n == 1 else 's'}: {names})"
        # Each distinct message once: alone when every run of the kind has it, else after the runs it concerns.
        messages: dict[str, list[str]] = {}
        for who, msgs in whos.items():
            for m in msgs:
                messages.setdefault(m, []).append(who)
        details = [m if len(ws) == n else f"{', '.join(ws)}: {m}" for m, ws in messages.items()]
        if len(details) > MAX_DETAILS:
            details = [*details[:MAX_DETAILS], f"and {len(details) - MAX_DETAILS} more (see the Runs table)"]
        parts = ([meaning] if meaning else []) + details
        out.append(line + (": " + "; ".join(parts) if parts else ""))
    return out


def _problem_kind(message: str) -> str:
    return "telemetry" if "telemetry" in message else "results"


def warnings(rs: RunSet, rows: list[Row]) -> list[str]:
    """What a reader must see, grouped by kind (one line per kind naming the runs it concerns)."""
    out = list(rs.problems)
    boxed = _container_warning(rs)
    if boxed:
        out.append(boxed)
    throttled = _saturation_warning(rows, seed_users(rs))
    if throttled:
        out.append(throttled)
    entries: list[tuple[str, str, str]] = []
    for run in rs.runs:
        who = run.label
        if run.state == "failed":
            reasons = [r["message"] for r in run.reasons if r.get("message")]
            entries.append(("failed", who, "; ".join(reasons) if reasons else run.error or "no error given"))
            continue
        if run.state == "unfinished":
            entries.append(("unfinished", who, ""))
            continue
        if run.state == "invalid":
            for r in run.reasons or [{"kind": "other", "message": "no reason given"}]:
                entries.append((f"reason:{r['kind']}", who, r["message"]))
        if not run.judged:
            entries.append(("not-judged", who, ""))
            if run.status.get("client_bound"):
                reasons = "; ".join(run.status.get("client_bound_reasons") or []) or "no reason given"
                entries.append(("old-client-bound", who, reasons))
        for w in run.warns:
            entries.append((w["kind"], who, w["message"]))
        for p in run.problems:
            if run.state == "invalid" and p in run.result_errors:
                continue  # already a reason
            entries.append((_problem_kind(p), who, p))
        if not run.measurements and run.capacity is None and not run.problems and run.state == "valid":
            entries.append(("results", who, "no measurements"))
    for w, s, rep in rs.expected_missing:
        entries.append(("not-run", f"{w}/{s}/{rep}", ""))
    out += group_lines(entries)
    row_entries: list[tuple[str, str, str]] = []
    for row in rows:
        if row.failure_pct and row.failure_pct > 0:
            row_entries.append(
                ("failed requests", row.label, f"{row.failures} of {row.requests} ({row.failure_pct:.2f}%)")
            )
        if row.repeats < 2:
            row_entries.append(("single repeat", row.label, ""))
    out += group_lines(row_entries, unit="row")
    return out


def drifted(rows: list) -> dict[int, dict[int, float]]:
    """The workers values whose complete repeats' levels differ by more than DRIFT_WARN, with those levels."""
    return {
        w: level
        for w, level in repeat_levels(rows).items()
        if max(level.values()) / min(level.values()) - 1 > DRIFT_WARN
    }


def capacity_drift(rows: list) -> list[str]:
    """A warning per workers value whose complete repeats' levels (summary.repeat_levels) differ by more than
    DRIFT_WARN: the machine itself got faster or slower between repeats, so a scenario's CV measures the machine
    as much as the setup."""
    out = []
    for workers, level in drifted(rows).items():
        n = len([r for r in rows if r.workers == workers])
        first, last = level[min(level)], level[max(level)]
        out.append(
            f"the machine drifted between repeats (workers={workers}): the geometric mean of the {n} scenarios' "
            f"capacities was {', '.join(f'{v:.0f}' for _, v in sorted(level.items()))} req/s in repeats "
            f"{', '.join(str(r) for r in sorted(level))} ({100.0 * (last / first - 1):+.0f} % from the first to "
            f"the last). Every scenario runs once before any runs again, so the drift moved all of them: their CVs "
            "and confidence intervals measure the machine as much as the setups; compare the 'relative' column "
            "(each capacity / its repeat's geometric mean) and repeat on quieter hardware before ranking"
        )
    return out


def capacity_findings(rows: list) -> list[Finding]:
    """The capacity bench in one plain sentence per workers value: who sustains the most within the objective,
    with its 95 % CI, and who is within noise of it (overlapping CIs). Only rows with >= 2 valid repeats are
    ranked (a CI needs two). When the machine drifted between repeats (capacity_drift), the order and the noise
    are those of the relative capacities (each / its repeat's level: a comparison within each pass), said so."""
    out: list[Finding] = []
    drift = drifted(rows)
    for workers in sorted({r.workers for r in rows}):
        group = [r for r in rows if r.workers == workers]
        paired = workers in drift and all(r.relative is not None for r in group if r.repeats >= 2)

        def ci(r, paired=paired):
            return r.relative if paired else r.ci

        ranked = sorted((r for r in group if r.repeats >= 2), key=lambda r: ci(r).mean, reverse=True)
        short = [f"{r.scenario} ({r.repeats})" for r in group if r.repeats < 2]
        if not ranked:
            out.append(
                Finding(
                    "headline",
                    f"workers={workers}: no ranking is possible with fewer than 2 valid repeats per scenario "
                    f"(valid repeats: {', '.join(short)}).",
                )
            )
            continue
        best = ranked[0]
        ge = "at least " if best.censored else ""
        slo = f"p99 ≤ {best.slo_p99_ms:g} ms" if best.slo_p99_ms is not None else "the objective"
        noise = [r for r in ranked[1:] if cis_overlap(ci(best), ci(r))]
        below = [r for r in ranked[1:] if r not in noise]

        def one(r, paired=paired) -> str:
            if paired:
                rel = r.relative
                return f"{r.scenario} {'≥' if r.censored else ''}{r.ci.mean:.0f} req/s (relative {rel.mean:.3f}, 95 % CI {rel.low:.3f}–{rel.high:.3f})"
            return f"{r.scenario} {'≥' if r.censored else ''}{r.ci.mean:.0f} req/s (95 % CI {r.ci.low:.0f}–{r.ci.high:.0f})"

        text = (
            f"On this hardware (workers={workers}), {best.scenario} sustains the most: {ge}{best.ci.mean:.0f} req/s "
            f"within {slo} (95 % CI {best.ci.low:.0f}–{best.ci.high:.0f}, {best.repeats} repeats); within noise of "
            f"it: {', '.join(one(r) for r in noise) if noise else 'none'}"
        )
        if below:
            text += f"; below it: {', '.join(one(r) for r in below)}"
        if short:
            text += f"; not ranked (fewer than 2 valid repeats): {', '.join(short)}"
        if paired:
            text += (
                ". The machine drifted between repeats (see the warnings): this order and who is within noise are "
                f"by capacity relative to each repeat's level ({best.scenario} {best.relative.mean:.3f}, 95 % CI "
                f"{best.relative.low:.3f}–{best.relative.high:.3f})"
            )
        out.append(Finding("headline", text + "."))
    return out
