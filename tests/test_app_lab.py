"""A second app, end to end on a lab of its own (tests/data/app-lab.yml): `bench.yml -e app=examples/cpu-bound`
serves the example (no backend, CPU-bound requests) with the real servers, loads it with its own request mix, and
the report names it. Then the app's failure paths: a health path that does not answer 200 fails its runs with
that reason (nothing is ranked), and a requirement that does not install stops the server's setup, named.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import pytest
import yaml

from .conftest import ROOT, docker, lab_up, run

pytestmark = pytest.mark.lab

INVENTORY = "tests/data/app-lab.yml"
SERVER, CLIENT, NETWORK = "whiskey-t-app-server", "whiskey-t-app-client", "whiskey-t-app-lab"
RESULTS = ROOT / "results"
EXAMPLE = ROOT / "examples" / "cpu-bound"
SCENARIOS = "scenarios=[gunicorn,nginx-uwsgi,werkzeug]"
BENCH = [
    "-e", "workers=2", "-e", "users=20", "-e", "spawn_rate=20", "-e", "run_time=20s", "-e", "warmup=3s",
    "-e", "bench_calibration_seconds=5", "-e", "client_overhead_pct=100",
]  # fmt: skip
RUN_IDS = ("t-app", "t-app-health")


def bench(*args: str, playbook: str = "bench.yml", timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    return run(["ansible-playbook", playbook, "-i", INVENTORY, *BENCH, *args], timeout=timeout)


def statuses(run_id: str) -> dict[str, dict]:
    base = RESULTS / run_id
    return {
        p.parent.relative_to(base).as_posix(): json.loads(p.read_text())
        for p in base.glob("*/*/*/status.json")
    }


def copy_example(tmp_path, **fields):
    """The example in a folder of its own, its manifest changed."""
    folder = tmp_path / "app"
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    )
    manifest = yaml.safe_load((folder / "whiskey-app.yml").read_text())
    manifest.update(fields)
    (folder / "whiskey-app.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def lab():
    with lab_up(INVENTORY, (SERVER, CLIENT), NETWORK, RUN_IDS):
        yield


def test_the_example_app_is_benched_and_named(lab):
    done = bench("-e", f"app={EXAMPLE.relative_to(ROOT)}", "-e", SCENARIOS, "-e", "run_id=t-app")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    found = statuses("t-app")
    assert sorted(found) == ["2/gunicorn/1", "2/nginx-uwsgi/1", "2/werkzeug/1"], found
    assert all(s["status"] == "valid" for s in found.values()), {
        k: s.get("reasons") for k, s in found.items()
    }

    run_json = json.loads((RESULTS / "t-app" / "run.json").read_text())
    assert run_json["app"]["name"] == "cpu-bound" and run_json["app"]["wsgi"] == "cpubound.wsgi:app"
    assert run_json["app"]["backends"] == [] and run_json["app"]["commit"]
    report = (RESULTS / "t-app" / "report" / "report.html").read_text()
    assert "cpu-bound" in report and "cpubound.wsgi:app" in report

    # The app's mix was sent: /work and /hello, about 4:1 (at least 20 requests of each, whatever the speed).
    with open(RESULTS / "t-app" / "2" / "gunicorn" / "1" / "locust_stats.csv") as fh:
        rows = {r["Name"]: int(r["Request Count"]) for r in csv.DictReader(fh)}
    work, hello = rows.get("/work", 0), rows.get("/hello", 0)
    assert hello >= 20 and 2.5 < work / hello < 6.5, rows
    assert rows["Aggregated"] == work + hello

    # No backend: Elasticsearch is not installed, nothing answers on its port; the probe checked the mix.
    assert docker("exec", SERVER, "test", "-e", "/etc/elasticsearch").returncode != 0
    probe = json.loads((RESULTS / "t-app" / "2" / "gunicorn" / "1" / "probe-after.json").read_text())
    assert probe["backends"] == [] and probe["health"]["ok"] is True
    assert {c["path"].split("?")[0] for c in probe["request"]["checks"]} == {"/work", "/hello"}


def test_an_app_whose_health_path_fails_fails_its_runs_with_that_reason(lab, tmp_path):
    folder = copy_example(tmp_path, name="cpu-bound-nohealth", health="/no-such-health")
    done = bench("-e", f"app={folder}", "-e", "scenarios=[gunicorn]", "-e", "run_id=t-app-health")
    found = statuses("t-app-health")
    assert list(found) == ["2/gunicorn/1"], done.stdout[-6000:]
    doc = found["2/gunicorn/1"]
    assert doc["status"] == "failed", doc
    text = json.dumps(doc["reasons"])
    assert "/no-such-health" in text, text
    report = (RESULTS / "t-app-health" / "report" / "report.html").read_text()
    assert "cpu-bound-nohealth" in report


def test_a_requirement_that_does_not_install_is_named(lab, tmp_path):
    folder = copy_example(tmp_path, name="cpu-bound-badlock")
    lock = folder / "requirements.txt"
    lock.write_text(
        lock.read_text() + "whiskey-no-such-package==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    )
    done = bench("-e", f"app={folder}", playbook="playbooks/server.yml", timeout=1200)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "app cpu-bound-badlock: its requirements did not install on whiskey-t-app-server" in out, out[
        -6000:
    ]
    assert "whiskey-no-such-package" in out.split("its requirements did not install", 1)[1][:1500]
