"""The benchmark loop's logic, as Ansible filters (roles/bench): the run plan, the fingerprint of a run, the resume
decision, run.json and the context the verdict reads. Pure functions over plain data: tests/test_whiskey_bench.py
exercises each without a host.

Fingerprint: a run is only comparable with another run measured under the same conditions. The fingerprint is
a dict of named parts (bench variables, the scenario's row, workers, component versions, the whiskey commit, the
hosts' shape, and after the switch the rendered server and nginx configuration), each hashed; a resume skips a
finished run only when every part it recorded still matches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# The bench variables that shape a measurement (what the load is, how long, against what). Not here: run_id,
# force, scenarios/workers/repeats (they select runs; each run's own scenario and workers are parts of its own).
SHAPING_VARIABLES = (
    "load_profile",
    "load_driver",
    "users",
    "spawn_rate",
    "run_time_s",
    "warmup_s",
    "concurrency",
    "level_time_s",
    "corpus_size",
    "telemetry_interval",
    "slo_p99_ms",
    "slo_error_pct",
    "step_time_s",
    "step_warmup_s",
    "start_rate",
    "max_rate",
    "rate_resolution_pct",
)
CAPACITY_VARIABLES = SHAPING_VARIABLES[-7:]
# whiskey_capacity.SearchPlan's max_steps (the driver's): the budget of a capacity run.
CAPACITY_MAX_STEPS = 20
# Parts known before a run is switched on; `config` (the rendered server and nginx configuration) comes after.
PLANNED_PARTS = ("bench", "settings", "scenario", "workers", "versions", "commit", "hosts")
MEASURED = ("valid", "invalid", "ok")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:16]


def whiskey_run_plan(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (workers, scenario, repeat) in the order they run. Repeats outermost, so a second repeat is not
    measured right after the first (drift spreads over all scenarios)."""
    runs: list[dict[str, Any]] = []
    for repeat in range(1, int(bench["repeats"]) + 1):
        for workers in bench["workers"]:
            for scenario in bench["scenarios"]:
                runs.append(
                    {
                        "workers": int(workers),
                        "scenario": scenario,
                        "repeat": repeat,
                        "index": len(runs) + 1,
                        "dir": f"{int(workers)}/{scenario}/{repeat}",
                    }
                )
    return runs


def whiskey_fingerprint(parts: dict[str, Any]) -> dict[str, Any]:
    """{'parts': {name: value}, 'digests': {name: sha}, 'sha256': sha over all}. Values are kept (small, and what
    a mismatch message names); digests make comparison exact."""
    digests = {name: _digest(value) for name, value in sorted(parts.items())}
    return {"sha256": _digest(digests), "digests": digests, "parts": parts}


def _show(value: Any, width: int = 80) -> str:
    text = _canonical(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def whiskey_fingerprint_diff(old: dict[str, Any] | None, new: dict[str, Any], only: Any = None) -> list[str]:
    """Names what differs between an earlier run's fingerprint and this invocation's, one string per part:
    "bench.users: 500 -> 100". `only` limits the comparison to those parts (default: the parts both have)."""
    if not old or not isinstance(old, dict) or "digests" not in old:
        return ["fingerprint: the earlier run has none (measured by an older whiskey)"]
    names = list(only) if only else sorted(set(old["digests"]) & set(new["digests"]))
    out: list[str] = []
    for name in names:
        a, b = old["digests"].get(name), new["digests"].get(name)
        if a == b:
            continue
        va = (old.get("parts") or {}).get(name)
        vb = (new.get("parts") or {}).get(name)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys = sorted(set(va) | set(vb))
            changed = [k for k in keys if _canonical(va.get(k)) != _canonical(vb.get(k))]
            out.extend(f"{name}.{k}: {_show(va.get(k))} -> {_show(vb.get(k))}" for k in changed)
            if not changed:
                out.append(f"{name}: changed")
        else:
            out.append(f"{name}: {_show(va)} -> {_show(vb)}")
    return out


def whiskey_planned_fingerprint(
    run: dict[str, Any], common: dict[str, Any], scenarios: list[dict[str, Any]]
) -> dict[str, Any]:
    """The fingerprint of one planned run before it is switched on: the common parts plus its scenario row and
    workers."""
    row = next((s for s in scenarios if s.get("name") == run["scenario"]), None)
    return whiskey_fingerprint({**common, "scenario": row, "workers": int(run["workers"])})


def whiskey_common_parts(
    bench: dict[str, Any],
    settings: dict[str, Any],
    versions: dict[str, Any],
    commit: str,
    hosts: dict[str, Any],
) -> dict[str, Any]:
    """The parts every run of one invocation shares. `settings`: role settings that shape a measurement
    (nginx_gzip, the Elasticsearch heap, the driver's path...). `hosts`: name -> {role, cores, memory_mb,
    cpu_model} (the kernel is left out: a rebooted VM is the same experiment)."""
    shape = {
        name: {k: h.get(k) for k in ("role", "cores", "memory_mb", "cpu_model")}
        for name, h in sorted(hosts.items())
    }
    # Only what the profile uses: a seed run does not change when the throughput levels do, nor the reverse.
    unused = {
        "seed": ("load_driver", "concurrency", "level_time_s", *CAPACITY_VARIABLES),
        "capacity": ("load_driver", "users", "spawn_rate", "run_time_s", "concurrency", "level_time_s"),
    }.get(bench.get("load_profile"), ("users", "spawn_rate", "run_time_s", *CAPACITY_VARIABLES))
    return {
        "bench": {k: bench.get(k) for k in SHAPING_VARIABLES if k not in unused},
        "settings": settings,
        "versions": versions,
        "commit": commit,
        "hosts": shape,
    }


def whiskey_resume(
    plan: list[dict[str, Any]],
    statuses: dict[str, Any],
    common: dict[str, Any],
    scenarios: list[dict[str, Any]],
    force: bool = False,
) -> dict[str, Any]:
    """Decide, before anything is measured, what a (re-)run of `plan` does with the results already there.

    statuses: dir -> status.json document (or None) for every run folder found under the run's root, planned or
    not. A measured run (valid or invalid) from other conditions would be mixed into the same report: unless
    force, that stops the bench, naming what differs. Returns {'runs': [plan entries with 'action': 'skip' |
    'measure' | 'redo' and 'why'], 'conflicts': [{'dir', 'differs'}], 'message': str}. redo = the old folder is
    moved aside first (nothing measured is overwritten).
    """
    conflicts = []
    planned_dirs = {r["dir"] for r in plan}
    for run_dir, status in sorted(statuses.items()):
        if not isinstance(status, dict) or status.get("status") not in MEASURED:
            continue
        if run_dir in planned_dirs:
            entry = next(r for r in plan if r["dir"] == run_dir)
            new = whiskey_planned_fingerprint(entry, common, scenarios)
            differs = whiskey_fingerprint_diff(status.get("fingerprint"), new, only=PLANNED_PARTS)
        else:
            # Not planned this time, but in the same report: the shared conditions must match.
            new = whiskey_fingerprint(common)
            differs = whiskey_fingerprint_diff(status.get("fingerprint"), new, only=tuple(common))
        if differs:
            conflicts.append({"dir": run_dir, "differs": differs})
    runs = []
    for entry in plan:
        status = statuses.get(entry["dir"])
        state = status.get("status") if isinstance(status, dict) else None
        if entry["dir"] not in statuses:
            # A folder without status.json (an interrupted attempt) is still moved aside before measuring.
            action, why = "measure", "not measured yet"
        elif force:
            action, why = "redo", f"force=true (earlier: {state})"
        elif state in ("valid", "ok") and not any(c["dir"] == entry["dir"] for c in conflicts):
            action, why = "skip", f"done earlier ({state}), same fingerprint"
        else:
            action, why = "redo", f"earlier attempt was {state or 'unreadable'}"
        runs.append({**entry, "action": action, "why": why})
    message = ""
    if conflicts and not force:
        lines = [
            f"{c['dir']}: " + "; ".join(c["differs"][:6]) + (" …" if len(c["differs"]) > 6 else "")
            for c in conflicts[:10]
        ]
        more = f" (and {len(conflicts) - 10} more runs)" if len(conflicts) > 10 else ""
        message = (
            f"this run_id already holds {len(conflicts)} measured run(s) from another experiment{more}; "
            "resuming would mix them into one report. What differs: "
            + " | ".join(lines)
            + ". Use another run_id, or force=true to redo the planned runs (old folders are moved aside)."
        )
    return {"runs": runs, "conflicts": conflicts if not force else [], "message": message}


def whiskey_run_json(
    previous: dict[str, Any] | None, invocation: dict[str, Any], base: dict[str, Any]
) -> dict:
    """run.json: the run's description (base: run_id, variables, scenarios, hosts, versions, calibration,
    commit) with `invocations` keeping every invocation's settings; `started` is the first invocation's."""
    previous = previous if isinstance(previous, dict) else {}
    invocations = list(previous.get("invocations") or [])
    if not invocations and previous.get("variables"):
        # run.json of an older whiskey: its one invocation is kept.
        invocations.append(
            {
                "at": previous.get("started"),
                "variables": previous.get("variables"),
                "whiskey_commit": previous.get("whiskey_commit"),
            }
        )
    invocations.append(invocation)
    doc = {**base, "invocations": invocations}
    doc["started"] = previous.get("started") or invocation.get("at")
    doc["ended"] = None
    return doc


def whiskey_verdict_context(
    run: dict[str, Any],
    bench: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The context file the report package's verdict reads (docs/results-format.md): this run's attributes
    from the loop, plus `extra` (url, path, driver, clients, started, ended, errors, telemetry_errors,
    fingerprint, calibration, client_cores, thresholds...)."""
    profile = bench["load_profile"]
    levels = profile == "throughput"
    return {
        "workers": int(run["workers"]),
        "scenario": run["scenario"],
        "repeat": int(run["repeat"]),
        "profile": profile,
        "warmup_s": int(bench["warmup_s"]),
        # a capacity search's length depends on what it finds: its status.json has load_s instead
        "duration_s": None if profile == "capacity" else whiskey_run_budget_s(bench) - int(bench["warmup_s"]),
        "concurrency": list(bench["concurrency"]) if levels else [],
        "level_time_s": int(bench["level_time_s"]) if levels else None,
        "stats_reset": profile == "seed",
        **({"search": {k: bench.get(k) for k in CAPACITY_VARIABLES}} if profile == "capacity" else {}),
        **extra,
    }


def whiskey_run_budget_s(bench: dict[str, Any]) -> int:
    """Seconds of load one run applies (warm-up included): the one formula the loop's estimate, the driver's
    time limit and the status use."""
    profile = bench["load_profile"]
    if profile == "seed":
        load = int(bench["run_time_s"])
    elif profile == "capacity":
        # at most: every step of the search the whole step long, the driver's check (two steps long: its
        # DRIVER_CHECK_STEPS) and the wrk cross-check (one)
        load = (CAPACITY_MAX_STEPS + 3) * (int(bench["step_warmup_s"]) + int(bench["step_time_s"]))
    else:
        load = len(bench["concurrency"]) * int(bench["level_time_s"])
    return int(bench["warmup_s"]) + load


def whiskey_statuses(root: str) -> dict[str, Any]:
    """dir -> status.json document (None when unreadable) of every run folder below results/<run_id>/
    (<workers>/<scenario>/<repeat>/; folders moved aside, <repeat>.old-*, are history and not read)."""
    base = Path(root)
    found: dict[str, Any] = {}
    if not base.is_dir():
        return found
    for path in sorted(base.glob("*/*/*/status.json")):
        rel = path.parent.relative_to(base)
        if not rel.parts[2].isdigit() or not rel.parts[0].isdigit():
            continue
        try:
            found[rel.as_posix()] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found[rel.as_posix()] = None
    return found


def whiskey_host_shape(facts: list[dict[str, Any]], names: list[str], server: str) -> dict[str, Any]:
    """run.json's `hosts`: name -> {role, address, cpu_model, cores, memory_mb, kernel, distribution,
    virtualization} from each host's gathered facts (hostvars[name])."""
    out = {}
    for name, hv in zip(names, facts, strict=True):
        f = (hv or {}).get("ansible_facts") or {}
        proc = f.get("processor") or ["?"]
        out[name] = {
            "role": "server" if name == server else "client",
            "address": (hv or {}).get("whiskey_address") or name,
            "cpu_model": proc[2] if len(proc) > 2 else proc[-1],
            "cores": f.get("processor_vcpus"),
            "memory_mb": f.get("memtotal_mb"),
            "kernel": f.get("kernel"),
            "distribution": f"{f.get('distribution', '?')} {f.get('distribution_version', '')}".strip(),
            "virtualization": f.get("virtualization_type"),
        }
    return out


def whiskey_summary(plan: list[dict[str, Any]], statuses: dict[str, Any]) -> dict[str, Any]:
    """Counts of the plan's verdicts after the loop, and the runs that are not results, with their reasons."""
    counts: dict[str, int] = {}
    not_results = []
    for entry in plan:
        status = statuses.get(entry["dir"])
        verdict = (status or {}).get("status", "missing") if isinstance(status, dict) else "missing"
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict not in ("valid", "ok"):
            reasons = [
                r.get("message", "") for r in (status or {}).get("reasons") or [] if isinstance(r, dict)
            ]
            if (status or {}).get("error"):
                reasons.insert(0, status["error"])
            not_results.append(f"{entry['dir']} {verdict}: " + ("; ".join(reasons) or "no status.json"))
    line = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    overheads = [_overhead_s(statuses.get(e["dir"])) for e in plan]
    overheads = [o for o in overheads if o is not None]
    overhead = {
        "runs": len(overheads),
        "mean_s": round(sum(overheads) / len(overheads), 1) if overheads else None,
        "max_s": round(max(overheads), 1) if overheads else None,
    }
    if overheads:
        line += f"; loop overhead {overhead['mean_s']} s per run (wall time beyond warm-up and measured load)"
    return {
        "counts": counts,
        "line": f"{len(plan)} runs: {line}",
        "not_results": not_results,
        "overhead": overhead,
    }


def _overhead_s(status: Any) -> float | None:
    """Wall seconds of a run beyond its warm-up and measured load: switching, probes, telemetry, fetching."""
    from datetime import datetime

    if not isinstance(status, dict) or not status.get("started") or not status.get("ended"):
        return None
    try:
        wall = (
            datetime.fromisoformat(status["ended"].replace("Z", "+00:00"))
            - datetime.fromisoformat(status["started"].replace("Z", "+00:00"))
        ).total_seconds()
        load = status.get("load_s") if status.get("duration_s") is None else status.get("duration_s")
        if load is None:
            return None
        return wall - float(status.get("warmup_s") or 0) - float(load)
    except (TypeError, ValueError):
        return None


def whiskey_probe_argv(
    app: dict[str, Any], backends: list[dict[str, Any]], corpus_size: int, run_index: int
) -> list[str]:
    """The probe's arguments for the app under test (after --url and --program): its health path, its answer
    checks (the built-in `verify` {check, index}, else one --check per request of its mix, {id} one of two ids of
    1..corpus_size picked by the run's index; an app driven only by its locustfile: its health path), and one
    --backend per backend it needs (`backends`: the app's entries of the backends table, each with name and
    probe {kind, url})."""
    argv = ["--health", app["health"], "--corpus-size", str(int(corpus_size)), "--seed", str(int(run_index))]
    by_name = {b["name"]: b for b in backends}
    verify = app.get("verify") or {}
    if verify.get("check") == "quotes":
        es = by_name["elasticsearch"]["probe"]["url"]
        argv += ["--verify", "quotes", "--es-url", es, "--index", verify["index"]]
    else:
        for path in [r["path"] for r in app.get("requests") or []] or [app["health"]]:
            argv += ["--check", path]
    for b in backends:
        probe = b.get("probe") or {}
        argv += ["--backend", f"{b['name']}={probe.get('kind', 'http')}:{probe['url']}"]
    return argv


class FilterModule:
    def filters(self):
        return {
            "whiskey_run_plan": whiskey_run_plan,
            "whiskey_fingerprint": whiskey_fingerprint,
            "whiskey_fingerprint_diff": whiskey_fingerprint_diff,
            "whiskey_planned_fingerprint": whiskey_planned_fingerprint,
            "whiskey_common_parts": whiskey_common_parts,
            "whiskey_resume": whiskey_resume,
            "whiskey_run_json": whiskey_run_json,
            "whiskey_verdict_context": whiskey_verdict_context,
            "whiskey_run_budget_s": whiskey_run_budget_s,
            "whiskey_statuses": whiskey_statuses,
            "whiskey_host_shape": whiskey_host_shape,
            "whiskey_summary": whiskey_summary,
            "whiskey_probe_argv": whiskey_probe_argv,
        }
