"""Fault tests on a lab of their own (tests/data/fault-lab.yml): the real loop (playbooks/loadtest.yml) on real
containers, with things broken on purpose while it measures. Each asserts the verdict the broken run must get and
that nothing measured before it is lost; the report ranks only valid runs and says why the others are not ranked.

  Elasticsearch stopped in the middle of a run     -> invalid (errors, backend, request)
  a WSGI worker killed during a run                -> invalid (processes), the worker replaced
  the load driver killed                           -> failed, the driver named
  the controller interrupted                       -> the driver stops itself (lease); the resume measures only
                                                      what is missing
  a setting changed before a resume                -> stops before measuring, naming the setting
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from .conftest import ROOT, ansible_env, docker, lab_up, run

pytestmark = pytest.mark.lab

INVENTORY = "tests/data/fault-lab.yml"
SERVER, CLIENT, NETWORK = "whiskey-f-server", "whiskey-f-client", "whiskey-f-lab"
RESULTS = ROOT / "results"
# Short runs on a small corpus: the faults are what is tested, not the servers' speed.
BENCH = [
    "-e", "corpus_size=2000", "-e", "workers=2", "-e", "users=20", "-e", "spawn_rate=20", "-e", "run_time=24s",
    "-e", "warmup=2s", "-e", "bench_calibration_seconds=5", "-e", "elasticsearch_heap=384m",
    # The client rule is unit-tested (report/tests); here, on a shared 2-core machine, only a client slower than
    # the server itself would be a distortion worth failing a healthy run for.
    "-e", "client_overhead_pct=100",
]  # fmt: skip


def playbook(name: str, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess[str]:
    return run(["ansible-playbook", name, "-i", INVENTORY, *BENCH, *args], timeout=timeout)


def status(run_id: str, rel: str) -> dict:
    return json.loads((RESULTS / run_id / rel / "status.json").read_text())


def kinds(doc: dict) -> set[str]:
    return {r["kind"] for r in doc.get("reasons") or []}


def measured_load_running(run_id: str, rel: str) -> bool:
    """The run's measured Locust (the one writing CSVs into the run's folder on the client) is running."""
    out = f"/var/tmp/whiskey-load/{run_id}/{rel}/locust"
    found = docker("exec", CLIENT, "pgrep", "-f", "--", f"--csv {out}")
    return found.returncode == 0


def during_load(run_id: str, rel: str, action, after_s: float = 6.0) -> threading.Thread:
    """Run `action` once the run's measured load has gone for about after_s seconds (not during the warm-up or
    while telemetry starts: the measured Locust itself is looked for on the client)."""

    def inject():
        # Earlier runs of the same bench come first: wait as long as a bench of a few runs takes.
        deadline = time.monotonic() + 900
        while not measured_load_running(run_id, rel):
            if time.monotonic() > deadline:
                return
            time.sleep(0.5)
        time.sleep(after_s)
        action()

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    return thread


def server_sh(cmd: str) -> subprocess.CompletedProcess[str]:
    return docker("exec", SERVER, "bash", "-c", cmd)


def processes(host: str, pattern: str) -> str:
    found = docker("exec", host, "bash", "-c", f"pgrep -af -- '{pattern}' | grep -v pgrep || true")
    return found.stdout.strip()


def drivers_on_client() -> str:
    # The load drivers themselves (the client's telemetry collector names them in its own arguments).
    return processes(CLIENT, r"whiskey_load\.py|/bin/locust ")


@pytest.fixture(scope="module")
def lab():
    with lab_up(INVENTORY, (SERVER, CLIENT), NETWORK, ("f-es", "f-kill", "f-int")):
        for name in ("playbooks/server.yml", "playbooks/client.yml"):
            done = playbook(name, timeout=2400)
            assert done.returncode == 0, name + done.stdout[-6000:] + done.stderr[-2000:]
        yield


def test_elasticsearch_stopped_during_a_run_makes_it_invalid_and_unranked(lab):
    def stop_es():
        server_sh("systemctl stop elasticsearch")

    injector = during_load("f-es", "2/nginx-gunicorn/1", stop_es)
    try:
        bench = playbook(
            "playbooks/loadtest.yml", "-e", "run_id=f-es", "-e", "scenarios=[gunicorn,nginx-gunicorn]"
        )
    finally:
        injector.join(timeout=5)
        server_sh(
            "systemctl start elasticsearch; for i in $(seq 90); do "
            "curl -fs 'http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=1s' && break; sleep 1; done"
        )
    assert bench.returncode == 0, bench.stdout[-6000:]
    healthy, broken = status("f-es", "2/gunicorn/1"), status("f-es", "2/nginx-gunicorn/1")
    # Measured before the fault and kept: a result.
    assert healthy["status"] == "valid", healthy
    assert broken["status"] == "invalid", broken
    assert {"errors", "backend"} <= kinds(broken), broken["reasons"]
    assert broken["error_pct"] > 1
    # The report ranks only the valid run and names the other with its reason.
    report = run([str(ROOT / ".venv/bin/whiskey-report"), "summary", str(RESULTS / "f-es")], timeout=600)
    assert report.returncode in (0, 1), report.stdout + report.stderr
    summary = json.loads((RESULTS / "f-es/report/summary.json").read_text())
    ranked = {row["scenario"] for row in summary["rows"]}
    assert "gunicorn" in ranked and "nginx-gunicorn" not in ranked, summary["rows"]
    html = (RESULTS / "f-es/report/report.html").read_text()
    assert "nginx-gunicorn" in html and "Not ranked" in html


def test_a_killed_worker_and_a_killed_driver_are_caught(lab):
    def kill_worker():
        # One of gunicorn's workers (a child of the program's master); gunicorn replaces it.
        server_sh("kill -9 $(pgrep -P $(supervisorctl pid quoteserver-gunicorn) | head -1)")

    def kill_driver():
        docker("exec", CLIENT, "pkill", "-9", "-f", "bin/locust")

    first = during_load("f-kill", "2/gunicorn/1", kill_worker)
    second = during_load("f-kill", "2/waitress/1", kill_driver)
    bench = playbook("playbooks/loadtest.yml", "-e", "run_id=f-kill", "-e", "scenarios=[gunicorn,waitress]")
    first.join(timeout=5)
    second.join(timeout=5)
    assert bench.returncode == 0, bench.stdout[-6000:]
    killed = status("f-kill", "2/gunicorn/1")
    assert killed["status"] == "invalid" and "processes" in kinds(killed), killed
    # The worker was replaced: the scenario still answers after the run (the probe's real request).
    after = json.loads((RESULTS / "f-kill/2/gunicorn/1/probe-after.json").read_text())
    assert after["request"]["ok"] and after["program"]["ok"], after
    driver = status("f-kill", "2/waitress/1")
    assert driver["status"] == "failed" and "locust" in (driver["error"] or ""), driver
    # Its folder keeps what was fetched; the verdict does not pretend it measured.
    assert not driver.get("rate_rps")


def test_interrupted_bench_stops_its_load_and_resumes_only_the_same_experiment(lab):
    command = ["ansible-playbook", "playbooks/loadtest.yml", "-i", INVENTORY, *BENCH, "-e", "run_id=f-int"]
    proc = subprocess.Popen(
        [*command, "-e", "scenarios=[gunicorn,granian]"],
        cwd=ROOT, env=ansible_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 900
        while not measured_load_running("f-int", "2/granian/1") and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(4)
        assert drivers_on_client(), "the measured load should be running"
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Nobody polls the driver any more: it stops itself within its lease (30 s) and leaves no load behind.
    deadline = time.monotonic() + 75
    while drivers_on_client() and time.monotonic() < deadline:
        time.sleep(2)
    assert drivers_on_client() == ""
    first = status("f-int", "2/gunicorn/1")
    assert first["status"] == "valid", first
    assert not (RESULTS / "f-int/2/granian/1/status.json").exists()

    # A setting changed before the resume: stops before measuring, naming it; nothing is touched.
    changed = run([*command, "-e", "scenarios=[gunicorn,granian]", "-e", "users=30"], timeout=900)
    assert changed.returncode != 0
    assert "bench.users: 20 -> 30" in changed.stdout, changed.stdout[-3000:]
    assert status("f-int", "2/gunicorn/1") == first
    assert not (RESULTS / "f-int/2/granian/1/status.json").exists()

    # The same experiment: the finished run is skipped, the interrupted one is measured (the old folder aside).
    resumed = run([*command, "-e", "scenarios=[gunicorn,granian]"], timeout=1500)
    assert resumed.returncode == 0, resumed.stdout[-6000:]
    assert status("f-int", "2/gunicorn/1") == first
    assert status("f-int", "2/granian/1")["status"] == "valid"
    # The interrupted attempt fetched nothing (it was stopped during its load): whatever it left is kept aside,
    # never read as a result.
    assert not any((old / "status.json").exists() for old in (RESULTS / "f-int/2/granian").glob("1.old-*"))
    run_json = json.loads((RESULTS / "f-int/run.json").read_text())
    assert len(run_json["invocations"]) == 2  # the refused one changed nothing
    # The interrupted run's telemetry collectors were stopped when the resume began; nothing of f-int is left.
    assert (
        processes(CLIENT, "whiskey-telemetry-f-int") == ""
        and processes(SERVER, "whiskey-telemetry-f-int") == ""
    )
