"""playbooks/cloud-bootstrap.yml over real SSH on two "fresh VMs": systemd containers with sshd, key login for
root and no Python (tests/data/fresh-vm). The bootstrap must install python3 through `raw`, get Ansible modules
running and see the server from the client on the private network; a second run changes nothing. Host keys are
checked as on cloud hosts: recorded at first contact, and a host whose key changed is refused with what to do."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from . import fresh_vms
from .conftest import docker, run
from .test_lab import recap

pytestmark = pytest.mark.lab

NETWORK = "whiskey-t-cloud"
HOSTS = {"server": "whiskey-t-vm-server", "client": "whiskey-t-vm-client"}


@pytest.fixture(scope="module")
def vms(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cloud")
    try:
        yield fresh_vms.start(tmp, NETWORK, {group: [name] for group, name in HOSTS.items()})
    finally:
        fresh_vms.remove(list(HOSTS.values()), NETWORK)


def _bootstrap(inventory: Path) -> subprocess.CompletedProcess[str]:
    return run(["ansible-playbook", "-i", str(inventory), "playbooks/cloud-bootstrap.yml"], timeout=900)


def test_fresh_vms_have_no_python_then_bootstrap_makes_them_ready(vms):
    for name in HOSTS.values():
        assert docker("exec", name, "sh", "-c", "command -v python3").returncode != 0
    started = time.monotonic()
    first = _bootstrap(vms)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    stats = recap(first.stdout)
    for name in HOSTS.values():
        assert stats[name]["failed"] == 0 and stats[name]["unreachable"] == 0
        assert stats[name]["changed"] >= 1  # python3 and the basics were installed
        assert docker("exec", name, "/usr/bin/python3", "-c", "import apt").returncode == 0
    assert "Check the clients reach the server's private address" in first.stdout
    print(f"bootstrap of two fresh VMs: {time.monotonic() - started:.1f} s")

    second = _bootstrap(vms)
    assert second.returncode == 0, second.stdout[-4000:]
    assert all(stats["changed"] == 0 for stats in recap(second.stdout).values()), second.stdout[-3000:]


def test_a_changed_host_key_stops_the_bootstrap_with_what_to_do(vms):
    known_hosts = vms.parent / "known_hosts"
    if not known_hosts.exists():  # alone: the first contact records the keys
        assert _bootstrap(vms).returncode == 0
    server = HOSTS["server"]
    port = int(docker("port", server, "22/tcp").stdout.strip().rsplit(":", 1)[1])
    # Recorded at first contact (hashed, as Debian's ssh_config asks: look it up as ssh does).
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[127.0.0.1]:{port}", "-f", str(known_hosts)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert found.returncode == 0, known_hosts.read_text()
    # The VM is "recreated": new host keys at the same address.
    rekey = docker(
        "exec", server, "sh", "-c",
        # ...and the old VM's connections are gone with it (Ansible's ControlPersist would otherwise reuse one).
        "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh"
        " && (pkill -f '^sshd: root' || true)",
    )  # fmt: skip
    assert rekey.returncode == 0, rekey.stderr
    refused = _bootstrap(vms)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    first_task = out[out.find("TASK [Install python3") :][:4000]
    assert f"{server} (127.0.0.1): its SSH host key has CHANGED" in out, first_task
    assert f"ssh-keygen -R '[127.0.0.1]:{port}' -f {known_hosts}" in out
    stats = recap(refused.stdout)
    assert stats[HOSTS["client"]]["failed"] == 0  # the other host is fine
    # What the message says to do, then it runs again.
    forget = subprocess.run(
        ["ssh-keygen", "-R", f"[127.0.0.1]:{port}", "-f", str(known_hosts)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert forget.returncode == 0, forget.stderr
    again = _bootstrap(vms)
    assert again.returncode == 0, again.stdout[-3000:]
