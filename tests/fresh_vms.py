"""Fresh "VMs" for the SSH tests: systemd containers with sshd, root's key login and no Python
(tests/data/fresh-vm), reached from the controller over SSH on a published port like cloud hosts on their public
address, and reaching each other by name on one Docker network like cloud hosts on their private one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from .conftest import ROOT, docker

# Built on the lab's systemd image of this run's tag (CI builds its own under WHISKEY_IMAGE_TAG).
TAG = os.environ.get("WHISKEY_IMAGE_TAG") or "bookworm"
IMAGE = f"whiskey-fresh-vm:{TAG}"


def build_image() -> None:
    build = subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE=whiskey-systemd:{TAG}", "-t", IMAGE,
         str(ROOT / "tests/data/fresh-vm")],
        text=True, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr


def remove(names: list[str], network: str) -> None:
    for name in names:
        docker("rm", "-f", name)
    docker("network", "rm", network)


def start(
    tmp: Path,
    network: str,
    hosts: dict[str, list[str]],
    caps: tuple[str, ...] = (),
    host_vars: dict | None = None,
    all_vars: dict | None = None,
) -> Path:
    """Start the VMs (group -> names) and return an inventory reaching them over SSH with a new key; host keys
    are checked as in the cloud inventories (recorded at first contact in tmp/known_hosts, a changed one refused)."""
    build_image()
    key = tmp / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
        )
    names = [n for group in hosts.values() for n in group]
    remove(names, network)
    assert docker("network", "create", network).returncode == 0
    groups: dict[str, dict] = {}
    for group, members in hosts.items():
        for name in members:
            started = docker(
                "run", "-d", "--name", name, "--hostname", name, "--network", network,
                "--cap-add", "SYS_ADMIN", *[a for c in caps for a in ("--cap-add", c)], "--cgroupns=host",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                "--stop-signal", "SIGRTMIN+3", "-p", "127.0.0.1::22", IMAGE,
            )  # fmt: skip
            assert started.returncode == 0, started.stderr
            # What cloud-init does on a real VM: the controller's public key for root.
            put = subprocess.run(
                ["docker", "exec", "-i", name, "sh", "-c", "cat > /root/.ssh/authorized_keys"],
                input=Path(f"{key}.pub").read_text(), text=True, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            assert put.returncode == 0, put.stderr
            port = int(docker("port", name, "22/tcp").stdout.strip().rsplit(":", 1)[1])
            groups.setdefault(group, {"hosts": {}})["hosts"][name] = {
                "ansible_host": "127.0.0.1",
                "ansible_port": port,
                "whiskey_address": name,
                **((host_vars or {}).get(name) or {}),
            }
    inventory = tmp / "hosts.yml"
    doc = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "whiskey_known_hosts": str(tmp / "known_hosts"),
                "ansible_ssh_common_args": (
                    "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={{ whiskey_known_hosts }}"
                ),
                "ansible_python_interpreter": "/usr/bin/python3",
                **(all_vars or {}),
            },
            "children": groups,
        }
    }
    inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    return inventory
