#!/usr/bin/python
"""Make one supervisor program the only scenario running, and wait until it answers (one call per switch)."""

DOCUMENTATION = r"""
---
module: quoteserver_switch
short_description: Run exactly one scenario's supervisor program and wait until it answers
description:
  - Stops every other program of C(programs) that holds (or is about to hold) its port, starts C(program)
    (restarts it when C(restart), i.e. its configuration changed), waits until C(url) answers 200, and returns
    the program's process tree.
  - When the program does not answer within C(timeout) seconds the module fails with the end of its log.
  - Fails when, after the switch, another program of C(programs) is RUNNING.
  - Talks to supervisord over its XML-RPC interface on C(socket) (what supervisorctl uses, without starting a
    supervisorctl process per step).
options:
  program:
    description: The supervisor program to run.
    type: str
    required: true
  programs:
    description: Every scenario's program (the others are stopped).
    type: list
    elements: str
    required: true
  restart:
    description: Restart the program even when it runs (its configuration changed).
    type: bool
    default: false
  url:
    description: What must answer 200 before the switch is done.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the URL.
    type: int
    default: 60
  log_tail_lines:
    description: Lines of the program's log in the failure message.
    type: int
    default: 40
  config:
    description: The scenario's rendered configuration file; its SHA-256 is returned (what the run runs with).
    type: path
  socket:
    description: supervisord's unix socket ([unix_http_server] file).
    type: path
    default: /var/run/supervisor.sock
  live_states:
    description: supervisor states in which a program holds its port.
    type: list
    elements: str
    default: [RUNNING, STARTING, BACKOFF, STOPPING]
author: whiskey contributors
"""

EXAMPLES = r"""
- name: Switch to gunicorn
  quoteserver_switch:
    program: quoteserver-gunicorn
    programs: [quoteserver-gunicorn, quoteserver-werkzeug]
    restart: true
    url: http://127.0.0.1:8001/quotes/sayHello
"""

RETURN = r"""
pids:
  description: The program's main pid first, then every descendant.
  type: list
  elements: int
  returned: success
stopped:
  description: The other programs that were stopped.
  type: list
  elements: str
  returned: always
action:
  description: restarted, started or none.
  type: str
  returned: success
config_sha256:
  description: SHA-256 of C(config) (null when not given or unreadable).
  type: str
  returned: success
seconds:
  description: How long stopping the others, starting the program and waiting for its answer took.
  type: dict
  returned: success
"""

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
import xmlrpc.client

# supervisor's xmlrpc fault codes (supervisor/xmlrpc.py Faults)
FAULT_ALREADY_STARTED = 60
FAULT_NOT_RUNNING = 70


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout=60):
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host):
        return _UnixHTTPConnection(self._path, self._timeout)


class Supervisor:
    """The few calls of supervisord's XML-RPC API the switch needs."""

    def __init__(self, socket_path, timeout=60):
        self.api = xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(socket_path, timeout)
        )

    def states(self):
        return {info["name"]: info["statename"] for info in self.api.supervisor.getAllProcessInfo()}

    def info(self, name):
        return self.api.supervisor.getProcessInfo(name)

    def stop(self, name):
        try:
            self.api.supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != FAULT_NOT_RUNNING:
                raise

    def start(self, name):
        """Start without waiting for startsecs: the caller waits for the program's answer instead."""
        try:
            self.api.supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != FAULT_ALREADY_STARTED:
                raise

    def tail(self, name, nbytes):
        return self.api.supervisor.tailProcessStdoutLog(name, 0, nbytes)[0]


def others_live(states, program, programs, live_states):
    return [name for name in programs if name != program and states.get(name) in live_states]


def start_action(states, program, restart):
    if restart:
        return "restarted"
    return "none" if states.get(program) == "RUNNING" else "started"


def descendants(pid, proc="/proc"):
    """pid and every descendant, parents before children, from /proc/<pid>/stat."""
    children = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, level = [pid], [pid]
    while level:
        level = sorted(c for p in level for c in children.get(p, []))
        tree += level
    return tree


def answers(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))


def sha256_file(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (OSError, TypeError):
        return None


def wait_until_answers(url, timeout_s, sleep=time.sleep, clock=time.monotonic, probe=answers):
    deadline = clock() + timeout_s
    last = "not tried"
    while True:
        ok, last = probe(url, 5)
        if ok:
            return True, last
        if clock() >= deadline:
            return False, last
        sleep(0.25)


def switch(sup, p, clock=time.monotonic):
    """Stop the others, start the program, wait for its answer and for RUNNING: the module's result."""
    seconds = {}
    t0 = clock()
    states = sup.states()
    stopped = others_live(states, p["program"], p["programs"], p["live_states"])
    for name in stopped:
        sup.stop(name)
    seconds["stop"] = round(clock() - t0, 3)
    action = start_action(states, p["program"], p["restart"])
    if action == "restarted":
        sup.stop(p["program"])
    if action != "none":
        sup.start(p["program"])
    seconds["start"] = round(clock() - t0 - seconds["stop"], 3)
    ok, last = wait_until_answers(p["url"], p["timeout"])
    if ok:
        # RUNNING once it has run startsecs: the probe that follows reads supervisor's state.
        deadline = clock() + p["timeout"]
        while sup.info(p["program"])["statename"] == "STARTING" and clock() < deadline:
            time.sleep(0.1)
    seconds["answer"] = round(clock() - t0 - seconds["stop"] - seconds["start"], 3)
    if not ok:
        log = sup.tail(p["program"], p["log_tail_lines"] * 200)
        tail = "\n".join(log.splitlines()[-p["log_tail_lines"] :])
        return {
            "failed": f"{p['program']} did not answer {p['url']} within {p['timeout']} s: {last}\n"
            f"--- last lines of its log ---\n{tail}",
            "stopped": stopped,
        }
    states = sup.states()
    running = [name for name in p["programs"] if states.get(name) == "RUNNING"]
    if running != [p["program"]]:
        return {
            "failed": f"expected only {p['program']} RUNNING, supervisor says: {running}",
            "stopped": stopped,
        }
    pid = int(sup.info(p["program"])["pid"] or 0)
    if pid <= 0:
        return {"failed": f"supervisor gives no pid for {p['program']}", "stopped": stopped}
    return {
        "changed": bool(stopped) or action != "none",
        "pids": descendants(pid),
        "stopped": stopped,
        "action": action,
        "config_sha256": sha256_file(p["config"]) if p["config"] else None,
        "seconds": seconds,
    }


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "program": {"type": "str", "required": True},
            "programs": {"type": "list", "elements": "str", "required": True},
            "restart": {"type": "bool", "default": False},
            "url": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 60},
            "log_tail_lines": {"type": "int", "default": 40},
            "config": {"type": "path", "default": None},
            "socket": {"type": "path", "default": "/var/run/supervisor.sock"},
            "live_states": {
                "type": "list",
                "elements": "str",
                "default": ["RUNNING", "STARTING", "BACKOFF", "STOPPING"],
            },
        },
        supports_check_mode=False,
    )
    p = module.params
    if p["program"] not in p["programs"]:
        module.fail_json(msg=f"program must be one of {', '.join(p['programs'])} (got {p['program']!r})")

    try:
        result = switch(Supervisor(p["socket"]), p)
    except (OSError, xmlrpc.client.Error) as exc:
        module.fail_json(msg=f"supervisord on {p['socket']}: {type(exc).__name__}: {exc}")
    if "failed" in result:
        module.fail_json(msg=result.pop("failed"), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
