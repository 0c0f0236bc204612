#!/usr/bin/env python3
"""whiskey's load driver runner and calibration (stdlib only).

Shipped by the `locust` role to every client host. The drivers' files are read by the report package alone
(whiskey_report: the verdict, throughput.json, the report); this tool reads Locust's totals only for its own
checks (a run that made no request, the calibration's rate). Subcommands:

  wrk        throughput profile with wrk: a warm-up (not recorded), then one wrk run per concurrency level,
             raw output in wrk-c<N>.txt and wrk-c<N>.json.
  locust     seed profile (one Locust run, CSV prefix `locust`) or throughput profile with FastHttpUser (one
             Locust run per level, prefix `locust-c<N>`), after a warm-up that is not recorded. Standalone,
             several processes on this host (--processes) or distributed (--mode master / worker).
  calibrate  this client's ceiling with a driver against a near-free endpoint (nginx's /whiskey/ping).
  lease      keep a driver's lease alive and report its Ansible async job (the role's run.yml polls with it).

A driver started with --lease FILE stops itself, and every process it started, when FILE has not been touched for
--lease-timeout seconds: the controller polls the job with `lease`, which touches FILE, so a bench interrupted on
the controller (Ctrl-C, a lost connection) never leaves load running on the server.

Every measuring subcommand writes driver.json into its output folder: the commands, their exit codes, wall
time and the CPU the driver used (getrusage of its processes), so the verdict can tell a client-bound run.
Locust exits 1 when requests failed: that is recorded, not an error of this tool. Exit status: 0 when every
driver run produced its output, 2 on bad arguments, 3 when a driver crashed or produced nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PATH = "/quotes/byId?id={id}"
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


class DriverError(RuntimeError):
    """A driver crashed or produced no output."""


def descendants(pid: int) -> list[int]:
    """Every process below pid (children first seen, then theirs), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_everything(grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, every process this driver started."""
    for sig in (15, 9):
        procs = descendants(os.getpid())
        for pid in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while procs and time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in procs):
            time.sleep(0.1)


LEASE_EXPIRED = threading.Event()


def watch_lease(path: Path, timeout_s: float, interval_s: float = 1.0) -> None:
    """Exit (status 4), stopping every child, once `path` is older than timeout_s (the controller is gone)."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            try:
                age = time.time() - path.stat().st_mtime
            except OSError:
                age = float("inf")
            if age > timeout_s:
                print(
                    f"[whiskey-load] error: lease {path} not renewed for {age:.0f} s (limit {timeout_s:.0f} s): "
                    "the controller stopped polling; stopping the load",
                    file=sys.stderr,
                    flush=True,
                )
                LEASE_EXPIRED.set()
                stop_everything()
                os._exit(4)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    threading.Thread(target=watch, name="lease", daemon=True).start()


def cmd_lease(args) -> int:
    """Touch the lease; print the Ansible async job's state ({"finished": false} while it runs)."""
    lease = Path(args.file)
    lease.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        lease.touch()
        try:
            data = json.loads(Path(args.results_file).read_text())
        except (OSError, ValueError):
            data = {"started": 1, "finished": 0}
        finished = "started" not in data or bool(data.get("finished"))
        if finished or time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    print(json.dumps({**data, "finished": finished}))
    return 0


def parse_duration(text: str | int | float) -> float:
    """'30s', '2m', '1h', '45' -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = DURATION_RE.match(str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration (like 30s, 2m, 1h): {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600}[unit]


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in str(text).replace(" ", "").strip("[]").split(",") if x]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"levels must be integers: {text!r}") from exc
    if not levels or any(n < 1 for n in levels):
        raise argparse.ArgumentTypeError(f"levels must be positive integers: {text!r}")
    return levels


def seconds_arg(value: float) -> str:
    """A whole number of seconds for wrk -d and locust -t (both want integers with a unit)."""
    return f"{max(1, round(value))}s"


def cpu_seconds_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Recorder:
    """Runs driver commands and keeps what driver.json reports about them."""

    def __init__(self, out: Path | None, processes: int):
        self.out = out
        self.processes = processes
        self.runs: list[dict] = []

    def run(
        self,
        argv: list[str],
        *,
        label: str,
        env: dict | None = None,
        stdout=None,
        timeout=None,
        ok_codes=(0,),
        recorded=True,
    ) -> dict:
        if LEASE_EXPIRED.is_set():
            raise DriverError(f"{label}: not started, the lease expired")
        cpu0, t0, started = cpu_seconds_children(), time.monotonic(), time.time()
        print(f"[whiskey-load] {label}: {shlex.join(argv)}", file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(
                argv,
                env={**os.environ, **(env or {})},
                stdout=stdout,
                stderr=subprocess.STDOUT if stdout else None,
                timeout=timeout,
                check=False,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -9
        except FileNotFoundError as exc:
            raise DriverError(f"{label}: {exc}") from exc
        wall, cpu = time.monotonic() - t0, cpu_seconds_children() - cpu0
        entry = {
            "label": label,
            "argv": argv,
            "exit_code": code,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "recorded": recorded,
            # When it ran (epoch seconds): the report takes a level's telemetry from this window.
            "start_epoch": round(started, 3),
            "end_epoch": round(started + wall, 3),
        }
        self.runs.append(entry)
        if code not in ok_codes:
            raise DriverError(f"{label}: exit code {code} ({'timed out' if code == -9 else 'see the log'})")
        return entry

    def write(self, extra: dict) -> dict:
        measured = [r for r in self.runs if r["recorded"]]
        wall = sum(r["wall_s"] for r in measured)
        cpu = sum(r["cpu_s"] for r in measured)
        doc = {
            **extra,
            "processes": self.processes,
            "runs": self.runs,
            "measured_wall_s": round(wall, 3),
            "measured_cpu_s": round(cpu, 3),
            "cpu_cores": round(cpu / wall, 3) if wall else 0.0,
            "cpu_per_process": round(cpu / wall / self.processes, 3) if wall else 0.0,
        }
        if self.out:
            (self.out / "driver.json").write_text(json.dumps(doc, indent=2) + "\n")
        return doc


# ---------------------------------------------------------------- wrk


def client_share(total: int, clients: int, index: int) -> int:
    """This client's part of `total` connections when `clients` hosts load together (at least 1)."""
    return max(1, total // clients + (1 if index < total % clients else 0))


def wrk_command(args, url: str, connections: int, seconds: float) -> list[str]:
    connections = client_share(connections, getattr(args, "clients", 1), getattr(args, "client_index", 0))
    threads = max(1, min(args.threads, connections))
    return [
        args.wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds_arg(seconds)}",
        "--latency",
        f"--timeout={args.request_timeout}s",
        "-s",
        str(args.lua),
        url,
        "--",
        args.path,
        str(args.corpus_size),
    ]


def check_url(url: str) -> None:
    if not re.match(r"^https?://[^/:]+(:\d+)?/?$", url or ""):
        raise ValueError(f"--url must be a base URL like http://host:port, got {url!r}")


def cmd_wrk(args) -> int:
    check_url(args.url)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(out, processes=max(1, args.threads))
    slack = 60 + args.request_timeout
    try:
        if args.warmup > 0:
            with tempfile.TemporaryDirectory() as tmp:
                warm = Path(tmp) / "warmup.json"
                with open(os.devnull, "w") as devnull:
                    rec.run(
                        wrk_command(args, args.url, max(args.levels), args.warmup),
                        label="warm-up",
                        env={"WHISKEY_WRK_JSON": str(warm)},
                        stdout=devnull,
                        timeout=args.warmup + slack,
                        recorded=False,
                    )
        for level in [] if args.warmup_only else args.levels:
            js = out / f"wrk-c{level}.json"
            with open(out / f"wrk-c{level}.txt", "w") as txt:
                rec.run(
                    wrk_command(args, args.url, level, args.level_time),
                    label=f"c{level}",
                    env={"WHISKEY_WRK_JSON": str(js)},
                    stdout=txt,
                    timeout=args.level_time + slack,
                )
            if not js.is_file() or js.stat().st_size == 0:
                raise DriverError(f"wrk c{level} wrote no JSON summary (see wrk-c{level}.txt)")
            if json.loads(js.read_text())["requests"] == 0:
                raise DriverError(f"wrk c{level} made no request (see wrk-c{level}.txt)")
    except DriverError as exc:
        rec.write({"driver": "wrk", "error": str(exc)})
        print(f"[whiskey-load] error: {exc}", file=sys.stderr)
        return 3
    rec.write({"driver": "wrk", "error": None, "levels": args.levels, "level_time_s": args.level_time})
    return 0


# ---------------------------------------------------------------- Locust


def locust_env(args, no_wait=False) -> dict:
    env = {
        "WHISKEY_PATH": args.path,
        "WHISKEY_CORPUS_SIZE": str(args.corpus_size),
        "PYTHONPATH": str(args.locustfile.parent),
    }
    if no_wait:
        env["WHISKEY_NO_WAIT"] = "1"
    return env


def locust_base(args, users: int, spawn_rate: float) -> list[str]:
    return [
        args.locust,
        "-f",
        str(args.locustfile),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "--host",
        args.url,
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]


def locust_standalone_args(args, seconds: float, prefix: Path | None) -> list[str]:
    extra = ["-t", seconds_arg(seconds)]
    if prefix is not None:
        extra += ["--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}_report.html"]
    if args.mode == "master":
        extra += [
            "--master",
            "--master-bind-port",
            str(args.master_port),
            "--expect-workers",
            str(args.expect_workers),
            "--expect-workers-max-wait",
            str(args.expect_workers_max_wait),
        ]
    elif args.processes > 1:
        extra += ["--processes", str(args.processes)]
    return extra


def locust_plan(args) -> list[dict]:
    """The Locust invocations of one run: warm-up first (not recorded), then the measured ones."""
    plan = []
    if args.profile == "seed":
        if args.warmup > 0:
            plan.append(
                {
                    "label": "warm-up",
                    "users": args.users,
                    "spawn_rate": args.spawn_rate,
                    "seconds": args.warmup,
                    "prefix": None,
                }
            )
        plan.append(
            {
                "label": "seed",
                "users": args.users,
                "spawn_rate": args.spawn_rate,
                "seconds": args.run_time,
                "prefix": "locust",
                "reset_stats": True,
            }
        )
    else:
        if args.warmup > 0:
            top = max(args.levels)
            plan.append(
                {"label": "warm-up", "users": top, "spawn_rate": top, "seconds": args.warmup, "prefix": None}
            )
        for level in args.levels:
            # Every user starts at once: the level's rate is not diluted by a ramp-up.
            plan.append(
                {
                    "label": f"c{level}",
                    "users": level,
                    "spawn_rate": level,
                    "seconds": args.level_time,
                    "prefix": f"locust-c{level}",
                }
            )
    return plan


def cmd_locust(args) -> int:
    check_url(args.url)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.locustfile is None:
        args.locustfile = HERE / ("seed.py" if args.profile == "seed" else "throughput.py")
    processes = args.processes if args.mode != "master" else max(1, args.local_processes)
    rec = Recorder(out, processes=processes)
    plan = locust_plan(args)
    if args.warmup_only:
        plan = [step for step in plan if step["prefix"] is None]
    log = open(out / f"locust-{args.mode}.log", "a")  # noqa: SIM115 - kept open for all invocations
    try:
        for step in plan:
            limit = step["seconds"] + 120 + args.expect_workers_max_wait
            if args.mode == "worker":
                argv = [
                    args.locust,
                    "-f",
                    str(args.locustfile),
                    "--worker",
                    "--master-host",
                    args.master_host,
                    "--master-port",
                    str(args.master_port),
                    "--loglevel",
                    "WARNING",
                ]
                if args.processes > 1:
                    argv += ["--processes", str(args.processes)]
                rec.run(
                    argv,
                    label=f"worker {step['label']}",
                    env=locust_env(args),
                    stdout=log,
                    timeout=limit,
                    ok_codes=(0, 1),
                    recorded=step["prefix"] is not None,
                )
                continue
            prefix = out / step["prefix"] if step["prefix"] else None
            argv = locust_base(args, step["users"], step["spawn_rate"])
            argv += locust_standalone_args(args, step["seconds"], prefix)
            if step.get("reset_stats"):
                # Statistics restart once every user runs: the Aggregated row is then the measurement window
                # alone, and its percentiles are the window's own (docs/statistics.md).
                argv.append("--reset-stats")
            local = None
            if args.mode == "master" and args.local_processes > 0:
                # This host loads too: its workers connect to the master on loopback.
                local = subprocess.Popen(
                    [
                        args.locust,
                        "-f",
                        str(args.locustfile),
                        "--worker",
                        "--master-host",
                        "127.0.0.1",
                        "--master-port",
                        str(args.master_port),
                        "--loglevel",
                        "WARNING",
                        *(["--processes", str(args.local_processes)] if args.local_processes > 1 else []),
                    ],
                    env={**os.environ, **locust_env(args)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                entry = rec.run(
                    argv,
                    label=step["label"],
                    env=locust_env(args),
                    stdout=log,
                    timeout=limit,
                    ok_codes=(0, 1),
                    recorded=prefix is not None,
                )
            finally:
                if local is not None:
                    try:
                        local.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        local.kill()
                        local.wait()
            if prefix is not None:
                stats = Path(f"{prefix}_stats.csv")
                if not stats.is_file():
                    raise DriverError(f"locust {step['label']} wrote no {stats.name} (see {log.name})")
                if read_locust_aggregate(stats)["requests"] == 0:
                    raise DriverError(f"locust {step['label']} made no request (see {Path(log.name).name})")
                entry["failures"] = entry["exit_code"] == 1
    except DriverError as exc:
        rec.write({"driver": "locust", "profile": args.profile, "mode": args.mode, "error": str(exc)})
        print(f"[whiskey-load] error: {exc}", file=sys.stderr)
        return 3
    finally:
        log.close()
    rec.write(
        {
            "driver": "locust",
            "profile": args.profile,
            "mode": args.mode,
            "error": None,
            "locust_exit_codes": [r["exit_code"] for r in rec.runs if r["recorded"]],
            "stats_reset": args.profile == "seed",
        }
    )
    return 0


# ---------------------------------------------------------------- calibration


def cmd_calibrate(args) -> int:
    """Hit the near-free endpoint as hard as this client can, with the driver the run will use."""
    check_url(args.url)
    extra: dict = {"mode": "ceiling"}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if args.driver == "wrk":
            args.path = args.path or "/whiskey/ping"
            args.levels = [args.connections]
            rec = Recorder(None, processes=args.threads)
            js = tmpdir / "cal.json"
            with open(os.devnull, "w") as devnull:
                rec.run(
                    wrk_command(args, args.url, args.connections, args.seconds),
                    label="calibrate",
                    env={"WHISKEY_WRK_JSON": str(js)},
                    stdout=devnull,
                    timeout=args.seconds + 60,
                )
            summary = json.loads(js.read_text())
            rps, requests = summary["rps"], summary["requests"]
        else:
            args.path = args.path or "/whiskey/ping"
            seed = args.driver == "locust-seed"
            args.locustfile = HERE / ("throughput.py" if args.driver == "locust-fast" else "seed.py")
            args.mode = "standalone"
            rec = Recorder(None, processes=args.processes)
            if seed:
                # The bench's own users with their think time, against the ping endpoint: what the client itself
                # adds at the bench's load. Measured after every user runs (--reset-stats).
                ramp = args.users / max(args.spawn_rate, 0.001)
                argv = locust_base(args, args.users, args.spawn_rate)
                argv += [*locust_standalone_args(args, ramp + args.seconds, tmpdir / "cal"), "--reset-stats"]
            else:
                ramp = 0.0
                argv = locust_base(args, args.connections, args.connections)
                argv += locust_standalone_args(args, args.seconds, tmpdir / "cal")
            with open(tmpdir / "log", "w") as log:
                rec.run(
                    argv,
                    label="calibrate",
                    env=locust_env(args, no_wait=not seed),
                    stdout=log,
                    timeout=ramp + args.seconds + 120,
                    ok_codes=(0, 1),
                )
            total = read_locust_aggregate(tmpdir / "cal_stats.csv")
            rps, requests = total["rps"], total["requests"]
            if seed:
                extra = {
                    "mode": "seed",
                    "users": args.users,
                    "p50_ms": total["latency_ms"]["p50"],
                    "p99_ms": total["latency_ms"]["p99"],
                }
    doc = rec.write(
        {
            **extra,
            "driver": args.driver,
            "endpoint": args.url.rstrip("/") + args.path,
            "rps": round(rps, 1),
            "requests": requests,
            "seconds": args.seconds,
        }
    )
    doc.pop("runs", None)
    print(json.dumps(doc))
    return 0 if requests > 0 else 3


# ---------------------------------------------------------------- Locust's totals (own checks only)


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def read_locust_aggregate(stats_csv: Path) -> dict:
    with open(stats_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    agg = next((r for r in rows if r.get("Name") == "Aggregated"), None)
    if agg is None:
        raise ValueError(f"{stats_csv}: no Aggregated row")
    return {
        "requests": int(agg["Request Count"]),
        "failures": int(agg["Failure Count"]),
        "rps": _num(agg["Requests/s"]) or 0.0,
        "latency_ms": {
            "avg": _num(agg["Average Response Time"]),
            "p50": _num(agg["50%"]),
            "p90": _num(agg["90%"]),
            "p99": _num(agg["99%"]),
            "max": _num(agg["Max Response Time"]),
        },
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whiskey_load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def target(p, path_default=DEFAULT_PATH):
        p.add_argument("--url", required=True, help="base URL of the server under test (http://host:port)")
        p.add_argument(
            "--path",
            default=path_default,
            help="request path; {id} becomes a random id in 1..corpus-size (default %(default)s)",
        )
        p.add_argument("--corpus-size", type=int, default=900000, help="ids 1..N (default %(default)s)")

    def wrk_opts(p):
        p.add_argument("--wrk", default="wrk", help="wrk binary (default %(default)s)")
        p.add_argument(
            "--lua", type=Path, default=HERE / "whiskey.lua", help="wrk script (default: beside me)"
        )
        p.add_argument(
            "--threads",
            type=int,
            default=len(os.sched_getaffinity(0)) or 1,
            help="wrk threads (default: this host's cores, %(default)s)",
        )
        p.add_argument("--request-timeout", type=int, default=10, help="wrk --timeout seconds")

    def locust_opts(p):
        p.add_argument("--locust", default="locust", help="locust binary (default %(default)s)")
        p.add_argument(
            "--processes",
            type=int,
            default=1,
            help="Locust processes on this host (--processes; >1 = one master and N workers)",
        )

    def lease_opts(p):
        p.add_argument(
            "--lease", type=Path, default=None, help="stop when this file is not touched for a while"
        )
        p.add_argument("--lease-timeout", type=float, default=30.0, help="seconds (default %(default)s)")

    p = sub.add_parser("wrk", help="throughput profile with wrk")
    target(p)
    wrk_opts(p)
    p.add_argument("--levels", type=parse_levels, required=True, help="concurrency levels, e.g. 8,32,128")
    p.add_argument("--level-time", type=parse_duration, default=30.0, help="seconds per level (30s, 1m)")
    p.add_argument("--warmup", type=parse_duration, default=0.0, help="warm-up, not recorded")
    p.add_argument("--clients", type=int, default=1, help="client hosts loading together (connections split)")
    p.add_argument("--client-index", type=int, default=0, help="this client's index among them, from 0")
    p.add_argument("--warmup-only", action="store_true", help="run the warm-up alone, record nothing")
    p.add_argument("--out", required=True, help="output folder")
    lease_opts(p)
    p.set_defaults(func=cmd_wrk)

    p = sub.add_parser("locust", help="seed profile, or throughput profile with FastHttpUser")
    target(p)
    locust_opts(p)
    p.add_argument("--profile", choices=["seed", "throughput"], required=True)
    p.add_argument("--locustfile", type=Path, default=None, help="default: seed.py / throughput.py beside me")
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--spawn-rate", type=float, default=10)
    p.add_argument("--run-time", type=parse_duration, default=60.0)
    p.add_argument("--levels", type=parse_levels, default=[8, 32, 128])
    p.add_argument("--level-time", type=parse_duration, default=30.0)
    p.add_argument("--warmup", type=parse_duration, default=0.0)
    p.add_argument(
        "--mode",
        choices=["standalone", "master", "worker"],
        default="standalone",
        help="distributed Locust across client hosts: one master, workers on every client",
    )
    p.add_argument("--master-host", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=5557)
    p.add_argument("--expect-workers", type=int, default=1, help="master: worker processes to wait for")
    p.add_argument("--expect-workers-max-wait", type=int, default=60)
    p.add_argument(
        "--local-processes",
        type=int,
        default=0,
        help="master: worker processes to start on this host as well",
    )
    p.add_argument("--warmup-only", action="store_true", help="run the warm-up alone, record nothing")
    p.add_argument("--out", required=True, help="output folder")
    lease_opts(p)
    p.set_defaults(func=cmd_locust)

    p = sub.add_parser("calibrate", help="this client's ceiling against a near-free endpoint")
    p.add_argument("--url", required=True, help="base URL of the calibration endpoint's server")
    p.add_argument("--path", default=None, help="default /whiskey/ping")
    p.add_argument("--corpus-size", type=int, default=1)
    p.add_argument("--driver", choices=["wrk", "locust-http", "locust-fast", "locust-seed"], required=True)
    wrk_opts(p)
    locust_opts(p)
    p.add_argument("--connections", type=int, default=64, help="connections / users (default %(default)s)")
    p.add_argument("--users", type=int, default=500, help="locust-seed: the bench's users on this client")
    p.add_argument("--spawn-rate", type=float, default=10, help="locust-seed: users started per second")
    p.add_argument("--seconds", type=parse_duration, default=5.0)
    p.set_defaults(func=cmd_calibrate, expect_workers=1, expect_workers_max_wait=0, master_port=5557)

    p = sub.add_parser("lease", help="touch a driver's lease and print its Ansible async job's state")
    p.add_argument("--file", required=True, help="the lease file the driver watches")
    p.add_argument("--results-file", required=True, help="the async job's results file")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="return at once when the job has finished, else keep the lease and wait up to this many seconds",
    )
    p.set_defaults(func=cmd_lease)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("warmup", "level_time", "run_time", "seconds"):
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, parse_duration(getattr(args, name)))
    if getattr(args, "corpus_size", 1) < 1:
        print("whiskey_load: --corpus-size must be >= 1", file=sys.stderr)
        return 2
    if getattr(args, "lease", None) is not None:
        watch_lease(args.lease, args.lease_timeout)
    try:
        code = args.func(args)
        # The watchdog stopped the load: whatever the driver wrote since is not a measurement.
        return 4 if LEASE_EXPIRED.is_set() else code
    except (ValueError, KeyError, OSError) as exc:
        print(f"whiskey_load {args.command}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
