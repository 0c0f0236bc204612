"""The local lab comes up from its images, is idempotent, answers Ansible, and goes away completely."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import docker, lab_up, run

pytestmark = pytest.mark.lab

INVENTORY = "tests/data/lab-test.yml"
SERVER, CLIENT, NETWORK = "whiskey-t-server", "whiskey-t-client", "whiskey-test-lab"


def recap(output: str) -> dict[str, dict[str, int]]:
    stats = {}
    for host, fields in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP", 1)[1], re.M):
        stats[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", fields)}
    return stats


@pytest.fixture(scope="module")
def lab():
    with lab_up(INVENTORY, (SERVER, CLIENT), NETWORK) as up:
        yield up


def test_second_run_changes_nothing(lab):
    again = run(["ansible-playbook", "playbooks/lab.yml", "-i", INVENTORY], timeout=300)
    assert again.returncode == 0, again.stdout
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in recap(again.stdout).values()), again.stdout


def test_every_host_answers_ansible(lab):
    ping = run(["ansible", "-i", INVENTORY, "all", "-m", "ansible.builtin.ping", "-o"], timeout=120)
    assert ping.returncode == 0, ping.stdout
    assert f"{SERVER} | SUCCESS" in ping.stdout
    assert f"{CLIENT} | SUCCESS" in ping.stdout


def test_server_runs_systemd_and_client_reaches_it_by_name(lab):
    assert docker("exec", SERVER, "cat", "/proc/1/comm").stdout.strip() == "systemd"
    state = docker("exec", SERVER, "systemctl", "is-system-running").stdout.strip()
    assert state in {"running", "degraded"}
    resolved = docker("exec", CLIENT, "getent", "hosts", SERVER)
    assert resolved.returncode == 0 and SERVER in resolved.stdout


def test_hosts_are_pinned_to_their_own_cpus(lab):
    def cpuset(name: str) -> str:
        return docker("inspect", "-f", "{{.HostConfig.CpusetCpus}}", name).stdout.strip()

    server, client = cpuset(SERVER), cpuset(CLIENT)
    assert server and client
    nproc = int(subprocess.run(["nproc"], text=True, capture_output=True, check=True).stdout)
    if nproc >= 2:
        assert server != client
