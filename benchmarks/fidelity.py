#!/usr/bin/env python3
"""Does Locust measure what wrk measures? The throughput sweep with both drivers, side by side.

  fidelity.py run      runs playbooks/loadtest.yml (throughput profile) once per driver (wrk, Locust
                       FastHttpUser) and endpoint (/quotes/byId, /quotes/sayHello) against the same scenarios,
                       as run ids <base>-<driver>-<endpoint>, then compares them
  fidelity.py compare  compares results already there (results/<base>-<driver>-<endpoint>/)

For every endpoint, workers value and scenario it prints the peak rate (best level) of each driver, Locust's as a
ratio of wrk's, and whether both drivers rank the scenarios the same way. A run marked client_bound in its
status.json is flagged: its rate says more about the client than the server.

The aim it checks (--fail-on-aim makes a miss exit 1): on /quotes/byId (backend-bound, what the bench measures)
Locust reaches >= 0.9 of wrk for every scenario; wherever Locust falls below 0.9 of wrk (typically /quotes/sayHello,
which has no backend) the bench itself must have flagged that Locust run client-bound. Each row's verdict is
`ok` (ratio >= 0.9), `flagged` (below, and the bench said client-bound) or `MISSED` (below and not flagged).

  benchmarks/fidelity.py run --base fid1 --interleave --scenarios gunicorn,nginx-uwsgi -- -e level_time=15s
  benchmarks/fidelity.py compare --base fid1 --json fidelity.json

Exit status: 0 when the comparison could be made, 1 when the drivers rank the scenarios differently
(--fail-on-rank-change) or the aim is missed (--fail-on-aim), 2 on bad arguments or missing results, 3 when a playbook run failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ("wrk", "locust")
ENDPOINTS = {"byId": "/quotes/byId?id={id}", "sayHello": "/quotes/sayHello"}
# The quote server's manifest, and where the per-endpoint variants are written (same app, one request each).
QUOTESERVER = ROOT / "app"
VARIANTS = ROOT / ".cache" / "fidelity"


def endpoint_app(endpoint: str, base: Path = VARIANTS) -> Path:
    """A folder whose whiskey-app.yml is the quote server's with the one request `endpoint` (its source and locks
    are the quote server's own, by absolute path: the server's venv is not rebuilt between endpoints)."""
    import yaml

    manifest = yaml.safe_load((QUOTESERVER / "whiskey-app.yml").read_text())
    manifest["source"] = str(QUOTESERVER)
    manifest["requirements"] = str(QUOTESERVER / manifest["requirements"])
    manifest["requests"] = [{"path": ENDPOINTS[endpoint], "weight": 1}]
    folder = base / endpoint
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "whiskey-app.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


AIM_RATIO = 0.9
# Endpoints where every scenario must reach the ratio; elsewhere a lower ratio is acceptable when it was flagged.
AIM_STRICT = ("byId",)


def run_id(base: str, driver: str, endpoint: str) -> str:
    return f"{base}-{driver}-{endpoint}"


def read_run(folder: Path) -> dict:
    """{(workers, scenario): {'peak_rps', 'levels', 'client_bound', 'status'}} of one results/<run_id>/ (the
    first repeat that finished ok, else the first one)."""
    found: dict[tuple[int, str], dict] = {}
    for status_file in sorted(folder.glob("*/*/*/status.json")):
        repeat_dir = status_file.parent
        if ".old-" in repeat_dir.name:
            continue
        status = json.loads(status_file.read_text())
        key = (int(status["workers"]), status["scenario"])
        entry = {"status": status["status"], "client_bound": bool(status.get("client_bound")), "levels": {}}
        throughput = repeat_dir / "throughput.json"
        # Measured runs: valid ones, and invalid ones (a client-bound run is what fidelity looks for); "ok" is
        # an older whiskey's word for measured.
        if status["status"] in ("valid", "invalid", "ok") and throughput.is_file():
            doc = json.loads(throughput.read_text())
            entry["levels"] = {lvl["concurrency"]: lvl["rps"] for lvl in doc["levels"]}
        entry["peak_rps"] = max(entry["levels"].values(), default=None)
        if key not in found or (found[key]["peak_rps"] is None and entry["peak_rps"] is not None):
            found[key] = entry
    return found


def ranking(rates: dict[str, float | None]) -> list[str]:
    """Scenarios from the highest rate to the lowest (those without a rate left out)."""
    measured = [(name, rps) for name, rps in rates.items() if rps is not None]
    return [name for name, _ in sorted(measured, key=lambda kv: -kv[1])]


def verdict(ratio: float | None, locust_client_bound: bool) -> str:
    if ratio is not None and ratio >= AIM_RATIO:
        return "ok"
    return "flagged" if locust_client_bound else "MISSED"


def aim(report: dict) -> dict:
    """{'met': bool, 'misses': [text, ...]} over every endpoint / workers / scenario of a comparison."""
    misses = []
    for endpoint, groups in report["endpoints"].items():
        strict = endpoint in AIM_STRICT
        for workers, group in groups.items():
            for row in group["rows"]:
                if row["verdict"] == "MISSED" or (strict and row["verdict"] != "ok"):
                    ratio = "no rate" if row["ratio"] is None else f"locust/wrk {row['ratio']:.2f}"
                    misses.append(
                        f"{endpoint} workers={workers} {row['scenario']}: {ratio} ({row['verdict']})"
                    )
    return {"ratio": AIM_RATIO, "strict_endpoints": list(AIM_STRICT), "met": not misses, "misses": misses}


def compare(results: Path, base: str) -> dict:
    report = {"base": base, "endpoints": {}}
    for endpoint in ENDPOINTS:
        runs = {driver: results / run_id(base, driver, endpoint) for driver in DRIVERS}
        if not all(folder.is_dir() for folder in runs.values()):
            continue
        data = {driver: read_run(folder) for driver, folder in runs.items()}
        by_workers: dict[int, dict] = {}
        for workers, scenario in sorted(set(data["wrk"]) | set(data["locust"])):
            wrk = data["wrk"].get((workers, scenario), {})
            loc = data["locust"].get((workers, scenario), {})
            wrk_rps, loc_rps = wrk.get("peak_rps"), loc.get("peak_rps")
            ratio = round(loc_rps / wrk_rps, 3) if wrk_rps and loc_rps is not None else None
            row = {
                "scenario": scenario,
                "wrk_rps": wrk_rps,
                "locust_rps": loc_rps,
                "ratio": ratio,
                "state": {"wrk": wrk.get("status", "not run"), "locust": loc.get("status", "not run")},
                "client_bound": {
                    "wrk": wrk.get("client_bound", False),
                    "locust": loc.get("client_bound", False),
                },
                "levels": {
                    str(level): {
                        "wrk": wrk.get("levels", {}).get(level),
                        "locust": loc.get("levels", {}).get(level),
                    }
                    for level in sorted(set(wrk.get("levels", {})) | set(loc.get("levels", {})))
                },
            }
            row["verdict"] = verdict(ratio, bool(row["client_bound"]["locust"]))
            by_workers.setdefault(workers, {"rows": []})["rows"].append(row)
        for group in by_workers.values():
            rank_wrk = ranking({r["scenario"]: r["wrk_rps"] for r in group["rows"]})
            rank_loc = ranking({r["scenario"]: r["locust_rps"] for r in group["rows"]})
            group["ranking"] = {"wrk": rank_wrk, "locust": rank_loc}
            # Compared over the scenarios both drivers measured (a failed run is a verdict row, not a rank change).
            both = set(rank_wrk) & set(rank_loc)
            group["same_ranking"] = [n for n in rank_wrk if n in both] == [n for n in rank_loc if n in both]
        report["endpoints"][endpoint] = {str(w): g for w, g in by_workers.items()}
    report["aim"] = aim(report)
    return report


def format_report(report: dict) -> str:
    lines = []
    if not report["endpoints"]:
        return f"no results for base {report['base']!r} (need <base>-wrk-<endpoint> and <base>-locust-<endpoint>)"
    for endpoint, groups in report["endpoints"].items():
        for workers, group in groups.items():
            lines.append(f"\n{ENDPOINTS[endpoint].split('?')[0]}  workers={workers}")
            lines.append(
                f"  {'scenario':<20} {'wrk req/s':>11} {'locust req/s':>13} {'locust/wrk':>11}  {'verdict':<8} note"
            )
            for row in group["rows"]:
                ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
                note = ", ".join(f"{d} client-bound" for d, bound in row["client_bound"].items() if bound)
                wrk_rps = f"{row['wrk_rps']:.1f}" if row["wrk_rps"] is not None else row["state"]["wrk"]
                loc_rps = (
                    f"{row['locust_rps']:.1f}" if row["locust_rps"] is not None else row["state"]["locust"]
                )
                lines.append(
                    f"  {row['scenario']:<20} {wrk_rps:>11} {loc_rps:>13} {ratio:>11}  {row['verdict']:<8} {note}"
                )
            verdict = "same" if group["same_ranking"] else "DIFFERENT"
            lines.append(f"  ranking: {verdict}  wrk: {' > '.join(group['ranking']['wrk'])}")
            if not group["same_ranking"]:
                lines.append(f"                  locust: {' > '.join(group['ranking']['locust'])}")
    goal = report["aim"]
    lines.append(
        f"\naim (locust >= {goal['ratio']} x wrk on {', '.join(goal['strict_endpoints'])}; below it elsewhere only "
        f"when flagged client-bound): {'met' if goal['met'] else 'NOT met'}"
    )
    lines += [f"  miss: {m}" for m in goal["misses"]]
    return "\n".join(lines).lstrip("\n")


def plan(args) -> list[tuple[str, str, list[str] | None]]:
    """The playbook runs, in order: (driver, endpoint, scenarios or None for the bench's default)."""
    endpoints = [e for e in ENDPOINTS if not args.endpoints or e in args.endpoints]
    if args.interleave:
        # Both drivers measure one scenario minutes apart: slow drift of a shared machine (caches, other load)
        # then hits both sides alike instead of biasing every ratio of one sweep.
        return [(d, e, [s]) for s in args.scenarios for e in endpoints for d in DRIVERS]
    return [(d, e, args.scenarios) for e in endpoints for d in DRIVERS]


def cmd_run(args) -> int:
    if args.interleave and not args.scenarios:
        print(
            "fidelity: --interleave needs --scenarios (one playbook run per scenario and driver)",
            file=sys.stderr,
        )
        return 2
    failed = []
    for driver, endpoint, scenarios in plan(args):
        argv = [
            "ansible-playbook",
            str(ROOT / args.playbook),
            "-e",
            "load_profile=throughput",
            "-e",
            f"load_driver={driver}",
            "-e",
            f"run_id={run_id(args.base, driver, endpoint)}",
            "-e",
            f"app={endpoint_app(endpoint)}",
            *(["-e", json.dumps({"scenarios": scenarios})] if scenarios else []),
            *args.extra,
        ]
        print(f"[fidelity] {driver} {endpoint}: {' '.join(argv)}", file=sys.stderr, flush=True)
        if subprocess.run(argv, cwd=ROOT, check=False).returncode != 0:
            failed.append(f"{driver}/{endpoint}" + (f"/{','.join(scenarios)}" if scenarios else ""))
    status = cmd_compare(args)
    if failed:
        print(f"[fidelity] playbook runs failed: {', '.join(failed)}", file=sys.stderr)
        return 3
    return status


def cmd_compare(args) -> int:
    report = compare(Path(args.results), args.base)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if not report["endpoints"]:
        return 2
    differs = any(not g["same_ranking"] for groups in report["endpoints"].values() for g in groups.values())
    if differs and args.fail_on_rank_change:
        return 1
    return 1 if args.fail_on_aim and not report["aim"]["met"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fidelity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("run", cmd_run), ("compare", cmd_compare)):
        p = sub.add_parser(name, help=func.__doc__)
        p.add_argument("--base", required=True, help="run id prefix: results/<base>-<driver>-<endpoint>/")
        p.add_argument(
            "--results", default=str(ROOT / "results"), help="results folder (default %(default)s)"
        )
        p.add_argument("--json", help="also write the comparison as JSON to this file")
        p.add_argument("--fail-on-rank-change", action="store_true", help="exit 1 when the rankings differ")
        p.add_argument("--fail-on-aim", action="store_true", help="exit 1 when the aim (see above) is missed")
        p.set_defaults(func=func)
        if name == "run":
            p.add_argument("--playbook", default="playbooks/loadtest.yml", help="relative to the repository")
            p.add_argument("--endpoints", nargs="*", choices=list(ENDPOINTS), help="default: both")
            p.add_argument(
                "--scenarios",
                type=lambda text: [x for x in text.split(",") if x],
                help="comma-separated scenarios (default: the bench's, i.e. all)",
            )
            p.add_argument(
                "--interleave",
                action="store_true",
                help="per scenario, run both drivers back to back (needs --scenarios; recommended on shared machines)",
            )
            p.add_argument("extra", nargs="*", help="after --: more ansible-playbook arguments (-e ...)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
