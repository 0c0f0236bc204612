"""A small psutil sampler writing whiskey's telemetry JSON (cmonitor shape, docs/results-format.md).

Used only to make the report's test data when roles/cmonitor's fallback collector is not available.
It samples the whole host plus the process trees of the given PIDs, and writes the file on SIGTERM/SIGINT.

    python telemetry_sampler.py --output telemetry-server.json --interval 1 --pid 1234 --pid 1240 \
        --meta scenario=gunicorn --meta role=server
"""

import argparse
import json
import os
import signal
import socket
import time
from datetime import UTC, datetime

import psutil

NAME = "whiskey-fixture-sampler"
VERSION = "1"


def _meminfo() -> dict:
    wanted = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached"}
    out = {}
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in wanted:
                out[key] = int(rest.split()[0])
    return out


def _tree(pids: list[int]) -> list[psutil.Process]:
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for proc in [root, *root.children(recursive=True)]:
            procs[proc.pid] = proc
    return list(procs.values())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", required=True, help="JSON file to write at the end")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--pid", type=int, action="append", default=[], help="root PID of a process tree")
    parser.add_argument("--meta", action="append", default=[], help="custom metadata KEY=VALUE")
    parser.add_argument(
        "--match", default="scenario programs", help="what the PIDs are (whiskey_processes.match)"
    )
    args = parser.parse_args()

    stop = False

    def _stop(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    known: dict[int, psutil.Process] = {}
    psutil.cpu_times_percent(interval=None)
    samples = []
    next_at = time.monotonic() + args.interval
    while not stop:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += args.interval
        cpu = psutil.cpu_times_percent(interval=None)
        load1, load5, load15 = os.getloadavg()
        cpu_percent = 0.0
        rss_kb = 0
        count = 0
        for proc in _tree(args.pid):
            proc = known.setdefault(proc.pid, proc)
            try:
                with proc.oneshot():
                    # First call per process primes the counter and returns 0.0.
                    cpu_percent += proc.cpu_percent(interval=None)
                    rss_kb += proc.memory_info().rss // 1024
                count += 1
            except psutil.NoSuchProcess:
                known.pop(proc.pid, None)
        samples.append(
            {
                "timestamp": {
                    "UTC": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "sample_index": len(samples),
                },
                "stat": {
                    "cpu_total": {
                        "user": cpu.user,
                        "nice": cpu.nice,
                        "sys": cpu.system,
                        "idle": cpu.idle,
                        "iowait": cpu.iowait,
                    }
                },
                "proc_loadavg": {"load_avg_1min": load1, "load_avg_5min": load5, "load_avg_15min": load15},
                "proc_meminfo": _meminfo(),
                "whiskey_processes": {
                    "match": args.match,
                    "count": count,
                    # percent of all CPUs, like cmonitor's and the fallback collector's CPU fields
                    "cpu_percent": round(cpu_percent / (os.cpu_count() or 1), 2),
                    "rss_kb": rss_kb,
                },
            }
        )
    meta = dict(item.split("=", 1) for item in args.meta)
    doc = {
        "header": {
            "collector": {"name": NAME, "version": VERSION, "sampling_interval_s": args.interval},
            "identity": {"hostname": socket.gethostname()},
            "custom_metadata": meta,
        },
        "samples": samples,
    }
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
