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
  capacity   capacity profile with vegeta (open model): step the rate up, then bisect, to the highest rate whose
             p99 (from each request's intended send time) and errors meet the objective; capacity.json.
  calibrate  this client's ceiling with a driver against a near-free endpoint (nginx's /whiskey/ping).
  lease      keep a driver's lease alive and report its Ansible async job (the role's run.yml polls with it).

What wrk, locust and capacity request: --requests JSON, a weighted mix [{"path": "/...", "weight": N}, ...] (checked
by whiskey_common.parse_requests; default: --path, weight 1), "{id}" in a path a random id in 1..--corpus-size.
locust --locustfile runs the app's own locustfile instead of seed.py / throughput.py (then --requests may be []).

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
sys.path.insert(0, str(HERE))
import whiskey_capacity as wcap  # noqa: E402  (shipped beside this file)
import whiskey_common  # noqa: E402  (shipped beside this file: the request mix)

DEFAULT_PATH = whiskey_common.DEFAULT_PATH
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


def wrk_script_args(args) -> list[str]:
    """whiskey.lua's arguments (after --): the corpus size, then a "weight path" pair per request of the mix."""
    return [str(args.corpus_size), *(str(x) for r in args.requests for x in (r["weight"], r["path"]))]


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
        *wrk_script_args(args),
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
        "WHISKEY_CORPUS_SIZE": str(args.corpus_size),
        # whiskey_common beside me importable from any locustfile (a user's own may use it, or not)
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(args.locustfile.parent), str(HERE)])),
    }
    if args.requests:  # empty only with a user's --locustfile, which then says what to request
        env["WHISKEY_REQUESTS"] = json.dumps(args.requests)
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
        args.path = args.path or "/whiskey/ping"
        args.requests = [{"path": args.path, "weight": 1}]  # a fixed endpoint, not the mix
        if args.driver == "wrk":
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


# ---------------------------------------------------------------- capacity (open model, vegeta)


def vegeta_targets(path: Path, url: str, mix: whiskey_common.Mix, count: int, seed: int = 1) -> None:
    """count GET targets, each a request of the mix drawn by weight with its random ids (vegeta sends them in
    turn): the same file for every step and run of a client (seeded)."""
    import random

    rng = random.Random(seed)
    base = url.rstrip("/")
    with open(path, "w") as fh:
        for _ in range(count):
            fh.write(f"GET {base}{mix.next(rng)[0]}\n")


def vegeta_rate(rate: float) -> str:
    """vegeta's -rate (an integer count per duration): 62.5/s is 62500/1000s."""
    return f"{int(rate)}/1s" if float(rate).is_integer() else f"{round(rate * 1000)}/1000s"


def vegeta_attack(args, targets: Path, rate: float, seconds: float, name: str) -> list[str]:
    # Enough workers to hold `rate` when every answer takes the objective (rate x slo), plus a few: beyond that
    # the driver sends late, and that lateness is charged to the request (latency from the intended time).
    workers = max(8, math.ceil(rate * args.slo_p99_ms / 1000.0) + 8)
    return [
        args.vegeta, "attack", "-name", name, "-rate", vegeta_rate(rate), "-duration", f"{seconds:g}s",
        "-targets", str(targets), "-max-body", "0", "-timeout", f"{args.request_timeout}s",
        "-workers", str(min(workers, 8)), "-max-workers", str(workers), "-keepalive", "true",
    ]  # fmt: skip


class StepRun:
    """One vegeta attack at a fixed rate, its results streamed (vegeta encode --to csv) into a Step, stopped as
    soon as the step has certainly missed the objective."""

    def __init__(
        self,
        args,
        rec: Recorder,
        targets: Path,
        rate: float,
        label: str,
        judged: bool = True,
        decide=None,
        start_ns: int | None = None,
        measure_s: float | None = None,
    ):
        # decide(live_step) -> why to stop ('' to go on): by default this client's own step decides; with several
        # clients the leader decides on every client's counts (Leader.decide) and followers obey (Follower).
        self.decide = decide or (
            lambda live: (
                wcap.certainly_over(live, time.time_ns(), args.slo_p99_ms, args.slo_error_pct)
                if judged
                else ""
            )
        )
        self.start_ns = start_ns
        # measured seconds after the warm-up: the step's (step_time), or the driver check's (longer)
        self.measure_s = args.step_time if measure_s is None else measure_s
        self.args, self.rec, self.targets, self.rate, self.label, self.judged = (
            args,
            rec,
            targets,
            rate,
            label,
            judged,
        )

    def run(self) -> dict:
        import queue

        args = self.args
        seconds = args.step_warmup + self.measure_s
        attack = vegeta_attack(args, self.targets, self.rate, seconds, self.label)
        print(f"[whiskey-load] {self.label}: {shlex.join(attack)}", file=sys.stderr, flush=True)
        if self.start_ns is not None:  # several clients start a step together (their clocks agree: NTP)
            time.sleep(max(0.0, (self.start_ns - time.time_ns()) / 1e9))
        cpu0, t0m, started = cpu_seconds_children(), time.monotonic(), time.time()
        try:
            a = subprocess.Popen(attack, stdout=subprocess.PIPE)
        except OSError as exc:
            raise DriverError(f"{self.label}: {exc}") from exc
        e = subprocess.Popen(
            [args.vegeta, "encode", "--to", "csv"], stdin=a.stdout, stdout=subprocess.PIPE, text=True
        )
        a.stdout.close()
        lines: queue.Queue = queue.Queue()

        def reader() -> None:
            for line in e.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        records: list[wcap.Record] = []
        live = wcap.Step(rate=self.rate, warmup_s=args.step_warmup, step_time_s=self.measure_s)
        stopped, done = "", False
        deadline = t0m + seconds + args.request_timeout + 30
        while not done:
            try:
                line = lines.get(timeout=0.25)
            except queue.Empty:
                line = ""
            if line is None:
                done = True
            elif line:
                rec_ = parse_vegeta_csv(line)
                if rec_ is not None:
                    records.append(rec_)
                    if live.t0_ns is None and len(records) >= max(20, self.rate * args.step_warmup * 0.5):
                        live.t0_ns = wcap.schedule_start(records, self.rate)
                        for r in records:
                            live.add(r)
                    elif live.t0_ns is not None:
                        live.add(rec_)
            if not stopped and live.t0_ns is not None:
                stopped = self.decide(live)
                if stopped:
                    print(
                        f"[whiskey-load] {self.label}: stopping early: {stopped}", file=sys.stderr, flush=True
                    )
                    with contextlib.suppress(ProcessLookupError):
                        a.send_signal(2)
            if time.monotonic() > deadline:
                stop_everything()
                raise DriverError(f"{self.label}: vegeta did not finish within {deadline - t0m:.0f} s")
        a.wait()
        e.wait()
        wall = time.monotonic() - t0m
        self.rec.runs.append(
            {
                "label": self.label,
                "argv": attack,
                "exit_code": a.returncode,
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu_seconds_children() - cpu0, 3),
                "recorded": True,
                "start_epoch": round(started, 3),
                "end_epoch": round(started + wall, 3),
            }
        )
        if a.returncode not in (0, -2) or e.returncode not in (0, 1):
            raise DriverError(f"{self.label}: vegeta exited {a.returncode} (encode {e.returncode})")
        if not records:
            raise DriverError(f"{self.label}: vegeta recorded no request")
        step = wcap.Step(rate=self.rate, warmup_s=args.step_warmup, step_time_s=self.measure_s)
        step.t0_ns = wcap.schedule_start(records, self.rate)
        for r in records:
            step.add(r)
        doc = wcap.judge(step, args.slo_p99_ms, args.slo_error_pct, stopped)
        doc.update(
            label=self.label,
            start_epoch=round(step.t0_ns / 1e9 + args.step_warmup, 3),
            end_epoch=round(started + wall, 3),
            seconds=round(wall, 3),
            measure_s=self.measure_s,
        )
        return doc


def parse_vegeta_csv(line: str):
    """One row of `vegeta encode --to csv`: timestamp(ns), code, latency(ns), bytes out, bytes in, error, body,
    attack name, seq, method, url, headers."""
    row = next(csv.reader([line]), None)
    if not row or len(row) < 9:
        return None
    try:
        code = int(row[1])
        return wcap.Record(seq=int(row[8]), sent_ns=int(row[0]), latency_ns=int(row[2]),
                           ok=200 <= code < 300 and not row[5])  # fmt: skip
    except ValueError:
        return None


class _Channel:
    """JSON lines over one TCP connection; a reader thread keeps the latest of each kind of message."""

    def __init__(self, sock, name: str = "?"):
        self.sock, self.name = sock, name
        self.lock = threading.Lock()
        self.progress: dict[str, dict] = {}
        self.done: dict[str, dict] = {}
        self.commands: list[dict] = []
        self.stop: dict[str, str] = {}
        self.closed = threading.Event()
        self.arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, msg: dict) -> None:
        data = (json.dumps(msg) + "\n").encode()
        with self.lock:
            self.sock.sendall(data)

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError), self.sock.makefile("r") as fh:
            for line in fh:
                msg = json.loads(line)
                with self.arrived:
                    if "progress" in msg:
                        self.progress[msg["label"]] = msg["progress"]
                    elif "done" in msg:
                        self.done[msg["label"]] = msg["done"]
                    elif msg.get("cmd") == "stop":
                        self.stop[msg["label"]] = msg["why"]
                    elif "hello" in msg:
                        self.name = msg["hello"]
                    else:
                        self.commands.append(msg)
                    self.arrived.notify_all()
        self.closed.set()
        with self.arrived:
            self.arrived.notify_all()

    def wait(self, test, timeout: float):
        """Wait until test() is truthy (under the lock); None on timeout or when the peer went away."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not (found := test()):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed.is_set():
                    return None
                self.arrived.wait(min(left, 0.5))
            return found


class Leader:
    """The first client with several: it runs the search, tells the others (followers) each step's share of the
    rate and when to start, decides an early stop on every client's counts, and merges their shares."""

    def __init__(self, port: int, followers: int, timeout: float):
        import socket

        self.server = socket.create_server(("", port), reuse_port=False)
        self.server.settimeout(timeout)
        self.peers: list[_Channel] = []
        try:
            while len(self.peers) < followers:
                conn, addr = self.server.accept()
                conn.settimeout(None)
                self.peers.append(_Channel(conn, addr[0]))
        except TimeoutError as exc:
            raise DriverError(
                f"capacity: {len(self.peers)} of {followers} followers connected within {timeout:.0f} s "
                f"(port {port})"
            ) from exc

    def send(self, msg: dict) -> None:
        for peer in self.peers:
            try:
                peer.send(msg)
            except OSError as exc:
                raise DriverError(f"capacity: follower {peer.name} is gone: {exc}") from exc

    def decider(self, args, label: str):
        last = [0.0]

        def decide(live) -> str:
            now = time.time_ns()
            counts = [wcap.progress(live, now, args.slo_p99_ms)]
            for peer in self.peers:
                with peer.arrived:
                    counts.append(peer.progress.get(label, {"planned": 0, "errors": 0, "slow": 0}))
            why = wcap.over(counts, args.slo_p99_ms, args.slo_error_pct)
            if why and time.monotonic() - last[0] > 0.1:
                last[0] = time.monotonic()
                self.send({"cmd": "stop", "label": label, "why": why})
            return why

        return decide

    def collect(self, label: str, timeout: float) -> list[dict]:
        docs = []
        for peer in self.peers:
            doc = peer.wait(lambda p=peer: p.done.get(label), timeout)
            if doc is None:
                raise DriverError(
                    f"capacity: follower {peer.name} did not report {label} within {timeout:.0f} s"
                )
            docs.append(doc)
        return docs


def _follower_decider(channel: _Channel, args, label: str):
    last = [0.0]

    def decide(live) -> str:
        if time.monotonic() - last[0] >= 0.2:
            last[0] = time.monotonic()
            with contextlib.suppress(OSError):
                channel.send(
                    {"label": label, "progress": wcap.progress(live, time.time_ns(), args.slo_p99_ms)}
                )
        with channel.arrived:
            return channel.stop.get(label, "")

    return decide


def capacity_follow(args, rec: Recorder, targets: Path, ping: Path) -> tuple[list, dict | None, dict | None]:
    """A follower: connect to the leader, run each step's share it sends, report it; until it says bye."""
    import socket

    host, _, port = args.follow.rpartition(":")
    deadline = time.monotonic() + args.peer_timeout
    while True:
        try:
            sock = socket.create_connection((host, int(port)), timeout=5)
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise DriverError(f"capacity: cannot reach the leader {args.follow}: {exc}") from exc
            time.sleep(0.5)
    sock.settimeout(None)
    channel = _Channel(sock, args.follow)
    channel.send({"hello": os.uname().nodename})
    shares, check = [], None
    while True:
        msg = channel.wait(lambda: channel.commands and channel.commands.pop(0), args.peer_timeout + 600)
        if msg is None:
            raise DriverError(f"capacity: the leader {args.follow} went away")
        if msg["cmd"] == "bye":
            if msg.get("error"):
                raise DriverError(f"capacity: the leader stopped: {msg['error']}")
            verdicts = msg.get("verdicts", {})
            for share in shares:
                share.update(verdicts.get(share["label"], {}))
            return shares, msg.get("result"), check
        doc = StepRun(
            args, rec, ping if msg.get("check") else targets, msg["rate"], msg["label"],
            decide=_follower_decider(channel, args, msg["label"]), start_ns=msg["start_ns"],
            measure_s=check_seconds(args) if msg.get("check") else None,
        ).run()  # fmt: skip
        channel.send({"label": msg["label"], "done": doc})
        if msg.get("check"):
            check = doc
        else:
            shares.append(doc)


def cmd_capacity(args) -> int:
    """Search the highest rate meeting the objective; then what the driver itself adds at that rate (ping)."""
    check_url(args.url)
    if args.check_url:
        check_url(args.check_url)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(out, processes=1)
    plan = wcap.SearchPlan(
        start_rate=args.start_rate, max_rate=args.max_rate, resolution_pct=args.resolution_pct
    )
    settings = {
        "slo_p99_ms": args.slo_p99_ms,
        "slo_error_pct": args.slo_error_pct,
        "step_time_s": args.step_time,
        "step_warmup_s": args.step_warmup,
        "start_rate": args.start_rate,
        "max_rate": args.max_rate,
        "resolution_pct": args.resolution_pct,
        "factor": plan.factor,
        "confirm": plan.confirm,
    }
    steps: list[dict] = []  # this client's steps (its shares, with several clients)
    check = None
    cross = None
    error = None
    result = None
    leader = None
    clients = max(1, args.clients)
    with tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "targets.txt"
        vegeta_targets(
            targets,
            args.url,
            whiskey_common.Mix(args.requests, args.corpus_size),
            args.targets,
            seed=1 + args.client_index,
        )
        ping = Path(tmp) / "ping.txt"
        ping.write_text(f"GET {(args.check_url or args.url).rstrip('/')}{args.check_path}\n")
        try:
            if args.warmup > 0:
                with open(os.devnull, "w") as devnull:
                    rec.run(
                        vegeta_attack(args, targets, args.start_rate / clients, args.warmup, "warm-up"),
                        label="warm-up",
                        stdout=devnull,
                        timeout=args.warmup + args.request_timeout + 30,
                        recorded=False,
                    )
            if args.follow:
                steps, result, check = capacity_follow(args, rec, targets, ping)
            else:
                if clients > 1:
                    leader = Leader(args.listen_port, clients - 1, args.peer_timeout)
                searched: list[dict] = []  # the whole steps (merged over every client)
                while (rate := wcap.next_rate(plan, searched)) is not None:
                    label = f"step-{len(searched) + 1}"
                    whole = capacity_step(args, rec, leader, targets, rate, clients, label, steps)
                    why = whole["why"]
                    earlier = [w for w in searched if w["rate"] == rate]
                    if earlier:  # the search's confirmation of a marginal miss: the tries count pooled
                        pooled = wcap.pool([*earlier, whole], args.slo_p99_ms, args.slo_error_pct)
                        whole["pooled"] = pooled
                        steps[-1]["pooled"] = pooled  # this client's share carries the whole's pooled verdict
                        why += f"; with {', '.join(pooled['tries'][:-1])} pooled: {pooled['why']}"
                    searched.append(whole)
                    print(f"[whiskey-load] {label} {rate:g}/s: {why}", file=sys.stderr, flush=True)
                result = wcap.outcome(searched)
                if args.check_url and result["capacity"]:
                    checks: list[dict] = []
                    capacity_step(
                        args, rec, leader, ping, result["capacity"], clients, "driver-check", checks
                    )
                    check = checks[0]
                point = wcap.cross_check_point(searched, result["capacity"]) if args.cross_check else None
                if point is not None:
                    cross = wrk_cross_check(args, rec, searched, point, Path(tmp))
                if leader:
                    verdicts = {
                        w["label"]: {"passed": w["passed"], "why": w["why"]}
                        | ({"pooled": w["pooled"]} if "pooled" in w else {})
                        for w in searched
                    }
                    leader.send({"cmd": "bye", "result": result, "verdicts": verdicts})
        except DriverError as exc:
            error = str(exc)
            if leader:
                with contextlib.suppress(DriverError):
                    leader.send({"cmd": "bye", "result": None, "error": error})
    if result is None and steps and not args.follow:
        result = wcap.outcome(steps)
    doc = {
        "profile": "capacity",
        "driver": "vegeta",
        # with several clients each writes its share of every step; the report merges them by label
        "clients": clients,
        "client_index": args.client_index,
        "settings": settings,
        "steps": steps,
        "result": result,
        "driver_check": check,
        "cross_check": cross,
        "error": error,
    }
    (out / "capacity.json").write_text(json.dumps(doc, indent=1) + "\n")
    rec.write({"driver": "vegeta", "error": error, "profile": "capacity"})
    if error:
        print(f"[whiskey-load] error: {error}", file=sys.stderr)
        return 3
    return 0


def wrk_cross_check(args, rec: Recorder, steps: list[dict], point: dict, tmp: Path) -> dict:
    """wrk (closed loop, paced by a delay between a connection's requests) at about the throughput of a step well
    below the knee, from this client alone: the two models' medians must agree there
    (whiskey_capacity.cross_check)."""
    connections, delay_ms = wcap.paced_for(point)
    js = tmp / "cross-check.json"
    argv = [
        args.wrk, "-t1", f"-c{connections}", f"-d{seconds_arg(args.step_time)}", "--latency",
        f"--timeout={args.request_timeout}s", "-s", str(HERE / "whiskey.lua"), args.url, "--",
        *wrk_script_args(args),
    ]  # fmt: skip
    with open(os.devnull, "w") as devnull:
        rec.run(argv, label="cross-check", env={"WHISKEY_WRK_JSON": str(js), "WHISKEY_WRK_DELAY_MS": str(delay_ms)},
                stdout=devnull,
                timeout=args.step_time + args.request_timeout + 30)  # fmt: skip
    doc = wcap.cross_check(steps, point, connections, json.loads(js.read_text()), delay_ms)
    print(f"[whiskey-load] cross-check: {doc['why']}", file=sys.stderr, flush=True)
    return doc


def check_seconds(args) -> float:
    """The driver check's measured seconds: wcap.DRIVER_CHECK_STEPS steps long, so that its p99 rests on as many
    requests as a confirmed step's and one stall of the shared host does not decide it alone."""
    return wcap.DRIVER_CHECK_STEPS * args.step_time


def capacity_step(args, rec, leader, targets, rate, clients, label, shares) -> dict:
    """One step of the search at `rate` over every client: this client's share is appended to `shares`; returns
    the whole step (the shares merged, judged on every request)."""
    judged = label != "driver-check"
    measure_s = None if judged else check_seconds(args)
    if leader is None:
        own = StepRun(args, rec, targets, rate, label, judged=judged, measure_s=measure_s).run()
        shares.append(own)
        return own
    start_ns = time.time_ns() + int(0.5e9)
    share = rate / clients
    leader.send({"cmd": "step", "label": label, "rate": share, "start_ns": start_ns, "check": not judged})
    decide = leader.decider(args, label) if judged else (lambda live: "")
    own = StepRun(
        args, rec, targets, share, label, decide=decide, start_ns=start_ns, measure_s=measure_s
    ).run()
    others = leader.collect(label, args.step_warmup + own["measure_s"] + args.request_timeout + 60)
    whole = wcap.merge([own, *others], args.slo_p99_ms, args.slo_error_pct)
    own.update(passed=whole["passed"], why=whole["why"])
    shares.append(own)
    whole.update(label=label, start_epoch=own["start_epoch"], end_epoch=own["end_epoch"])
    return whole


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

    def target(p):
        p.add_argument("--url", required=True, help="base URL of the server under test (http://host:port)")
        p.add_argument(
            "--path",
            default=None,
            help=f"one request, this path; {{id}} becomes a random id in 1..corpus-size (default {DEFAULT_PATH})",
        )
        p.add_argument(
            "--requests",
            type=requests_arg,
            default=None,
            metavar="JSON",
            help='the request mix instead of --path: a JSON list of {"path": "/...", "weight": N}, each request '
            "drawn by weight (default: --path, weight 1)",
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
    p.add_argument(
        "--locustfile",
        type=Path,
        default=None,
        help="the app's own locustfile instead of seed.py / throughput.py beside me (the profile's users, run "
        "time and statistics alike; whiskey_common is importable from it, not required)",
    )
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

    p = sub.add_parser("capacity", help="capacity profile with vegeta: the highest rate within the objective")
    target(p)
    p.add_argument("--vegeta", default="vegeta", help="vegeta binary (default %(default)s)")
    p.add_argument("--slo-p99-ms", type=float, default=100.0, help="p99 objective, ms (default %(default)s)")
    p.add_argument(
        "--slo-error-pct", type=float, default=0.1, help="errors allowed, %% (default %(default)s)"
    )
    p.add_argument("--step-time", type=parse_duration, default=20.0, help="measured seconds per step")
    p.add_argument("--step-warmup", type=parse_duration, default=3.0, help="seconds at a step's rate first")
    p.add_argument("--start-rate", type=float, default=50.0, help="first rate, requests/s")
    p.add_argument("--max-rate", type=float, default=5000.0, help="highest rate tried, requests/s")
    p.add_argument("--resolution-pct", type=float, default=5.0, help="stop bisecting within this (%%)")
    p.add_argument("--warmup", type=parse_duration, default=0.0, help="warm-up at start-rate, not recorded")
    p.add_argument("--request-timeout", type=int, default=10, help="seconds before a request is an error")
    p.add_argument(
        "--targets", type=int, default=100000, help="distinct random targets (default %(default)s)"
    )
    p.add_argument("--check-url", default="", help="after the search: the driver alone against this base URL")
    p.add_argument("--check-path", default="/whiskey/ping", help="(default %(default)s)")
    p.add_argument(
        "--clients", type=int, default=1, help="client hosts searching together (the leader first)"
    )
    p.add_argument("--listen-port", type=int, default=5557, help="leader: the port followers connect to")
    p.add_argument("--follow", default="", help="a follower: the leader's HOST:PORT")
    p.add_argument("--client-index", type=int, default=0, help="this client's index (its targets' seed)")
    p.add_argument("--peer-timeout", type=float, default=60.0, help="seconds to wait for the other clients")
    p.add_argument(
        "--cross-check",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="after the search: wrk (closed loop) at a step below the knee; the medians must agree",
    )
    p.add_argument("--wrk", default="wrk", help="wrk binary for --cross-check (default %(default)s)")
    p.add_argument("--out", required=True, help="output folder")
    lease_opts(p)
    p.set_defaults(func=cmd_capacity)

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


def requests_arg(text: str) -> list[dict]:
    """--requests: the mix, checked by whiskey_common (an empty list is refused later unless a --locustfile)."""
    try:
        return whiskey_common.parse_requests(text, allow_empty=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def check_target(args) -> str:
    """What is wrong with the request options (--path, --requests, --locustfile), '' when nothing; sets
    args.requests to the mix."""
    if not hasattr(args, "requests"):
        return ""
    locustfile = getattr(args, "locustfile", None)
    if locustfile is not None:
        if not Path(locustfile).is_file():
            return f"--locustfile {locustfile}: no such file"
        args.locustfile = Path(locustfile).resolve()
    if args.requests is not None and args.path is not None:
        return "--path and --requests: give one of them (--path is a mix of one request)"
    if args.requests is None:
        args.requests = [{"path": args.path or DEFAULT_PATH, "weight": 1}]
        if not args.requests[0]["path"].startswith("/"):
            return f"--path must start with /, got {args.path!r}"
    if not args.requests and locustfile is None:
        why = (
            "only with --locustfile"
            if args.command == "locust"
            else f"{args.command} cannot run a locustfile"
        )
        return f"--requests: got [] ({why}); expected {whiskey_common.REQUESTS_RULES}"
    return ""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if problem := check_target(args):
        print(f"whiskey_load {args.command}: {problem}", file=sys.stderr)
        return 2
    for name in ("warmup", "level_time", "run_time", "seconds", "step_time", "step_warmup"):
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
