#!/usr/bin/env python3
"""What the benchmark loop asks a host, one call per question (standard library only; the hosts' python3).

  whiskey_host.py versions --role server --app-venv /opt/whiskey/quoteserver/venv [--es-url URL]
  whiskey_host.py versions --role client --locust-venv /opt/whiskey/locust/venv
      -> {"versions": {...}} : component versions on this host (null where a component is missing)
  whiskey_host.py nginx-digest
      -> {"files": {path: sha256 | null}, "nginx": sha256 of `nginx -T` | null}: what the run's server runs with
  whiskey_host.py stop-load --out DIR [--match REGEX]
      -> {"stopped": [pids], "removed": bool}: stops any load driver left running (an interrupted bench) and
         empties the run's output folder, so nothing stale is fetched or keeps loading the server
  whiskey_host.py pack --out DIR --archive FILE [--prefix clients/HOST/] [--top REGEX]
      -> {"files": [names in the archive], "archive": FILE}: the driver's files as one tar.gz laid out as the run
         folder wants them (files whose name matches --top at its top, the others under --prefix), so the
         controller fetches one file per client, whatever the number of files

Every subcommand prints one JSON document and exits 0; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

APP_PACKAGES = ("flask", "werkzeug", "gunicorn", "uwsgi", "granian", "waitress", "elasticsearch")
DRIVER_MATCH = r"whiskey_load\.py|/bin/locust( |$)|^wrk( |$)|/wrk( |$)|/bin/vegeta (attack|encode)"


def _run(argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, text=True, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _first(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text or "")
    return found.group(1) if found else None


def server_versions(app_venv: str, es_url: str) -> dict:
    out: dict[str, str | None] = {}
    try:
        # GET / is not served by every distribution (the Maven integ-test zip answers 405): ask the node.
        with urllib.request.urlopen(f"{es_url}/_cat/nodes?h=version", timeout=10) as resp:
            out["elasticsearch"] = resp.read().decode().split()[0]
    except (OSError, ValueError, IndexError):
        out["elasticsearch"] = None
    nginx = _run(["nginx", "-v"])
    out["nginx"] = _first(r"nginx/([0-9.]+)", nginx.stderr) if nginx else None
    code = (
        "import importlib.metadata as m, json, platform\n"
        "out = {'python': platform.python_version()}\n"
        f"for name in {list(APP_PACKAGES)!r}:\n"
        "    try:\n        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n        out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    app = _run([f"{app_venv}/bin/python", "-c", code])
    try:
        found = json.loads(app.stdout) if app and app.returncode == 0 else {}
    except ValueError:
        found = {}
    for name in (*APP_PACKAGES, "python"):
        key = "elasticsearch_py" if name == "elasticsearch" else name
        out[key] = found.get(name)
    cmon = _run(["cmonitor_collector", "--version"])
    out["telemetry_collector"] = (
        f"cmonitor {cmon.stdout.strip()}" if cmon and cmon.returncode == 0 else "whiskey-fallback-collector"
    )
    return out


def client_versions(locust_venv: str) -> dict:
    locust = _run([f"{locust_venv}/bin/locust", "--version"])
    wrk = _run(["dpkg-query", "-W", "-f=${Version}", "wrk"])
    return {
        "locust": _first(r"locust ([0-9.]+)", locust.stdout) if locust else None,
        "wrk": (wrk.stdout.strip() or None) if wrk and wrk.returncode == 0 else None,
    }


def nginx_digest() -> dict:
    """SHA-256 of nginx's whole configuration as it reads it (`nginx -T`); None without a working nginx. (Each
    scenario's own server configuration is digested by the switch, roles/quoteserver/library.)"""
    dump = _run(["nginx", "-T"])
    ok = dump is not None and dump.returncode == 0
    return {"nginx": hashlib.sha256(dump.stdout.encode()).hexdigest() if ok else None}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def driver_pids(match: str) -> list[int]:
    me = {os.getpid(), os.getppid()}
    pattern = re.compile(match)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in me:
            cmd = _cmdline(int(entry.name))
            if cmd and pattern.search(cmd) and "whiskey_host.py" not in cmd:
                pids.append(int(entry.name))
    return sorted(pids)


def stop_load(out: str, match: str, grace_s: float = 5.0) -> dict:
    pids = driver_pids(match)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.1)
    folder = Path(out)
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    return {"stopped": pids, "removed": existed}


def pack(out: str, archive: str, prefix: str = "", top: str | None = None) -> dict:
    """Every file of `out` (not recursing) into one tar.gz: NAME, or PREFIX + NAME unless NAME matches `top`.

    A missing `out` (the driver never started) gives an empty archive and no files: nothing to fetch.
    """
    pattern = re.compile(top) if top else None
    names = []
    tmp = archive + ".tmp"
    folder = Path(out)
    Path(archive).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not entry.is_file():
                continue
            name = entry.name if pattern and pattern.match(entry.name) else prefix + entry.name
            tar.add(entry, arcname=name, recursive=False)
            names.append(name)
    os.replace(tmp, archive)
    return {"files": names, "archive": archive}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whiskey_host.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ver = sub.add_parser("versions", help="component versions on this host")
    ver.add_argument("--role", choices=["server", "client"], required=True)
    ver.add_argument("--app-venv", default="/opt/whiskey/quoteserver/venv")
    ver.add_argument("--locust-venv", default="/opt/whiskey/locust/venv")
    ver.add_argument("--es-url", default="http://127.0.0.1:9200")
    sub.add_parser("nginx-digest", help="SHA-256 of nginx's whole configuration (`nginx -T`)")
    stop = sub.add_parser("stop-load", help="stop leftover load drivers, empty the run's output folder")
    stop.add_argument("--out", required=True)
    stop.add_argument("--match", default=DRIVER_MATCH)
    pk = sub.add_parser("pack", help="the driver's files as one tar.gz, laid out for the run folder")
    pk.add_argument("--out", required=True, help="the driver's output folder")
    pk.add_argument("--archive", required=True, help="the tar.gz to write")
    pk.add_argument("--prefix", default="", help="folder in the archive for files not matching --top")
    pk.add_argument("--top", default=None, help="regular expression: these files go to the archive's top")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "versions":
        doc = {
            "versions": server_versions(args.app_venv, args.es_url.rstrip("/"))
            if args.role == "server"
            else client_versions(args.locust_venv)
        }
    elif args.cmd == "nginx-digest":
        doc = nginx_digest()
    elif args.cmd == "pack":
        if ".." in Path(args.prefix).parts or args.prefix.startswith("/"):
            print("whiskey_host.py: --prefix must be a relative folder without '..'", file=sys.stderr)
            return 2
        try:
            doc = pack(args.out, args.archive, args.prefix, args.top)
        except OSError as exc:
            print(f"whiskey_host.py pack: {exc}", file=sys.stderr)
            return 1
    else:
        if not args.out.strip("/") or args.out.strip() in ("/", "."):
            print("whiskey_host.py: --out must be a run's folder, not /", file=sys.stderr)
            return 2
        doc = stop_load(args.out, args.match)
    print(json.dumps(doc, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
