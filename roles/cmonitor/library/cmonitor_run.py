#!/usr/bin/python
"""Start or stop one run's telemetry collector on this host in one call (the role's start.yml / stop.yml)."""

DOCUMENTATION = r"""
---
module: cmonitor_run
short_description: Start or stop the telemetry collector of one benchmark run
description:
  - C(state=started) reads the install record written by the role's main tasks, stops a collector left over
    with the same label, launches the collector detached (a transient systemd unit where systemd is the service
    manager, setsid otherwise), waits for its first write and records its pid in C(state_dir)/run-<label>.json.
  - C(state=stopped) stops that collector (SIGTERM, SIGKILL after C(stop_timeout)), checks the file it wrote
    (annotating a cmonitor_collector file with the header the report reads) and forgets the run.
  - Neither fails on a collector that would not start or died: the result says so in C(ok) and C(error).
    Bad parameters and a missing install record fail.
options:
  state:
    description: Start or stop.
    type: str
    choices: [started, stopped]
    required: true
  label:
    description: Names this run on this host; 1-100 of letters, digits, '.', '_', '-'.
    type: str
    required: true
  output:
    description: Absolute path of the telemetry file, ending in .json.
    type: path
    required: true
  interval:
    description: Seconds between samples.
    type: int
    default: 3
  metadata:
    description: Stored in the file's header (custom metadata).
    type: dict
    default: {}
  process_match:
    description: Regular expression over full command lines of the processes to follow (fallback collector).
    type: str
    default: ""
  process_pids:
    description: Processes to follow with their children (fallback collector).
    type: list
    elements: int
    default: []
  deep_collect:
    description: cmonitor_collector only, --deep-collect.
    type: bool
    default: true
  flush_interval:
    description: Seconds between the fallback collector's file rewrites.
    type: int
    default: 15
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL.
    type: int
    default: 30
  state_dir:
    description: Where the install record and the per-run state files are.
    type: path
    default: /var/lib/whiskey/cmonitor
  fallback_bin:
    description: The fallback collector (the stop/status/check helper when no state names one).
    type: path
    default: /usr/local/bin/whiskey-fallback-collector
  launcher:
    description: auto = systemd when /run/systemd/system exists, else detached.
    type: str
    choices: [auto, systemd, detached]
    default: auto
author: whiskey contributors
"""

EXAMPLES = r"""
- name: Start the collector
  cmonitor_run:
    state: started
    label: r1-gunicorn
    output: /var/tmp/whiskey-telemetry-r1.json
    process_match: "^/opt/whiskey/quoteserver/venv/bin/"
  register: started

- name: Stop it
  cmonitor_run:
    state: stopped
    label: r1-gunicorn
    output: /var/tmp/whiskey-telemetry-r1.json
  register: stopped
"""

RETURN = r"""
ok:
  description: The collector started (started) or ran to the stop and left a valid file with samples (stopped).
  type: bool
  returned: always
error:
  description: Why not ok; null when ok.
  type: str
  returned: always
collector:
  description: cmonitor_collector or whiskey-fallback-collector.
  type: str
  returned: always
pid:
  description: The collector's pid (started).
  type: int
  returned: when state=started
unit:
  description: The transient systemd unit, or null (started).
  type: str
  returned: when state=started
samples:
  description: Samples in the file (stopped).
  type: int
  returned: when state=stopped
exists:
  description: Whether the file exists, so it can be fetched (stopped).
  type: bool
  returned: when state=stopped
"""

import json
import os
import re
import subprocess
import time

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
FIRST_WRITE_TIMEOUT_S = 15


def check_params(p):
    """A list of what is wrong with the parameters, each naming the parameter and what is allowed."""
    problems = []
    if not LABEL_RE.match(p["label"] or ""):
        problems.append(
            f"label must be 1-100 of [A-Za-z0-9_.-], starting with a letter or digit (got {p['label']!r})"
        )
    if not (str(p["output"] or "").startswith("/") and str(p["output"]).endswith(".json")):
        problems.append(f"output must be an absolute path ending in .json (got {p['output']!r})")
    if int(p["interval"]) < 1:
        problems.append(f"interval must be >= 1 (got {p['interval']!r})")
    return problems


def run_paths(state_dir, label):
    return {
        "state_file": os.path.join(state_dir, f"run-{label}.json"),
        "log": os.path.join(state_dir, f"run-{label}.log"),
        "unit": f"whiskey-cmonitor-{label}",
    }


def collector_command(record, p):
    """The collector's argument vector, metadata included."""
    cmonitor = record["collector"] == "cmonitor_collector"
    cmd = [record["binary"], f"--sampling-interval={p['interval']}", f"--output-filename={p['output']}"]
    if cmonitor:
        cmd += ["--foreground", "--allow-multiple-instances", "--collect=all_baremetal"]
        if p["deep_collect"]:
            cmd.append("--deep-collect")
    else:
        cmd.append(f"--flush-interval={p['flush_interval']}")
        if p["process_match"]:
            cmd.append(f"--process-match={p['process_match']}")
        if p["process_pids"]:
            cmd.append("--process-pids=" + ",".join(str(int(x)) for x in p["process_pids"]))
    for key, value in (p["metadata"] or {}).items():
        key = str(key).replace(":", "_")
        # cmonitor_collector splits --custom-metadata on every ':' and rejects more than two parts.
        value = str(value).replace(":", "_") if cmonitor else str(value)
        cmd.append(f"--custom-metadata={key}:{value}")
    return cmd


def start_error(record, status_state, launch_output):
    if status_state == "running":
        return None
    detail = " ".join(x.strip() for x in launch_output if x and x.strip()).replace("\n", " | ")
    return f"collector {record['collector']} did not start or exited at once: {detail}".strip()


def stop_error(label, state, state_file, stopped, summary, interval, stop_timeout, log_tail):
    """Why a stopped run's telemetry is not complete, or None."""
    log = f"; log: {log_tail}" if log_tail else ""
    if "pid" not in state:
        return f"no collector was started with run label {label} on this host (no {state_file})"
    if not stopped.get("was_running"):
        text = (
            f"collector {state.get('collector')} (pid {state['pid']}) had died before stop; "
            f"its file has {summary.get('samples', 0)} samples"
        )
        if summary.get("last_utc"):
            text += f" up to {summary['last_utc']}"
        if not summary.get("valid"):
            text += f" ({summary.get('error')})"
        return text + log
    if not summary.get("valid"):
        return f"{summary.get('error')}{log}"
    if int(summary.get("samples") or 0) == 0:
        return f"collector wrote no samples (run shorter than the {interval} s interval?)"
    if summary.get("finished") is False:
        return (
            f"collector did not finish its file (killed after {stop_timeout} s?); "
            f"{summary['samples']} samples kept"
        )
    return None


def _json_of(argv):
    """Run a helper command; its JSON stdout, or None with stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        return json.loads(proc.stdout), ""
    except ValueError:
        return None, (proc.stderr or proc.stdout or f"exit {proc.returncode}").strip()


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])[:600]


def _remove(path):
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


def use_systemd(launcher):
    return launcher == "systemd" or (launcher == "auto" and os.path.isdir("/run/systemd/system"))


def start(p):
    paths = run_paths(p["state_dir"], p["label"])
    record_path = os.path.join(p["state_dir"], "installed.json")
    record = _read_json(record_path)
    if record is None:
        return None, (
            f"cmonitor: {record_path} is missing or unreadable: apply the role `cmonitor` (its main tasks) to this "
            "host before tasks_from=start"
        )
    changed = False
    expect = os.path.basename(record["binary"])
    stale = _read_json(paths["state_file"]) or {}
    if "pid" in stale:
        out, _ = _json_of(
            [
                record["helper"],
                f"--stop={stale['pid']}",
                f"--timeout={p['stop_timeout']}",
                f"--expect-cmdline={stale.get('expect', expect)}",
            ]
        )
        changed = bool(out and out.get("was_running"))
    os.makedirs(os.path.dirname(p["output"]), exist_ok=True)
    _remove(p["output"])
    _remove(paths["log"])
    os.makedirs(p["state_dir"], exist_ok=True)
    cmd = collector_command(record, p)
    systemd = use_systemd(p["launcher"])
    launch_output = []
    pid = 0
    if systemd:
        subprocess.run(
            ["systemctl", "reset-failed", paths["unit"] + ".service"], capture_output=True, check=False
        )
        proc = subprocess.run(
            [
                "systemd-run",
                f"--unit={paths['unit']}",
                "--collect",
                "--quiet",
                f"--property=StandardOutput=file:{paths['log']}",
                f"--property=StandardError=file:{paths['log']}",
                "--property=KillSignal=SIGTERM",
                "--",
                *cmd,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        launch_output.append(proc.stderr)
        show = subprocess.run(
            ["systemctl", "show", "--property=MainPID", "--value", paths["unit"] + ".service"],
            capture_output=True,
            text=True,
            check=False,
        )
        pid = int(show.stdout.strip() or 0) if show.stdout.strip().isdigit() else 0
    else:
        with open(paths["log"], "wb") as log, open(os.devnull, "rb") as devnull:
            try:
                child = subprocess.Popen(cmd, stdin=devnull, stdout=log, stderr=log, start_new_session=True)
                pid = child.pid
            except OSError as exc:
                launch_output.append(str(exc))
    changed = changed or pid > 0
    state = "missing"
    if pid > 0:
        deadline = time.monotonic() + FIRST_WRITE_TIMEOUT_S
        while time.monotonic() < deadline and not os.path.exists(p["output"]):
            time.sleep(0.1)
        status, _ = _json_of([record["helper"], f"--status={pid}", f"--expect-cmdline={expect}"])
        state = (status or {}).get("state", "missing")
        doc = {
            "pid": pid,
            "unit": paths["unit"] if systemd else None,
            "collector": record["collector"],
            "binary": record["binary"],
            "helper": record["helper"],
            "expect": expect,
            "output": p["output"],
            "log": paths["log"],
            "interval": int(p["interval"]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": cmd,
        }
        with open(paths["state_file"], "w") as f:
            json.dump(doc, f, indent=2)
    if state != "running":
        launch_output.append(_tail(paths["log"]))
    error = start_error(record, state, launch_output)
    return {
        "changed": changed,
        "ok": error is None,
        "error": error,
        "pid": pid,
        "collector": record["collector"],
        "unit": paths["unit"] if systemd else None,
        "command": cmd,
    }, None


def stop(p):
    paths = run_paths(p["state_dir"], p["label"])
    state = _read_json(paths["state_file"]) or {}
    helper = state.get("helper") or p["fallback_bin"]
    stopped = {}
    if "pid" in state:
        stopped, _ = _json_of(
            [
                helper,
                f"--stop={state['pid']}",
                f"--timeout={p['stop_timeout']}",
                f"--expect-cmdline={state.get('expect', '')}",
            ]
        )
        stopped = stopped or {}
    summary, helper_error = _json_of(
        [helper, f"--check={p['output']}", "--annotate", f"--sampling-interval={p['interval']}"]
    )
    if summary is None:
        summary = {
            "exists": False,
            "valid": False,
            "samples": 0,
            "error": f"telemetry helper failed: {helper_error}",
        }
    log_tail = ""
    if "pid" not in state or not stopped.get("was_running") or not summary.get("valid"):
        log_tail = _tail(state.get("log") or paths["log"])
    error = stop_error(
        p["label"], state, paths["state_file"], stopped, summary, p["interval"], p["stop_timeout"], log_tail
    )
    forgot = _remove(paths["state_file"])
    return {
        "changed": bool(stopped.get("was_running")) or bool(summary.get("annotated")) or forgot,
        "ok": error is None,
        "error": error,
        "collector": summary.get("collector") or state.get("collector"),
        "samples": int(summary.get("samples") or 0),
        "exists": bool(summary.get("exists")),
        "first_utc": summary.get("first_utc"),
        "last_utc": summary.get("last_utc"),
        "finished": summary.get("finished"),
        "killed": bool(stopped.get("killed")),
        "run_label": p["label"],
    }, None


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["started", "stopped"], "required": True},
            "label": {"type": "str", "required": True},
            "output": {"type": "path", "required": True},
            "interval": {"type": "int", "default": 3},
            "metadata": {"type": "dict", "default": {}},
            "process_match": {"type": "str", "default": ""},
            "process_pids": {"type": "list", "elements": "int", "default": []},
            "deep_collect": {"type": "bool", "default": True},
            "flush_interval": {"type": "int", "default": 15},
            "stop_timeout": {"type": "int", "default": 30},
            "state_dir": {"type": "path", "default": "/var/lib/whiskey/cmonitor"},
            "fallback_bin": {"type": "path", "default": "/usr/local/bin/whiskey-fallback-collector"},
            "launcher": {"type": "str", "choices": ["auto", "systemd", "detached"], "default": "auto"},
        },
        supports_check_mode=False,
    )
    problems = check_params(module.params)
    if problems:
        module.fail_json(msg="cmonitor: " + "; ".join(problems))
    result, failure = (start if module.params["state"] == "started" else stop)(module.params)
    if failure:
        module.fail_json(msg=failure)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
