"""Every pip install whiskey makes is a hash-checked lock: each pin has the SHA-256 of its files, the installers
demand it (--require-hashes), a lock agrees with the .in it was made from, and pip refuses a file whose hash is
not the pinned one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SERVERS_IN = "roles/quoteserver/files/servers.in"
SERVERS = "roles/quoteserver/files/servers.txt"
BUILD = "roles/quoteserver/files/requirements-build.txt"
# The app locks: each is installed together with the servers' lock (pip install -r servers.txt -r <app lock>)
APP_LOCKS = {
    "app/requirements.in": "app/requirements.txt",
    **{
        str(p.relative_to(ROOT)): str(p.with_suffix(".txt").relative_to(ROOT))
        for p in sorted(ROOT.glob("examples/*/requirements.in"))
    },
}
# in -> lock, as scripts/lock.sh makes them
LOCKS = {
    SERVERS_IN: SERVERS,
    "roles/quoteserver/files/requirements-build.in": BUILD,
    **APP_LOCKS,
    "roles/locust/files/requirements.in": "roles/locust/files/requirements.txt",
    "report/requirements.in": "report/requirements.txt",
    "requirements/controller.in": "requirements/controller.txt",
}
# The WSGI servers under test: in whiskey's servers lock, never in an app's
WSGI_SERVERS = {"gunicorn", "uwsgi", "granian", "waitress"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = norm(m.group(1))
            entries[current] = (m.group(2), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            entries[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line.strip() and not line.startswith(" "):
            current = None
    return entries


def in_pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` in a .in file and the .in files it includes with -r."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(in_pins((path.parent / line[3:].strip()).resolve()))
        elif m := PIN.match(line):
            pins[norm(m.group(1).split("[")[0])] = m.group(2)
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS.values()))
def test_every_pin_of_a_lock_has_sha256_hashes(lock):
    entries = lock_entries(ROOT / lock)
    assert len(entries) >= 3, f"{lock}: no pins read"
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert not unhashed, f"{lock}: pins without a hash: {unhashed}"
    bad = [h for _, hashes in entries.values() for h in hashes if not re.fullmatch(r"[0-9a-f]{64}", h)]
    assert not bad, f"{lock}: malformed hashes {bad[:3]}"
    assert "--find-links" not in (ROOT / lock).read_text(), (
        f"{lock}: a machine's find-links leaked into the lock"
    )


@pytest.mark.parametrize(("source", "lock"), sorted(LOCKS.items()))
def test_a_lock_agrees_with_its_in_file(source, lock):
    """An edited .in without `make lock` is caught: every pin of the .in is in the lock at that version."""
    entries = lock_entries(ROOT / lock)
    for name, version in in_pins(ROOT / source).items():
        assert name in entries, f"{source} pins {name}=={version}, but {lock} lacks it: run make lock"
        assert entries[name][0] == version, (
            f"{source} pins {name}=={version}, {lock} has {entries[name][0]}: run make lock"
        )


def requirement_sources() -> set[str]:
    """Every pip-compile source of the repository: requirements*.in, servers.in, controller.in."""
    found = set()
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in {"node_modules", "results", "build"}]
        for name in files:
            if name.endswith(".in") and name.startswith(("requirements", "servers", "controller")):
                found.add(str((Path(top) / name).relative_to(ROOT)))
    return found


def test_lock_sh_makes_every_lock():
    """Every requirements .in of the repository is locked by scripts/lock.sh and checked here: the servers', the
    build tools', the apps' (examples/*/requirements.in by its glob) and the venvs'."""
    script = (ROOT / "scripts/lock.sh").read_text()
    assert "examples/*/requirements.in" in script
    for source, lock in LOCKS.items():
        if not source.startswith("examples/"):
            assert source in script and lock in script, f"scripts/lock.sh does not lock {source} -> {lock}"
    found = requirement_sources()
    # a fragment another .in includes with -r (app/requirements-dev.in) is locked as part of it
    included = set()
    for source in LOCKS:
        for line in (ROOT / source).read_text().splitlines():
            if line.startswith("-r "):
                included.add(
                    str((ROOT / source).parent.joinpath(line[3:].strip()).resolve().relative_to(ROOT))
                )
    missing = found - set(LOCKS) - included
    assert not missing, f"not locked by scripts/lock.sh nor checked here: {sorted(missing)}"
    assert SERVERS_IN in found
    assert any(s.startswith("examples/") for s in found), "no example app lock (examples/*/requirements.in)"


def test_the_servers_lock_holds_every_wsgi_server():
    entries = lock_entries(ROOT / SERVERS)
    assert WSGI_SERVERS | {"werkzeug"} <= set(entries), sorted(entries)


@pytest.mark.parametrize("lock", sorted(APP_LOCKS.values()))
def test_an_app_lock_holds_no_wsgi_server(lock):
    """The servers under test come from whiskey's servers lock, so every app is served by the same versions."""
    servers = WSGI_SERVERS & set(lock_entries(ROOT / lock))
    assert not servers, f"{lock} pins WSGI servers {sorted(servers)}: they belong to {SERVERS_IN}"


@pytest.mark.parametrize("lock", sorted([*APP_LOCKS.values(), BUILD]))
def test_a_lock_installed_with_the_servers_agrees_with_them(lock):
    """One pip run installs the servers' lock with an app's (and the build lock into the same venv): a package in
    both must have the same version and the same hashes, or pip refuses the pair."""
    servers = lock_entries(ROOT / SERVERS)
    for name, (version, hashes) in lock_entries(ROOT / lock).items():
        if name in servers:
            assert servers[name][0] == version, f"{lock}: {name}=={version}, {SERVERS}: {servers[name][0]}"
            assert sorted(servers[name][1]) == sorted(hashes), f"{lock} and {SERVERS} hash {name} differently"


def test_every_app_manifest_names_a_checked_lock():
    manifests = sorted(ROOT.glob("examples/*/whiskey-app.yml"))
    assert manifests, "no example app"
    for manifest in [ROOT / "app/whiskey-app.yml", *manifests]:
        if not manifest.exists():
            continue
        requirements = yaml.safe_load(manifest.read_text())["requirements"]
        lock = str((manifest.parent / requirements).relative_to(ROOT))
        assert lock in APP_LOCKS.values(), (
            f"{manifest.relative_to(ROOT)}: {lock} is not a lock made by make lock"
        )


def test_locust_lock_is_the_roles_locust_version():
    version = yaml.safe_load((ROOT / "roles/locust/defaults/main.yml").read_text())["locust_version"]
    assert lock_entries(ROOT / "roles/locust/files/requirements.txt")["locust"][0] == version


def pip_tasks():
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in walk(yaml.safe_load(path.read_text()) or []):
            if "ansible.builtin.pip" in task:
                yield path.relative_to(ROOT), task["ansible.builtin.pip"]


def walk(tasks):
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from walk(task.get(key, []))


def test_every_pip_task_installs_a_lock_with_require_hashes():
    tasks = list(pip_tasks())
    assert len(tasks) >= 4, tasks
    for path, args in tasks:
        extra = args.get("extra_args", "")
        # a requirements file, as `requirements:` or as `-r` in extra_args (the servers' lock with the app's)
        if "requirements" in args or re.search(r"(^|\s)(-r|--requirement)(\s|=)", extra):
            assert "--require-hashes" in extra, f"{path}: {args}"
        else:
            # the only other install is a local package with its deps locked above: no download at all
            assert "--no-deps" in args["extra_args"] and "--no-build-isolation" in args["extra_args"], (
                f"{path}: {args}"
            )


def test_setup_installs_only_locks_with_require_hashes():
    text = (ROOT / "scripts/setup.sh").read_text()
    installs = [line for line in text.splitlines() if re.search(r"pip install\b", line)]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or ("--no-deps" in line and "--no-build-isolation" in line), line


def test_pip_refuses_a_file_whose_hash_is_not_the_pinned_one(tmp_path):
    """The failure path, with the real pip and PyPI: one hash of the build lock changed -> nothing installed."""
    lock = (ROOT / BUILD).read_text()
    version, hashes = lock_entries(ROOT / BUILD)["wheel"]
    tampered = lock
    for h in hashes:
        tampered = tampered.replace(h, "0" * 64)
    (tmp_path / "tampered.txt").write_text(tampered)
    target = tmp_path / "target"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--require-hashes",
            "--no-deps",
            "--target",
            str(target),
            "-r",
            str(tmp_path / "tampered.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "DO NOT MATCH" not in proc.stderr and (
        "Could not fetch" in proc.stderr or "connection" in proc.stderr.lower()
    ):
        pytest.skip(f"PyPI does not answer: {proc.stderr[-300:]}")
    assert proc.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in proc.stderr
    assert f"wheel=={version}" in proc.stderr
    assert not list(target.glob("wheel*")) and not list(target.glob("setuptools*")), "something was installed"
