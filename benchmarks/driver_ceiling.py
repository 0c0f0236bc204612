#!/usr/bin/env python3
"""How fast, and how exactly, does the capacity profile's driver send? vegeta alone against a near-free endpoint.

For each rate it holds the rate for --seconds (after --warmup at that rate, not counted) against URL (nginx's
/whiskey/ping on a server, or any endpoint that costs nothing), exactly as a step of the capacity search does
(whiskey_load.py's StepRun: vegeta attack | vegeta encode, latency from each request's intended send time), and
prints per rate: the achieved rate as a share of the intended one, p50 / p99 / max latency from the intended send
time, the driver's own send lag p99, and the CPU the driver used (cores). The driver's ceiling is the highest rate
that meets the aim.

The aim (the capacity verdict's rules, roles/bench: a capacity is a result only when the driver alone at that rate
misses the rate by at most 1 % and its p99 is at most a tenth of the objective): achieved within --max-miss-pct of
intended and p99 <= --max-p99-ms (default 10 ms: a tenth of the default 100-ms objective).

  benchmarks/driver_ceiling.py --url http://whiskey-server:8080 --rates 500,1000,2000,5000,10000
  benchmarks/driver_ceiling.py --url http://127.0.0.1:8080 --path /whiskey/ping --json ceiling.json --fail-on-aim 2000

Run it on a client host (its venv has nothing to add: stdlib only) or on the controller against the lab.
Exit status: 0 when measured, 1 when --fail-on-aim RATE is given and a rate up to RATE misses the aim,
2 on bad arguments, 3 when the driver failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "roles/locust/files"


def _load():
    sys.path.insert(0, str(FILES))
    spec = importlib.util.spec_from_file_location("whiskey_load", FILES / "whiskey_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(wl, vegeta: str, url: str, path: str, rate: float, seconds: float, warmup: float) -> dict:
    args = SimpleNamespace(
        vegeta=vegeta, slo_p99_ms=100.0, slo_error_pct=100.0, step_time=seconds, step_warmup=warmup,
        request_timeout=10,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "targets.txt"
        targets.write_text(f"GET {url.rstrip('/')}{path}\n")
        rec = wl.Recorder(None, processes=1)
        doc = wl.StepRun(args, rec, targets, rate, f"rate-{rate:g}", judged=False).run()
    run = rec.runs[-1]
    achieved = doc["achieved_rate"]
    return {
        "rate": rate,
        "achieved_rate": achieved,
        "achieved_share": None if achieved is None else round(achieved / rate, 5),
        "answered": doc["answered"],
        "errors": doc["errors"],
        "latency_ms": doc["latency_ms"],
        "send_lag_p99_ms": doc["send_lag_ms"]["p99"],
        "driver_cores": round(run["cpu_s"] / run["wall_s"], 3) if run["wall_s"] else None,
    }


def meets(row: dict, max_miss_pct: float, max_p99_ms: float) -> bool:
    share = row["achieved_share"]
    p99 = row["latency_ms"]["p99"]
    return (
        share is not None
        and abs(1 - share) * 100 <= max_miss_pct
        and p99 is not None
        and p99 <= max_p99_ms
        and row["errors"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="base URL of a near-free endpoint's server")
    parser.add_argument("--path", default="/whiskey/ping", help="(default %(default)s)")
    parser.add_argument("--rates", default="500,1000,2000,5000", help="requests/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at each rate first, not counted")
    parser.add_argument(
        "--vegeta", default=str(next((ROOT / ".cache/vegeta").glob("vegeta-*-linux-*"), "vegeta")),
        help="vegeta binary (default: the one scripts/setup.sh built)",
    )  # fmt: skip
    parser.add_argument("--max-miss-pct", type=float, default=1.0)
    parser.add_argument("--max-p99-ms", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--fail-on-aim", type=float, default=None, metavar="RATE")
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rates={args.rates!r}: comma-separated numbers, e.g. 500,1000")
    if not rates or any(r <= 0 for r in rates):
        parser.error(f"--rates={args.rates!r}: every rate must be above 0")
    wl = _load()
    rows = []
    try:
        for rate in rates:
            rows.append(measure(wl, args.vegeta, args.url, args.path, rate, args.seconds, args.warmup))
    except wl.DriverError as exc:
        print(f"driver_ceiling: {exc}", file=sys.stderr)
        return 3
    print(
        f"{'rate/s':>8} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lag p99':>7} {'cores':>5}  aim"
    )
    for row in rows:
        lat = row["latency_ms"]
        share = "-" if row["achieved_share"] is None else f"{100 * row['achieved_share']:.2f}%"
        ok = "ok" if meets(row, args.max_miss_pct, args.max_p99_ms) else "MISSED"
        print(
            f"{row['rate']:>8g} {share:>9} {lat['p50'] or 0:>7.2f} {lat['p99'] or 0:>7.2f} {lat['max'] or 0:>7.2f} "
            f"{row['send_lag_p99_ms'] or 0:>7.2f} {row['driver_cores'] or 0:>5.2f}  {ok}"
        )
    ceiling = max((r["rate"] for r in rows if meets(r, args.max_miss_pct, args.max_p99_ms)), default=None)
    print(f"ceiling (highest rate meeting the aim): {ceiling if ceiling is not None else 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ceiling": ceiling}, indent=1) + "\n")
    if args.fail_on_aim is not None and any(
        r["rate"] <= args.fail_on_aim and not meets(r, args.max_miss_pct, args.max_p99_ms) for r in rows
    ):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
