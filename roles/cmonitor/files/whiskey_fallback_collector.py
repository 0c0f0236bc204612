#!/usr/bin/python3
"""whiskey-fallback-collector: a small stand-in for cmonitor_collector.

whiskey installs it (role `cmonitor`) only where cmonitor cannot be installed (air-gapped hosts, the local lab).
It samples the host every --sampling-interval seconds and writes the JSON fields whiskey's report reads from
cmonitor (timestamp.UTC, stat.cpu_total / stat.cpuN, proc_loadavg, proc_meminfo) plus `whiskey_processes`:
count, CPU and RSS of the processes under test (matched by a regex on the command line, or a list of PIDs
and their children). See docs/telemetry.md for every field and unit.

The output file is always valid JSON: it is rewritten atomically (temporary file + rename) after the first
sample and then every --flush-interval seconds. On SIGTERM/SIGINT/SIGHUP it writes the last samples, sets
header.collector.finished=true and exits 0. A collector killed with SIGKILL leaves a valid file whose
header.collector.finished is false, holding the samples of the last flush.

Helper modes used by the role's start/stop task files (standard library only, no psutil needed):
  --check FILE   print a one-line JSON summary of a telemetry file (valid, samples, collector, finished, ...)
  --stop PID     SIGTERM a collector, wait for it to exit (SIGKILL after --timeout), print a JSON summary
  --status PID   print whether a collector is running

Runs with the distribution's python3 (3.6+) and python3-psutil.
"""

import argparse
import contextlib
import datetime
import json
import os
import re
import signal
import socket
import sys
import time

NAME = "whiskey-fallback-collector"
VERSION = "1.0.0"
CPU_FIELDS = (
    ("user", "user"),
    ("nice", "nice"),
    ("sys", "system"),
    ("idle", "idle"),
    ("iowait", "iowait"),
    ("hardirq", "irq"),
    ("softirq", "softirq"),
    ("steal", "steal"),
    ("guest", "guest"),
    ("guestnice", "guest_nice"),
)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def utc_now():
    """UTC time as cmonitor-compatible ISO 8601 with milliseconds and a Z suffix."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def local_now():
    return datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


def read_meminfo():
    """All of /proc/meminfo, in kB (page counts such as HugePages_* stay counts)."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                with contextlib.suppress(ValueError):
                    out[key.strip()] = int(parts[0])
    return out


def os_release():
    info = {}
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key:
                info[key] = value.strip('"')
    return info


def parse_metadata(items):
    meta = {}
    for item in items or []:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--custom-metadata wants KEY:VALUE, got {item!r}")
        meta[key] = value
    return meta


class CpuSampler:
    """Percentages from /proc/stat deltas (through psutil): total = percent of all CPUs, cpuN = of that core."""

    def __init__(self, psutil):
        self.psutil = psutil
        self.prev_total = psutil.cpu_times()
        self.prev_per = psutil.cpu_times(percpu=True)

    @staticmethod
    def _percent(new, old):
        deltas = {}
        for out_key, attr in CPU_FIELDS:
            deltas[out_key] = max(0.0, getattr(new, attr, 0.0) - getattr(old, attr, 0.0))
        # Linux counts guest time inside user time (and guest_nice inside nice): do not count it twice.
        elapsed = sum(v for k, v in deltas.items() if k not in ("guest", "guestnice"))
        if elapsed <= 0:
            return {k: 0.0 for k in deltas}
        return {k: round(100.0 * v / elapsed, 2) for k, v in deltas.items()}

    def sample(self):
        total = self.psutil.cpu_times()
        per = self.psutil.cpu_times(percpu=True)
        stat = {"cpu_total": self._percent(total, self.prev_total)}
        for i, (new, old) in enumerate(zip(per, self.prev_per)):
            stat[f"cpu{i}"] = self._percent(new, old)
        self.prev_total, self.prev_per = total, per
        return stat


class ProcessSampler:
    """Count, CPU and RSS of the processes under test.

    CPU is the delta of each process's user+system time between two samples, so it includes processes that
    started during the interval and misses the last interval of processes that exited during it.
    """

    def __init__(self, psutil, regex, pids, ncpu):
        self.psutil = psutil
        self.regex = re.compile(regex) if regex else None
        self.pids = list(pids or [])
        self.ncpu = max(1, ncpu)
        self.me = os.getpid()
        self.prev = {}  # (pid, create_time) -> cpu seconds
        self.prev_wall = time.time()
        if self.regex and self.pids:
            self.label = f"regex {regex} or pids {','.join(map(str, self.pids))} and children"
        elif self.regex:
            self.label = f"regex {regex}"
        else:
            self.label = f"pids {','.join(map(str, self.pids))} and children"
        self.sample()  # baseline: the first real sample then has a delta for every process

    def _matched(self):
        ps = self.psutil
        found = {}
        if self.regex:
            for p in ps.process_iter(["pid", "cmdline"]):
                if p.info["pid"] == self.me:
                    continue
                cmdline = " ".join(p.info["cmdline"] or [])
                if not cmdline or NAME in cmdline:
                    continue  # kernel threads; this collector and the shell that launched it
                if self.regex.search(cmdline):
                    found[p.pid] = p
        for pid in self.pids:
            try:
                root = ps.Process(pid)
                found[root.pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
            except ps.Error:
                continue
        return found

    def sample(self):
        ps = self.psutil
        now = time.time()
        elapsed = max(1e-6, now - self.prev_wall)
        current = {}
        cpu_s = 0.0
        rss_kb = 0
        count = 0
        for pid, p in self._matched().items():
            try:
                with p.oneshot():
                    created = p.create_time()
                    times = p.cpu_times()
                    rss = p.memory_info().rss
            except ps.Error:
                continue
            used = times.user + times.system
            key = (pid, created)
            count += 1
            rss_kb += rss // 1024
            current[key] = used
            if key in self.prev:
                cpu_s += max(0.0, used - self.prev[key])
            elif created >= self.prev_wall:
                cpu_s += used  # born during this interval: all of its CPU time is in it
        self.prev = current
        self.prev_wall = now
        cores = cpu_s / elapsed
        return {
            "match": self.label,
            "count": count,
            "cpu_percent": round(100.0 * cores / self.ncpu, 2),
            "cpu_cores": round(cores, 3),
            "rss_kb": rss_kb,
        }


class Collector:
    def __init__(self, args, psutil):
        self.args = args
        self.psutil = psutil
        self.samples = []
        ncpu = psutil.cpu_count() or 1
        osr = os_release()
        self.doc = {
            "header": {
                "collector": {
                    "name": NAME,
                    "version": VERSION,
                    "sampling_interval_s": args.sampling_interval,
                    "flush_interval_s": args.flush_interval,
                    "started_utc": utc_now(),
                    "ended_utc": None,
                    "finished": False,
                    "stop_reason": None,
                    "python": sys.version.split()[0],
                    "psutil": psutil.__version__,
                    "pid": os.getpid(),
                    "note": "Not cmonitor: whiskey's fallback sampler, used because cmonitor could not be "
                    "installed on this host. Same field names and units as cmonitor for the fields "
                    "whiskey's report reads; see docs/telemetry.md.",
                },
                "identity": {
                    "hostname": socket.gethostname(),
                    "fqdn": socket.getfqdn(),
                    "cpu_count": ncpu,
                    "os": osr.get("PRETTY_NAME", ""),
                    "kernel": os.uname().release,
                },
                "custom_metadata": args.custom_metadata,
            },
            "samples": self.samples,
        }
        self.cpu = CpuSampler(psutil)
        self.procs = None
        if args.process_match or args.process_pids:
            self.procs = ProcessSampler(psutil, args.process_match, args.process_pids, ncpu)
            self.doc["header"]["collector"]["process_match"] = self.procs.label

    def take_sample(self, index, elapsed):
        load = os.getloadavg()
        sample = {
            "timestamp": {
                "datetime": local_now(),
                "UTC": utc_now(),
                "sample_index": index,
                "elapsed_s": round(elapsed, 3),
            },
            "stat": self.cpu.sample(),
            "proc_loadavg": {
                "load_avg_1min": load[0],
                "load_avg_5min": load[1],
                "load_avg_15min": load[2],
            },
            "proc_meminfo": read_meminfo(),
        }
        if self.procs is not None:
            sample["whiskey_processes"] = self.procs.sample()
        self.samples.append(sample)

    def write(self):
        path = self.args.output_filename
        if path == "stdout":
            return
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, separators=(",", ":"))
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def run(self):
        args = self.args
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        self.write()  # a valid, empty file from the start: "started but no sample yet" is visible
        start = time.monotonic()
        last = start
        last_flush = start
        index = 0
        stop_reason = None
        while args.num_samples == 0 or index < args.num_samples:
            deadline = start + (index + 1) * args.sampling_interval
            remaining = deadline - time.monotonic()
            got = signal.sigtimedwait(STOP_SIGNALS, remaining) if remaining > 0 else None
            if got is not None:
                stop_reason = signal.Signals(got.si_signo).name
                break
            now = time.monotonic()
            self.take_sample(index, now - last)
            last = now
            index += 1
            if index == 1 or now - last_flush >= args.flush_interval:
                self.write()
                last_flush = now
        col = self.doc["header"]["collector"]
        col["finished"] = True
        col["stop_reason"] = stop_reason or "num_samples"
        col["ended_utc"] = utc_now()
        self.write()
        if args.output_filename == "stdout":
            json.dump(self.doc, sys.stdout)
            sys.stdout.write("\n")
        return 0


def check_file(path, interval=None):
    """Summary of a telemetry file from either collector; never raises."""
    out = {
        "file": path,
        "exists": os.path.exists(path),
        "bytes": 0,
        "valid": False,
        "collector": None,
        "version": None,
        "samples": 0,
        "finished": None,
        "first_utc": None,
        "last_utc": None,
        "error": None,
    }
    if not out["exists"]:
        out["error"] = f"telemetry file {path} does not exist"
        return out
    out["bytes"] = os.path.getsize(path)
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        out["error"] = f"not valid JSON ({out['bytes']} bytes; truncated by a killed collector?): {exc}"
        return out
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        out["error"] = "JSON has no samples list"
        return out
    header = doc.get("header") if isinstance(doc.get("header"), dict) else {}
    col = header.get("collector") if isinstance(header.get("collector"), dict) else None
    if col:
        out["collector"] = col.get("name")
        out["version"] = col.get("version")
        out["finished"] = col.get("finished")
    elif isinstance(header.get("cmonitor"), dict):
        out["collector"] = "cmonitor_collector"
        out["version"] = header["cmonitor"].get("version")
    samples = doc["samples"]
    out["valid"] = True
    out["samples"] = len(samples)
    if samples:
        out["first_utc"] = (samples[0].get("timestamp") or {}).get("UTC")
        out["last_utc"] = (samples[-1].get("timestamp") or {}).get("UTC")
    out["doc"] = doc
    return out


def annotate(path, summary, interval):
    """Give a file written by cmonitor_collector the header.collector block the report reads."""
    doc = summary.pop("doc", None)
    if doc is None or "collector" in doc.get("header", {}) or summary["collector"] != "cmonitor_collector":
        return False
    doc.setdefault("header", {})["collector"] = {
        "name": "cmonitor_collector",
        "version": summary["version"],
        "sampling_interval_s": interval,
        "annotated_by": NAME + " --check --annotate",
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, path)
    return True


def proc_state(pid, expect=None):
    """'missing', 'zombie' or 'running'.

    A zombie has exited (its parent, e.g. a container's PID 1, has not reaped it yet). With `expect`, a
    process whose command line does not contain it is 'missing': the PID was reused by another program.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "missing"
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return "zombie"
    if expect and expect not in cmdline:
        return "missing"
    return "running"


def stop_pid(pid, timeout, expect=None):
    state = proc_state(pid, expect)
    out = {"pid": pid, "state": state, "was_running": state == "running", "exited": False, "killed": False}
    if not out["was_running"]:
        out["exited"] = True
        return out
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_state(pid, expect) != "running":
            out["exited"] = True
            return out
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    out["killed"] = True
    time.sleep(0.5)
    out["exited"] = proc_state(pid, expect) != "running"
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=NAME,
        description="Sample CPU, memory, load and the processes under test into cmonitor-style JSON "
        "(whiskey's stand-in for cmonitor_collector). Stop it with SIGTERM.",
    )
    p.add_argument("-s", "--sampling-interval", type=float, default=3.0, help="seconds between samples (3)")
    p.add_argument("-c", "--num-samples", type=int, default=0, help="samples to take; 0 = until SIGTERM")
    p.add_argument("-f", "--output-filename", help="JSON file to write ('stdout' writes at the end)")
    p.add_argument(
        "-M",
        "--custom-metadata",
        action="append",
        default=[],
        metavar="KEY:VALUE",
        help="stored under header.custom_metadata; repeatable",
    )
    p.add_argument("--process-match", metavar="REGEX", help="processes whose command line matches REGEX")
    p.add_argument(
        "--process-pids",
        metavar="PID[,PID...]",
        default="",
        help="these processes and all their children",
    )
    p.add_argument("--flush-interval", type=float, default=15.0, help="seconds between file rewrites (15)")
    p.add_argument("-F", "--foreground", action="store_true", help="accepted for cmonitor compatibility")
    p.add_argument("--check", metavar="FILE", help="print a JSON summary of a telemetry file and exit")
    p.add_argument(
        "--annotate", action="store_true", help="with --check: add header.collector to cmonitor files"
    )
    p.add_argument("--stop", type=int, metavar="PID", help="SIGTERM PID, wait for it, print a JSON summary")
    p.add_argument("--status", type=int, metavar="PID", help="print whether PID is running, as JSON")
    p.add_argument("--timeout", type=float, default=30.0, help="with --stop: seconds before SIGKILL (30)")
    p.add_argument(
        "--expect-cmdline",
        metavar="TEXT",
        help="with --stop/--status: only a process whose command line contains TEXT counts (PID reuse guard)",
    )
    p.add_argument("-v", "--version", action="version", version=f"{NAME} {VERSION}")
    args = p.parse_args(argv)
    if args.check or args.stop or args.status:
        return args
    if not args.output_filename:
        p.error("--output-filename is required")
    if args.sampling_interval < 0.1:
        p.error("--sampling-interval must be >= 0.1")
    if args.flush_interval < 0:
        p.error("--flush-interval must be >= 0")
    try:
        args.custom_metadata = parse_metadata(args.custom_metadata)
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    try:
        args.process_pids = [int(x) for x in args.process_pids.split(",") if x.strip()]
    except ValueError:
        p.error("--process-pids wants comma-separated integers")
    if args.process_match:
        try:
            re.compile(args.process_match)
        except re.error as exc:
            p.error(f"--process-match is not a valid regular expression: {exc}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.check:
        summary = check_file(args.check)
        if args.annotate and summary["valid"]:
            summary["annotated"] = annotate(args.check, summary, args.sampling_interval)
        summary.pop("doc", None)
        print(json.dumps(summary))
        return 0
    if args.stop:
        print(json.dumps(stop_pid(args.stop, args.timeout, args.expect_cmdline)))
        return 0
    if args.status:
        print(json.dumps({"pid": args.status, "state": proc_state(args.status, args.expect_cmdline)}))
        return 0
    try:
        import psutil
    except ImportError:
        sys.stderr.write(f"{NAME}: needs psutil (Debian/Ubuntu/Fedora: python3-psutil)\n")
        return 3
    return Collector(args, psutil).run()


if __name__ == "__main__":
    sys.exit(main())
