"""Shared helpers for the playbook-level tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra)
    return env


def run(
    cmd: list[str], timeout: int = 600, cwd: Path = ROOT, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=ansible_env(**extra_env),
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], text=True, capture_output=True, check=False, timeout=120)


@contextmanager
def lab_up(
    inventory: str, containers: tuple[str, ...], network: str, run_ids: tuple[str, ...] = ()
) -> Iterator[subprocess.CompletedProcess[str]]:
    """A lab of the test's own (its inventory) up for the duration, then down: its containers and network gone
    (asserted), and the results of the runs it names removed before and after."""
    for run_id in run_ids:
        shutil.rmtree(ROOT / "results" / run_id, ignore_errors=True)
    up = run(["ansible-playbook", "playbooks/lab.yml", "-i", inventory], timeout=900)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr
    try:
        yield up
    finally:
        down = run(["ansible-playbook", "playbooks/lab-down.yml", "-i", inventory], timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
        for name in containers:
            assert docker("inspect", name).returncode != 0, f"{name} is still there"
        assert docker("network", "inspect", network).returncode != 0, f"{network} is still there"
        for run_id in run_ids:
            shutil.rmtree(ROOT / "results" / run_id, ignore_errors=True)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
