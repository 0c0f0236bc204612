"""Make the capacity profile's test data: real searches of the project's open-model driver on loopback.

    python make_capacity_fixture.py [--out runs] [--only fixture-c|fixture-c2] [--vegeta PATH]

Run it with a Python that has psutil (the telemetry collector needs it; make_fixture.sh's venv has it:
/tmp/whiskey-fixture-venv/bin/python). The driver is roles/locust/files/whiskey_load.py `capacity` with vegeta
(scripts/setup.sh builds it into .cache/vegeta/); the server is capacity_server.py (one worker, every request
but /whiskey/ping holds a lock for SERVICE_MS, so its capacity is about 1000/SERVICE_MS per second).
About 6 minutes. These run folders come out under runs/:

  fixture-c   workers 1 x lock-4ms and lock-8ms x 3 repeats (capacity about 200/s and 100/s), plus one broken
              case, lock-8ms repeat 4, where the server has slowed to 100 ms per request (slower than the
              objective): no rate meets it (status "none"), the verdict says invalid.
              Each run: capacity.json + driver.json of the driver, telemetry-server.json (the server's process)
              and telemetry-client-<host>.json (the driver's), probe-before/after.json (the request and the
              processes; no Elasticsearch and no supervisor here), context.json as the loop writes it, and
              status.json written by the report's own verdict (python -m whiskey_report verdict RUN_DIR
              --context - --write, as the loop calls it).
  fixture-c2  two clients at once against one lock-8ms server, workers 1 x 1 repeat: RUN_DIR/clients/<host>/
              holds each client's capacity.json and driver.json (the merge of several clients). The two searches
              run independently; they must try the same rates to be merged, so the run is retried (3 times at
              most) until they do.
The objective is p99 <= 50 ms, errors <= 0.1 %; steps of 4 s after 1 s at the rate; rates from 25/s.
"""

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DRIVER = REPO / "roles" / "locust" / "files" / "whiskey_load.py"
FALLBACK_COLLECTOR = REPO / "roles" / "cmonitor" / "files" / "whiskey_fallback_collector.py"
SERVER = HERE / "capacity_server.py"
SEARCH = {
    "slo_p99_ms": 50,
    "slo_error_pct": 0.1,
    "step_time_s": 4,
    "step_warmup_s": 1,
    "start_rate": 25,
    "max_rate": 2000,
    "rate_resolution_pct": 5,
}
SCENARIOS = {"lock-4ms": 4, "lock-8ms": 8}
RUNS = {
    "fixture-c": {"scenarios": ["lock-4ms", "lock-8ms"], "repeats": 3, "clients": 1},
    "fixture-c2": {"scenarios": ["lock-8ms"], "repeats": 1, "clients": 2},
}
BROKEN = ("fixture-c", "lock-8ms", 4, 100)  # run id, scenario, repeat, the server's ms per request
PORT = 18470
INTERVAL_S = 1

sys.path.insert(0, str(HERE))
from make_fixture import collector_cmd, slim_telemetry, stop, wait_http  # noqa: E402


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def probe(url: str, pid: int) -> dict:
    """What roles/bench/files/whiskey_probe.py records, as far as this server has it: a request and the pids."""
    import psutil

    check: dict = {"id": 1, "status": None, "ok": False, "error": None}
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/quotes/byId?id=1", timeout=5) as resp:
            check["status"] = resp.status
            check["ok"] = resp.status == 200
    except OSError as exc:
        check["error"] = str(exc)
    check["elapsed_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
    top = psutil.Process(pid)
    pids = sorted([top.pid, *(c.pid for c in top.children(recursive=True))])
    return {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request": {"ok": check["ok"], "checks": [check]},
        "processes": {"pids": pids, "count": len(pids)},
    }


def driver_cmd(args, url: str, out: Path) -> list[str]:
    return [
        args.python_driver,
        str(DRIVER),
        "capacity",
        "--url",
        url,
        "--vegeta",
        str(args.vegeta),
        "--slo-p99-ms",
        str(SEARCH["slo_p99_ms"]),
        "--slo-error-pct",
        str(SEARCH["slo_error_pct"]),
        "--step-time",
        str(SEARCH["step_time_s"]),
        "--step-warmup",
        str(SEARCH["step_warmup_s"]),
        "--start-rate",
        str(SEARCH["start_rate"]),
        "--max-rate",
        str(SEARCH["max_rate"]),
        "--resolution-pct",
        str(SEARCH["rate_resolution_pct"]),
        "--out",
        str(out),
        "--check-url",
        url,
    ]


def rates(folder: Path) -> list[tuple[str, float]]:
    doc = json.loads((folder / "capacity.json").read_text())
    return [(s["label"], s["rate"]) for s in doc.get("steps") or []]


def one_run(args, out: Path, run_id: str, scenario: str, repeat: int, clients: int, service_ms: int) -> None:
    host = socket.gethostname()
    names = [host] if clients == 1 else [f"client-{chr(ord('a') + i)}" for i in range(clients)]
    for attempt in range(1, 4):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        started = now()
        server = subprocess.Popen([sys.executable, str(SERVER), str(PORT), str(service_ms)])
        url = f"http://127.0.0.1:{PORT}"
        try:
            wait_http(url + "/whiskey/ping")
            (out / "probe-before.json").write_text(json.dumps(probe(url, server.pid), indent=1) + "\n")
            meta = {"scenario": scenario, "workers": 1, "repeat": repeat}
            server_tel = subprocess.Popen(
                collector_cmd(out / "telemetry-server.json", [server.pid], {**meta, "role": "server"})
            )
            time.sleep(1.5)
            dirs = [out] if clients == 1 else [out / "clients" / n for n in names]
            drivers = [
                subprocess.Popen(
                    driver_cmd(args, url, d), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                for d in dirs
            ]
            client_tel = None
            if clients == 1:
                client_tel = subprocess.Popen(
                    collector_cmd(
                        out / f"telemetry-client-{host}.json", [drivers[0].pid], {**meta, "role": "client"}
                    )
                )
            codes = [d.wait(600) for d in drivers]
            (out / "probe-after.json").write_text(json.dumps(probe(url, server.pid), indent=1) + "\n")
            time.sleep(1.5)
            if client_tel:
                stop(client_tel)
            stop(server_tel)
        finally:
            stop(server)
        for tel in out.glob("telemetry-*.json"):
            slim_telemetry(tel)
        if clients == 1 or len({tuple(rates(d)) for d in dirs}) == 1:
            break
        print(f"{run_id}: the clients' searches tried different rates (attempt {attempt}): again", flush=True)
    context = {
        "workers": 1,
        "scenario": scenario,
        "repeat": repeat,
        "profile": "capacity",
        "driver": "vegeta",
        "url": url,
        "path": "/quotes/byId?id={id}",
        "started": started,
        "ended": now(),
        "warmup_s": 0,
        "duration_s": None,
        "concurrency": [],
        "level_time_s": None,
        "stats_reset": False,
        "search": SEARCH,
        "clients": names,
        "client_cores": {n: os.cpu_count() or 1 for n in names},
        "calibration": {},
        # The driver check's ping is Python's http.server here, not nginx: at 200/s on a shared loopback its p99
        # is several ms, over the default tenth of the objective (5 ms). Allowed half of it by design.
        "thresholds": {"driver_p99_fraction": 0.5},
        "fingerprint": {"fixture": run_id, "service_ms": service_ms},
        "errors": [f"the driver exited with {c}" for c in codes if c != 0],
        "telemetry_errors": [],
    }
    judge(args, out, context)


def judge(args, out: Path, context: dict) -> None:
    """As the loop does: the verdict reads the context on standard input and writes status.json itself."""
    subprocess.run(
        [args.python_report, "-m", "whiskey_report", "verdict", str(out), "--context", "-", "--write"],
        input=json.dumps(context),
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(REPO / "report" / "src")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=HERE / "runs", help="where the run folders go")
    parser.add_argument("--only", choices=sorted(RUNS), help="make only this run folder")
    found = sorted((REPO / ".cache" / "vegeta").glob("vegeta-*"))
    parser.add_argument("--vegeta", type=Path, default=found[-1] if found else Path("vegeta"))
    parser.add_argument(
        "--python-driver", default=sys.executable, help="the Python that runs whiskey_load.py"
    )
    venv = REPO / ".venv" / "bin" / "python"
    parser.add_argument(
        "--python-report",
        default=str(venv) if venv.exists() else sys.executable,
        help="one with the report's needs",
    )
    parser.add_argument(
        "--rejudge", action="store_true", help="only judge the runs again (their context.json)"
    )
    args = parser.parse_args()
    if args.rejudge:
        for ctx in sorted(args.out.glob("fixture-c*/*/*/*/context.json")):
            judge(args, ctx.parent, json.loads(ctx.read_text()))
        return
    for run_id, spec in RUNS.items():
        if args.only and run_id != args.only:
            continue
        root = args.out / run_id
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        started = now()
        plan = [(s, r, SCENARIOS[s]) for s in spec["scenarios"] for r in range(1, spec["repeats"] + 1)]
        if BROKEN[0] == run_id:
            plan.append(BROKEN[1:])
        for scenario, repeat, service_ms in plan:
            print(f"{run_id}: workers=1 {scenario} repeat {repeat} ({service_ms} ms)", flush=True)
            one_run(
                args,
                root / "1" / scenario / str(repeat),
                run_id,
                scenario,
                repeat,
                spec["clients"],
                service_ms,
            )
        scenarios = spec["scenarios"]
        vegeta = subprocess.run([str(args.vegeta), "--version"], capture_output=True, text=True, check=False)
        run = {
            "run_id": run_id,
            "whiskey_commit": "fixture",
            "whiskey_dirty": True,
            "started": started,
            "ended": now(),
            "variables": {
                "workers": [1],
                "scenarios": scenarios,
                "repeats": spec["repeats"],
                "load_profile": "capacity",
                "load_driver": "vegeta",
                **SEARCH,
                "telemetry_interval": INTERVAL_S,
            },
            "scenarios": [
                {
                    "name": s,
                    "server": f"capacity_server ({SCENARIOS[s]} ms per request)",
                    "via": "direct",
                    "protocol": "http",
                    "port": PORT,
                }
                for s in scenarios
            ],
            "hosts": {
                socket.gethostname(): {
                    "role": "server+client (loopback)",
                    "cpu_model": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "kernel": platform.release(),
                    "virtualization": "none (report test data)",
                }
            },
            "versions": {
                "vegeta": next(
                    (w.lstrip("v") for w in vegeta.stdout.split() if w.lstrip("v")[:1].isdigit()), "?"
                ),
                "python": platform.python_version(),
                "telemetry_collector": "whiskey-fallback-collector"
                if FALLBACK_COLLECTOR.exists()
                else "whiskey-fixture-sampler 1",
            },
        }
        (root / "run.json").write_text(json.dumps(run, indent=2) + "\n")


if __name__ == "__main__":
    main()
