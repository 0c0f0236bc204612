"""The throughput profile's levels: the drivers' raw files of one run -> throughput.json (docs/results-format.md).

Each level is one concurrency measured for level_time seconds: wrk writes wrk-c<N>.json per client (summed here:
every client loads its share of the connections at once), Locust writes locust-c<N>_stats.csv (the master's,
already merged over its workers) and locust-c<N>_failures.csv. The verdict calls `write_throughput` before it
judges a throughput run, so the loop never parses a driver's files itself.

Several clients' percentiles cannot be merged without their histograms: a merged level's p50/p90/p99/max is the
worst client's (an upper bound), its average is request-weighted, its rate the sum. A level's `window` (epoch
seconds, from driver.json: when its driver ran, over every client) is where the report takes its telemetry from,
so the warm-up and the other levels do not blur a level's CPU and memory.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from whiskey_report.loader import read_aggregated

LATENCY_KEYS = ("avg", "p50", "p90", "p99", "max")
# A Locust failure that is an HTTP answer with an error status (the others are connection errors).
HTTP_ERROR_RE = re.compile(r"HTTPError|status code|\b[45]\d\d\b")


def non_2xx(failures_csv: Path) -> int:
    if not failures_csv.is_file():
        return 0
    with failures_csv.open(encoding="utf-8", newline="") as fh:
        return sum(
            int(r.get("Occurrences") or 0)
            for r in csv.DictReader(fh)
            if HTTP_ERROR_RE.search(r.get("Error", ""))
        )


def level_from_wrk(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    lat = doc["latency_ms"]
    return {
        "requests": int(doc["requests"]),
        "errors": int(doc["errors"]) + int(doc["non_2xx"]),
        "non_2xx": int(doc["non_2xx"]),
        "duration_s": float(doc["duration_s"]),
        "rps": float(doc["rps"]),
        "latency_ms": {k: lat.get(k) for k in LATENCY_KEYS},
    }


def level_from_locust(prefix: Path, level_time: float | None) -> dict:
    stats = Path(f"{prefix}_stats.csv")
    total = read_aggregated(stats)
    if total is None:
        raise ValueError(f"{stats}: no Aggregated row")
    rps = total["rps"] or 0.0
    duration = total["requests"] / rps if rps else (level_time or 0.0)
    return {
        "requests": total["requests"],
        "errors": total["failures"],
        "non_2xx": non_2xx(Path(f"{prefix}_failures.csv")),
        "duration_s": round(duration, 3),
        "rps": rps,
        "latency_ms": {k: total[k] for k in LATENCY_KEYS},
    }


def merge_levels(parts: list[dict]) -> dict:
    """One level measured by several clients at once (see the module docstring)."""
    if len(parts) == 1:
        return parts[0]
    latency: dict[str, float | None] = {}
    for key in LATENCY_KEYS:
        values = [
            (p["latency_ms"][key], p["requests"]) for p in parts if p["latency_ms"].get(key) is not None
        ]
        if not values:
            latency[key] = None
        elif key == "avg":
            weight = sum(n for _, n in values)
            latency[key] = sum(v * n for v, n in values) / weight if weight else None
        else:
            latency[key] = max(v for v, _ in values)
    return {
        "requests": sum(p["requests"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "non_2xx": sum(p["non_2xx"] for p in parts),
        "duration_s": max(p["duration_s"] for p in parts),
        "rps": sum(p["rps"] for p in parts),
        "latency_ms": latency,
        "clients": len(parts),
    }


def driver_windows(folder: Path) -> dict[str, tuple[float, float]]:
    """label -> (start, end) epoch seconds of the recorded driver runs in FOLDER/driver.json (none when older)."""
    try:
        doc = json.loads((Path(folder) / "driver.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for entry in (doc.get("runs") or []) if isinstance(doc, dict) else []:
        if (
            isinstance(entry, dict)
            and entry.get("recorded")
            and "start_epoch" in entry
            and "end_epoch" in entry
        ):
            out[str(entry.get("label"))] = (float(entry["start_epoch"]), float(entry["end_epoch"]))
    return out


def normalise(dirs: list[Path], driver: str, level_time: float | None = None) -> dict:
    """wrk-c<N>.json of every client folder, or the master's locust-c<N>_stats.csv -> the throughput.json document."""
    by_level: dict[int, list[dict]] = {}
    windows: dict[int, list[tuple[float, float]]] = {}
    pattern = re.compile(r"^wrk-c(\d+)\.json$" if driver == "wrk" else r"^locust-c(\d+)_stats\.csv$")
    for folder in map(Path, dirs):
        ran = driver_windows(folder)
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            match = pattern.match(entry.name)
            if not match:
                continue
            level = int(match.group(1))
            part = (
                level_from_wrk(entry)
                if driver == "wrk"
                else level_from_locust(folder / f"locust-c{level}", level_time)
            )
            by_level.setdefault(level, []).append(part)
            if f"c{level}" in ran:
                windows.setdefault(level, []).append(ran[f"c{level}"])
    if not by_level:
        raise ValueError(f"no {driver} results in {', '.join(map(str, dirs))}")
    levels = []
    for concurrency in sorted(by_level):
        merged = merge_levels(by_level[concurrency])
        merged["rps"] = round(merged["rps"], 3)
        merged["latency_ms"] = {
            k: (round(v, 3) if v is not None else None) for k, v in merged["latency_ms"].items()
        }
        level = {"concurrency": concurrency, **merged}
        if windows.get(concurrency):
            level["window"] = {
                "start_epoch": min(w[0] for w in windows[concurrency]),
                "end_epoch": max(w[1] for w in windows[concurrency]),
            }
        levels.append(level)
    return {"driver": driver, "levels": levels}


def write_throughput(run_dir: Path, context: dict) -> str | None:
    """Write RUN_DIR/throughput.json of a throughput run from its raw files (kept when already there).

    Returns None, or why it could not be written (the verdict then counts the run as not measured)."""
    run_dir = Path(run_dir)
    target = run_dir / "throughput.json"
    if context.get("profile") != "throughput" or target.exists():
        return None
    driver = context.get("driver") or "wrk"
    dirs = [run_dir] if driver == "locust" else [Path(d) for d in (context.get("client_dirs") or [run_dir])]
    try:
        doc = normalise(dirs, driver, context.get("level_time_s"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"controller: the throughput levels could not be read: {type(exc).__name__}: {exc}"
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return None
