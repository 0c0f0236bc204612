"""roles/quoteserver/library/quoteserver_switch.py without a container: the decisions, a real process tree read
from /proc, and the whole switch against a real supervisord (supervisor 4.3.0, pip-installed into a temporary
folder when this interpreter lacks it) running two real HTTP servers as programs, plus one that cannot start.

The module runs on the lab's server in roles/quoteserver's molecule scenario and in every bench.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "quoteserver_switch", Path(__file__).resolve().parents[1] / "library" / "quoteserver_switch.py"
)
qs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qs)

LIVE = ["RUNNING", "STARTING", "BACKOFF", "STOPPING"]
SUPERVISOR_PIN = "supervisor==4.3.0"


def test_only_the_other_scenarios_that_hold_a_port_are_stopped():
    states = {
        "qs-a": "RUNNING",
        "qs-b": "STARTING",
        "qs-c": "STOPPED",
        "qs-d": "FATAL",
        "elasticsearch": "RUNNING",
    }
    programs = ["qs-a", "qs-b", "qs-c", "qs-d"]
    assert qs.others_live(states, "qs-c", programs, LIVE) == ["qs-a", "qs-b"]
    assert "elasticsearch" not in qs.others_live(states, "qs-a", programs, LIVE)


def test_start_restart_or_nothing():
    states = {"qs-a": "RUNNING", "qs-b": "STOPPED"}
    assert qs.start_action(states, "qs-a", restart=False) == "none"
    assert qs.start_action(states, "qs-a", restart=True) == "restarted"
    assert qs.start_action(states, "qs-b", restart=False) == "started"
    assert qs.start_action({}, "qs-b", restart=False) == "started"


def test_descendants_of_a_real_process_tree():
    code = (
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while len(qs.descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = qs.descendants(parent.pid)
        assert tree[0] == parent.pid and len(tree) == 2
        assert Path(f"/proc/{tree[1]}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(parent.pid)
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()


def test_config_digest(tmp_path):
    cfg = tmp_path / "gunicorn.conf.py"
    cfg.write_text("workers = 6\n")
    assert qs.sha256_file(cfg) == hashlib.sha256(b"workers = 6\n").hexdigest()
    assert qs.sha256_file(tmp_path / "missing") is None


# ---------------------------------------------------------------- a real supervisord


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def supervisord(tmp_path_factory):
    base = tmp_path_factory.mktemp("supervisord")
    env = dict(os.environ)
    if importlib.util.find_spec("supervisor") is None:
        lib = base / "lib"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(lib),
             SUPERVISOR_PIN],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        env["PYTHONPATH"] = str(lib)
    www = base / "www"
    (www / "quotes").mkdir(parents=True)
    (www / "quotes" / "sayHello").write_text("hello\n")
    ports = {"qs-a": _free_port(), "qs-b": _free_port()}
    sock = base / "supervisor.sock"
    programs = "".join(
        f"[program:{name}]\ncommand={sys.executable} -m http.server {port} --bind 127.0.0.1 --directory {www}\n"
        f"autostart=false\nstartsecs=1\nredirect_stderr=true\nstdout_logfile={base}/{name}.log\n"
        for name, port in ports.items()
    )
    programs += (
        f"[program:qs-broken]\ncommand=/bin/sh -c 'echo cannot bind its port >&2; exit 3'\nautostart=false\n"
        f"startsecs=1\nstartretries=1\nredirect_stderr=true\nstdout_logfile={base}/qs-broken.log\n"
    )
    conf = base / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile={sock}\n[supervisord]\nlogfile={base}/supervisord.log\n"
        f"pidfile={base}/supervisord.pid\nnodaemon=true\n"
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        f"{programs}"
    )
    proc = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], env=env)
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, (base / "supervisord.log").read_text()
        time.sleep(0.1)
    yield qs.Supervisor(str(sock)), ports, base
    proc.terminate()
    proc.wait(timeout=30)


def _params(program, ports, base, **over):
    p = {
        "program": program,
        "programs": ["qs-a", "qs-b", "qs-broken"],
        "restart": False,
        "url": f"http://127.0.0.1:{ports.get(program, 9)}/quotes/sayHello",
        "timeout": 10,
        "log_tail_lines": 5,
        "config": None,
        "live_states": LIVE,
    }
    p.update(over)
    return p


def test_a_switch_runs_exactly_one_program_and_a_restart_replaces_it(supervisord):
    sup, ports, base = supervisord
    first = qs.switch(sup, _params("qs-a", ports, base))
    assert "failed" not in first, first
    assert first["action"] == "started" and first["stopped"] == []
    assert sup.states()["qs-a"] == "RUNNING"  # not STARTING: the probe that follows reads this state
    pid_a = first["pids"][0]
    assert pid_a == sup.info("qs-a")["pid"]

    second = qs.switch(sup, _params("qs-b", ports, base))
    assert second["stopped"] == ["qs-a"] and second["action"] == "started"
    states = sup.states()
    assert states["qs-a"] == "STOPPED" and states["qs-b"] == "RUNNING"
    assert not Path(f"/proc/{pid_a}").exists()

    same = qs.switch(sup, _params("qs-b", ports, base))
    assert same["action"] == "none" and not same["changed"] and same["pids"] == second["pids"]

    cfg = base / "b.conf"
    cfg.write_text("changed\n")
    restarted = qs.switch(sup, _params("qs-b", ports, base, restart=True, config=str(cfg)))
    assert restarted["action"] == "restarted" and restarted["pids"][0] != second["pids"][0]
    assert restarted["config_sha256"] == hashlib.sha256(b"changed\n").hexdigest()


def test_a_program_that_cannot_start_fails_the_switch_with_its_log(supervisord):
    sup, ports, base = supervisord
    result = qs.switch(sup, _params("qs-broken", ports, base, timeout=3))
    assert result["failed"].startswith(
        "qs-broken did not answer http://127.0.0.1:9/quotes/sayHello within 3 s"
    )
    assert "cannot bind its port" in result["failed"]
    assert set(result["stopped"]) <= {"qs-a", "qs-b"}
    assert sup.states()["qs-a"] != "RUNNING" and sup.states()["qs-b"] != "RUNNING"
