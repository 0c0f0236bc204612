"""Make the report's test data: real short Locust runs on loopback, laid out like docs/results-format.md.

Run through make_fixture.sh (it makes a throwaway venv with locust, gunicorn, waitress and psutil).
These run folders come out under runs/:

  fixture-a  workers 1 and 2 x scenarios gunicorn, nginx-gunicorn x 2 repeats, backend wait 3 ms
  fixture-b  workers 2 x the same scenarios x 2 repeats, backend wait 12 ms (the contender for `compare`)
  fixture-t  throughput profile: workers 2 x the same scenarios x 2 repeats, wrk at 2 and 8 connections, 4 s
             per level after a 2-s warm-up, through the project's driver (roles/locust/files/whiskey_load.py)
             and `whiskey_report levels` into throughput.json (needs wrk: apt-get install -y wrk)
  fixture-r  today's format: Locust with --reset-stats (stats_reset), workers 2 x gunicorn and waitress x 2
             repeats, backend wait 10 ms, 4-s ramp-up; a seed calibration of the same users against
             /whiskey/ping first; probe-before.json / probe-after.json (the real request and the server's
             processes; no Elasticsearch here), context.json, and status.json written by the report's own
             verdict (whiskey_report.verdict.judge). Needs no nginx.
fixture-a/b/t keep the status.json of an older whiskey ("ok", no verdict): the report's compatibility data.

Each measured run: a tiny WSGI app (fixture_app.py) under gunicorn, alone or behind a real nginx; a Locust
run (--csv locust --csv-full-history) of WARMUP + DURATION seconds; a server and a client telemetry JSON from
roles/cmonitor's fallback collector if present, else from telemetry_sampler.py (slimmed to the fields the
report reads); status.json written last.
Locust's HTML report is left out to keep the committed data small.
"""

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REPO = HERE.parents[2]
FALLBACK_COLLECTOR = REPO / "roles" / "cmonitor" / "files" / "whiskey_fallback_collector.py"

USERS = 20
SPAWN_RATE = 10
WARMUP_S = 3
DURATION_S = 12
INTERVAL_S = 1
SCENARIOS = {
    "gunicorn": {
        "name": "gunicorn",
        "server": "gunicorn",
        "via": "direct",
        "protocol": "http",
        "port": 19999,
    },
    "nginx-gunicorn": {
        "name": "nginx-gunicorn",
        "server": "gunicorn",
        "via": "nginx",
        "protocol": "http",
        "port": 18099,
        "backend_port": 19999,
    },
    "waitress": {
        "name": "waitress",
        "server": "waitress",
        "via": "direct",
        "protocol": "http",
        "port": 19994,
    },
}
PING_PORT = 19993  # fixture-r's calibration: the same app's /whiskey/ping under gunicorn
CALIBRATION_S = 8
RUNS = {
    "fixture-a": {"workers": [1, 2], "delay_ms": 3, "profile": "seed"},
    "fixture-b": {"workers": [2], "delay_ms": 12, "profile": "seed"},
    "fixture-t": {"workers": [2], "delay_ms": 3, "profile": "throughput"},
    "fixture-r": {
        "workers": [2],
        "delay_ms": 10,
        "profile": "seed",
        "scenarios": ["gunicorn", "waitress"],
        "reset_stats": True,
        "spawn_rate": 5,
        "warmup_s": 4,
    },
}
# Throughput profile: the project's own driver (roles/locust/files/whiskey_load.py, wrk + whiskey.lua).
LOAD_DRIVER = REPO / "roles" / "locust" / "files" / "whiskey_load.py"
LEVELS = [2, 8]
LEVEL_TIME_S = 4
REPEATS = 2

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def collector_cmd(output: Path, pids: list[int], meta: dict) -> list[str]:
    metas = [f"{k}={v}" for k, v in meta.items()]
    if FALLBACK_COLLECTOR.exists():
        # The project's own fallback collector, when another engineer's role has it.
        cmd = [sys.executable, str(FALLBACK_COLLECTOR), "--output-filename", str(output)]
        cmd += ["--sampling-interval", str(INTERVAL_S), "--flush-interval", "5"]
        cmd += ["--process-pids", ",".join(str(pid) for pid in pids)]
        cmd += [f"--custom-metadata={m.replace('=', ':', 1)}" for m in metas]
        return cmd
    cmd = [sys.executable, str(HERE / "telemetry_sampler.py"), "--output", str(output)]
    cmd += ["--interval", str(INTERVAL_S)]
    for pid in pids:
        cmd += ["--pid", str(pid)]
    for m in metas:
        cmd += ["--meta", m]
    return cmd


def slim_telemetry(path: Path) -> None:
    """Keep the sample fields docs/results-format.md lists (the report reads only those): the fallback
    collector stores all of /proc/meminfo and every CPU, which would make the committed data too big."""
    doc = json.loads(path.read_text())
    keep_mem = ("MemTotal", "MemFree", "MemAvailable")
    for sample in doc.get("samples", []):
        stat = sample.get("stat") or {}
        sample["stat"] = {"cpu_total": stat.get("cpu_total", {})}
        mem = sample.get("proc_meminfo") or {}
        sample["proc_meminfo"] = {k: mem[k] for k in keep_mem if k in mem}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def locust_cmd(url: str, prefix: Path, seconds: float, spawn_rate: float, reset_stats: bool) -> list[str]:
    cmd = [
        str(BIN / "locust"),
        "-f",
        str(HERE / "fixture_locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        str(USERS),
        "-r",
        str(spawn_rate),
        "-t",
        f"{seconds:g}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--exit-code-on-error",
        "0",
    ]
    return cmd + (["--reset-stats"] if reset_stats else [])


def server_cmd(scenario: dict, workers: int, port: int) -> list[str]:
    if scenario["server"] == "waitress":
        return [
            str(BIN / "waitress-serve"),
            f"--threads={workers}",
            f"--listen=127.0.0.1:{port}",
            "fixture_app:app",
        ]
    return [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "fixture_app:app"]


def probe(url: str, server_pid: int) -> dict:
    """What roles/bench/files/whiskey_probe.py records: here the real request and the server's processes. The
    fixture has no Elasticsearch and no supervisor, so those sections are left out."""
    import psutil

    quote = "Whiskey is liquid sunshine."
    check: dict = {"id": 1, "status": None, "ok": False, "error": None}
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/quotes/byId?id=1&format=json", timeout=5) as resp:
            check["status"] = resp.status
            body = resp.read().decode()
        check["ok"] = quote in body
        check["error"] = (
            None if check["ok"] else f"the HTML answer for id 1 does not contain the quote {quote!r}"
        )
    except urllib.error.HTTPError as exc:
        check.update(status=exc.code, error=f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        check["error"] = str(exc)
    check["elapsed_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    top = psutil.Process(server_pid)
    pids = sorted([top.pid, *(c.pid for c in top.children(recursive=True))])
    return {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request": {"ok": check["ok"], "checks": [check]},
        "processes": {"pids": pids, "count": len(pids)},
    }


def calibrate(spec: dict) -> dict:
    """The seed calibration: the same Locust users and think time against the near-free /whiskey/ping."""
    tmp = Path(tempfile.mkdtemp(prefix="whiskey-fixture-cal-"))
    server = subprocess.Popen(
        server_cmd({"server": "gunicorn"}, 2, PING_PORT),
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{PING_PORT}"
        wait_http(url + "/whiskey/ping")
        spawn = spec.get("spawn_rate", SPAWN_RATE)
        subprocess.run(
            locust_cmd(url, tmp / "cal", spec.get("warmup_s", WARMUP_S) + CALIBRATION_S, spawn, True),
            cwd=tmp,
            env=dict(os.environ, WHISKEY_FIXTURE_PING="1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=CALIBRATION_S + 60,
        )
        with (tmp / "cal_stats.csv").open(newline="") as fh:
            agg = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
        return {
            "mode": "seed",
            "driver": "locust-http",
            "endpoint": url + "/whiskey/ping",
            "rps": round(float(agg["Requests/s"]), 3),
            "p50_ms": float(agg["50%"]),
            "p99_ms": float(agg["99%"]),
            "users": USERS,
            "spawn_rate": spawn,
            "requests": int(agg["Request Count"]),
            "seconds": CALIBRATION_S,
        }
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def one_run(
    out: Path,
    workers: int,
    scenario: dict,
    repeat: int,
    delay_ms: int,
    profile: str = "seed",
    spec: dict | None = None,
    calibration: dict | None = None,
) -> None:
    spec = spec or {}
    reset_stats = bool(spec.get("reset_stats"))
    warmup_s = spec.get("warmup_s", WARMUP_S)
    spawn_rate = spec.get("spawn_rate", SPAWN_RATE)
    out.mkdir(parents=True, exist_ok=True)
    started = now()
    env = dict(os.environ, WHISKEY_FIXTURE_DELAY_MS=str(delay_ms))
    backend_port = scenario.get("backend_port", scenario["port"])
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="whiskey-fixture-"))
    try:
        app_server = subprocess.Popen(
            server_cmd(scenario, workers, backend_port),
            cwd=HERE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "server.log").open("w"),
        )
        procs.append(app_server)
        server_pids = [app_server.pid]
        wait_http(f"http://127.0.0.1:{backend_port}/quotes/byId?id=1")
        if scenario["via"] == "nginx":
            (tmp / "nginx.conf").write_text(
                NGINX_CONF.format(tmp=tmp, port=scenario["port"], backend=backend_port)
            )
            nginx = subprocess.Popen(
                ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(nginx)
            server_pids.append(nginx.pid)
        url = f"http://127.0.0.1:{scenario['port']}"
        wait_http(url + "/quotes/byId?id=1")
        if reset_stats:
            time.sleep(1.0)  # let the server start its workers before they are listed
            (out / "probe-before.json").write_text(json.dumps(probe(url, app_server.pid), indent=1) + "\n")
        meta = {"scenario": scenario["name"], "workers": workers, "repeat": repeat}
        server_tel = subprocess.Popen(
            collector_cmd(out / "telemetry-server.json", server_pids, {**meta, "role": "server"})
        )
        time.sleep(1.5)
        if profile == "seed":
            driver_cmd = locust_cmd(url, out / "locust", warmup_s + DURATION_S, spawn_rate, reset_stats)
            budget = warmup_s + DURATION_S + 60
        else:
            driver_cmd = [
                sys.executable,
                str(LOAD_DRIVER),
                "wrk",
                "--url",
                url,
                "--corpus-size",
                "10000",
                "--levels",
                ",".join(str(c) for c in LEVELS),
                "--level-time",
                f"{LEVEL_TIME_S}s",
                "--warmup",
                "2s",
                "--out",
                str(out),
            ]
            budget = 2 + LEVEL_TIME_S * len(LEVELS) + 60
        driver = subprocess.Popen(
            driver_cmd,
            cwd=out,
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "driver.log").open("w"),
        )
        client_tel = subprocess.Popen(
            collector_cmd(
                out / f"telemetry-client-{socket.gethostname()}.json",
                [driver.pid],
                {**meta, "role": "client"},
            )
        )
        rc = driver.wait(budget)
        if profile == "throughput" and rc == 0:
            rc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "whiskey_report",
                    "levels",
                    "--driver",
                    "wrk",
                    "--output",
                    str(out / "throughput.json"),
                    str(out),
                ],
                check=False,
            ).returncode
        if reset_stats:
            (out / "probe-after.json").write_text(json.dumps(probe(url, app_server.pid), indent=1) + "\n")
        time.sleep(1.5)
        stop(client_tel)
        stop(server_tel)
        for tel in out.glob("telemetry-*.json"):
            slim_telemetry(tel)
        if reset_stats:
            # Today's format: the context the loop hands to the verdict, and the verdict's status.json.
            context = {
                "workers": workers,
                "scenario": scenario["name"],
                "repeat": repeat,
                "profile": profile,
                "driver": "locust",
                "url": url,
                "path": "/quotes/byId?id={id}",
                "started": started,
                "ended": now(),
                "warmup_s": warmup_s,
                "duration_s": DURATION_S,
                "clients": [socket.gethostname()],
                "client_cores": {socket.gethostname(): os.cpu_count() or 1},
                "stats_reset": True,
                "calibration": calibration or {},
                "thresholds": {"max_error_pct": 2.0},  # the fixture's ids > 9900 fail: ~1 % by design
                "fingerprint": {"fixture": "fixture-r", "backend_delay_ms": delay_ms},
                "errors": [] if rc == 0 else [f"locust exited with {rc}"],
                "telemetry_errors": [],
            }
            (out / "context.json").write_text(json.dumps(context, indent=1) + "\n")
            sys.path.insert(0, str(REPO / "report" / "src"))
            from whiskey_report.verdict import judge, write_status

            write_status(out, judge(out, context))
            return
        client = json.loads((out / f"telemetry-client-{socket.gethostname()}.json").read_text())
        # whiskey_processes.cpu_percent is percent of all CPUs: Locust (one process) is bound at one core.
        ncpu = os.cpu_count() or 1
        driver_cores = [s["whiskey_processes"]["cpu_percent"] * ncpu / 100 for s in client["samples"]]
        busiest = max(driver_cores) if driver_cores else 0.0
        reasons = [f"load driver at {busiest:.0%} of a core"] if busiest >= 0.9 else []
        status = {
            "status": "ok" if rc == 0 else "failed",
            "workers": workers,
            "scenario": scenario["name"],
            "repeat": repeat,
            "profile": profile,
            "driver": "locust" if profile == "seed" else "wrk",
            "url": url,
            "started": started,
            "ended": now(),
            "warmup_s": WARMUP_S if profile == "seed" else 2,
            "duration_s": DURATION_S if profile == "seed" else LEVEL_TIME_S * len(LEVELS),
            "client_bound": bool(reasons),
            "client_bound_reasons": reasons,
            "telemetry_ok": True,
            "error": None if rc == 0 else f"locust exited with {rc}",
        }
        (out / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    finally:
        for proc in reversed(procs):
            stop(proc, signal.SIGQUIT if proc.args[0] == "nginx" else signal.SIGTERM)
        shutil.rmtree(tmp, ignore_errors=True)


def version(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (res.stdout + res.stderr).strip().splitlines()[0] if (res.stdout + res.stderr).strip() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=HERE / "runs", help="where the run folders go")
    parser.add_argument("--only", choices=sorted(RUNS), help="make only this run folder")
    args = parser.parse_args()
    from importlib.metadata import version as pkg_version

    versions = {
        "nginx": version(["nginx", "-v"]).rsplit("/", 1)[-1] if shutil.which("nginx") else "not installed",
        "gunicorn": pkg_version("gunicorn"),
        "waitress": pkg_version("waitress"),
        "locust": pkg_version("locust"),
        "wrk": version(["wrk", "-v"]).split()[1] if shutil.which("wrk") else "not installed",
        "python": platform.python_version(),
        "telemetry_collector": "whiskey-fallback-collector"
        if FALLBACK_COLLECTOR.exists()
        else "whiskey-fixture-sampler 1",
    }
    for run_id, spec in RUNS.items():
        if args.only and run_id != args.only:
            continue
        root = args.out / run_id
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        started = now()
        names = spec.get("scenarios", ["gunicorn", "nginx-gunicorn"])
        calibration = {socket.gethostname(): calibrate(spec)} if spec.get("reset_stats") else None
        for workers in spec["workers"]:
            for name in names:
                for repeat in range(1, REPEATS + 1):
                    print(f"{run_id}: workers={workers} {name} repeat {repeat}", flush=True)
                    one_run(
                        root / str(workers) / name / str(repeat),
                        workers,
                        SCENARIOS[name],
                        repeat,
                        spec["delay_ms"],
                        spec["profile"],
                        spec,
                        calibration,
                    )
        run = {
            "run_id": run_id,
            "whiskey_commit": "fixture",
            "whiskey_dirty": True,
            "started": started,
            "ended": now(),
            "variables": {
                "workers": spec["workers"],
                "scenarios": names,
                "repeats": REPEATS,
                "load_profile": spec["profile"],
                "load_driver": "locust" if spec["profile"] == "seed" else "wrk",
                "concurrency": LEVELS,
                "level_time": f"{LEVEL_TIME_S}s",
                "users": USERS,
                "spawn_rate": spec.get("spawn_rate", SPAWN_RATE),
                "run_time": f"{DURATION_S}s",
                "warmup": f"{spec.get('warmup_s', WARMUP_S)}s",
                "corpus_size": 9900,
                "telemetry_interval": INTERVAL_S,
                "fixture_backend_delay_ms": spec["delay_ms"],
            },
            "scenarios": [SCENARIOS[n] for n in names],
            "hosts": {
                socket.gethostname(): {
                    "role": "server+client (loopback)",
                    "cpu_model": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "memory_mb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
                    "kernel": platform.release(),
                    "distribution": "Debian 12",
                    "virtualization": "none (report test data)",
                }
            },
            "versions": versions,
        }
        if calibration:
            run["calibration"] = calibration
        (root / "run.json").write_text(json.dumps(run, indent=2) + "\n")


if __name__ == "__main__":
    main()
