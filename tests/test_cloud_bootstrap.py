"""playbooks/cloud-bootstrap.yml over real SSH on two "fresh VMs": systemd containers with sshd, key login for
root and no Python (tests/data/fresh-vm). The bootstrap must install python3 through `raw`, get Ansible modules
running and see the server from the client on the private network; a second run changes nothing. Host keys are
checked as on cloud hosts: recorded at first contact, and a host whose key changed is refused with what to do."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT, run
from .test_lab import docker, recap

pytestmark = pytest.mark.lab

# Built on the lab's systemd image of this run's tag (CI builds its own under WHISKEY_IMAGE_TAG).
TAG = os.environ.get("WHISKEY_IMAGE_TAG") or "bookworm"
IMAGE = f"whiskey-fresh-vm:{TAG}"
NETWORK = "whiskey-t-cloud"
HOSTS = {"server": "whiskey-t-vm-server", "client": "whiskey-t-vm-client"}


def _remove() -> None:
    for name in HOSTS.values():
        docker("rm", "-f", name)
    docker("network", "rm", NETWORK)


@pytest.fixture(scope="module")
def vms(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cloud")
    build = subprocess.run(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"BASE_IMAGE=whiskey-systemd:{TAG}",
            "-t",
            IMAGE,
            str(ROOT / "tests/data/fresh-vm"),
        ],
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60)
    _remove()
    assert docker("network", "create", NETWORK).returncode == 0
    ports = {}
    try:
        for group, name in HOSTS.items():
            started = docker(
                "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
                "--cap-add", "SYS_ADMIN", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3",
                "-p", "127.0.0.1::22", IMAGE,
            )  # fmt: skip
            assert started.returncode == 0, started.stderr
            # What cloud-init does on a real VM: the controller's public key for root.
            pub = Path(f"{key}.pub").read_text()
            put = subprocess.run(
                ["docker", "exec", "-i", name, "sh", "-c", "cat > /root/.ssh/authorized_keys"],
                input=pub, text=True, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            assert put.returncode == 0, put.stderr
            ports[group] = int(docker("port", name, "22/tcp").stdout.strip().rsplit(":", 1)[1])
        inventory = tmp / "hosts.yml"
        inventory.write_text(
            "all:\n"
            "  vars:\n"
            "    ansible_user: root\n"
            f"    ansible_ssh_private_key_file: {key}\n"
            # As the cloud inventories: keys recorded at first contact, a changed one refused.
            f"    whiskey_known_hosts: {tmp / 'known_hosts'}\n"
            "    ansible_ssh_common_args: -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={{ whiskey_known_hosts }}\n"
            "    ansible_python_interpreter: /usr/bin/python3\n"
            "  children:\n"
            + "".join(
                f"    {group}:\n      hosts:\n        {name}:\n          ansible_host: 127.0.0.1\n"
                f"          ansible_port: {ports[group]}\n          whiskey_address: {name}\n"
                for group, name in HOSTS.items()
            )
        )
        yield inventory
    finally:
        _remove()


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
