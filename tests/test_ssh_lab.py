"""The whole `bench.yml` over SSH, exactly as on cloud VMs: a server and a client that are fresh "VMs" (systemd
containers with sshd, key login, no Python: tests/fresh_vms.py) in an inventory of `whiskey_environment: cloud`,
plus an outsider on the same network that is not in the inventory. One command bootstraps them (python3 through
`raw`, host keys recorded), provisions the server (Elasticsearch from the controller's archive, the corpus,
supervisor, the WSGI servers, nginx) and the client, puts the firewall up on both, runs a short load test of two
scenarios, fetches the results and writes the report. Then, from the outside: the clients reach the server's
benchmark ports, the outsider reaches none of them, and Elasticsearch answers nobody but the server itself."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from . import fresh_vms
from .conftest import ROOT, docker, run
from .test_lab import recap

pytestmark = pytest.mark.lab

NETWORK = "whiskey-t-ssh"
SERVER, CLIENT, OUTSIDER = "whiskey-t-ssh-server", "whiskey-t-ssh-client", "whiskey-t-ssh-outsider"
RUN_ID = "t-ssh-lab"
RESULTS = ROOT / "results" / RUN_ID
BENCH = [
    "-e", f"run_id={RUN_ID}", "-e", "force=true", "-e", "workers=2", "-e", "scenarios=[gunicorn,nginx-uwsgi]",
    "-e", "users=20", "-e", "spawn_rate=20", "-e", "run_time=20s", "-e", "warmup=3s", "-e", "corpus_size=2000",
    "-e", "bench_calibration_seconds=5", "-e", "elasticsearch_heap=384m",
    # As in the fault tests: on a shared 2-core machine only a client slower than the server is worth failing for.
    "-e", "client_overhead_pct=100",
]  # fmt: skip


@pytest.fixture(scope="module")
def ssh_lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ssh-lab")
    try:
        inventory = fresh_vms.start(
            tmp,
            NETWORK,
            {"server": [SERVER], "client": [CLIENT]},
            caps=("NET_ADMIN",),  # the firewall
            all_vars={"whiskey_environment": "cloud", "cmonitor_install_method": "auto"},
        )
        tag = fresh_vms.TAG
        outsider = docker(
            "run", "-d", "--name", OUTSIDER, "--network", NETWORK, f"whiskey-base:{tag}", "sleep", "infinity"
        )  # fmt: skip
        assert outsider.returncode == 0, outsider.stderr
        yield inventory
    finally:
        fresh_vms.remove([SERVER, CLIENT, OUTSIDER], NETWORK)
        shutil.rmtree(RESULTS, ignore_errors=True)


def reach(host: str, target: str, port: int) -> str:
    """From `host`, what an HTTP request to target:port gets: 'answers' or why not."""
    code = (
        "import sys, urllib.request\n"
        "try:\n"
        f"    urllib.request.urlopen('http://{target}:{port}/', timeout=3); print('answers')\n"
        "except urllib.error.HTTPError:\n    print('answers')\n"
        "except OSError as e:\n    print(getattr(e, 'reason', e))\n"
    )
    return docker("exec", host, "python3", "-c", code).stdout.strip()


def test_bench_over_ssh_from_fresh_vms_with_the_firewall_up(ssh_lab):
    for name in (SERVER, CLIENT):
        assert docker("exec", name, "sh", "-c", "command -v python3").returncode != 0
    started = time.monotonic()
    bench = run(["ansible-playbook", "-i", str(ssh_lab), "bench.yml", *BENCH], timeout=3000)
    wall = time.monotonic() - started
    assert bench.returncode == 0, bench.stdout[-8000:] + bench.stderr[-2000:]
    stats = recap(bench.stdout)
    assert stats[SERVER]["unreachable"] == 0 and stats[CLIENT]["unreachable"] == 0
    for scenario in ("gunicorn", "nginx-uwsgi"):
        doc = json.loads((RESULTS / "2" / scenario / "1" / "status.json").read_text())
        assert doc["status"] == "valid", doc
        assert doc["requests"] > 0 and doc["telemetry_ok"], doc
    assert (RESULTS / "report" / "report.html").stat().st_size > 10000
    run_json = json.loads((RESULTS / "run.json").read_text())
    assert run_json["variables"]["scenarios"] == ["gunicorn", "nginx-uwsgi"]
    assert (ssh_lab.parent / "known_hosts").read_text().count("ssh-ed25519") >= 2
    print(f"bench.yml over SSH on two fresh VMs: {wall:.0f} s; loop overhead {run_json.get('loop_overhead')}")

    # The last scenario (nginx-uwsgi, port 8098) still runs: its clients reach it, nobody else does.
    assert reach(CLIENT, SERVER, 8098) == "answers"
    assert reach(OUTSIDER, SERVER, 8098) == "timed out"
    assert reach(OUTSIDER, SERVER, 8080) == "timed out"  # nginx's ping endpoint
    assert reach(OUTSIDER, CLIENT, 5557) == "timed out"  # a client: nothing but SSH
    for host in (CLIENT, OUTSIDER):
        assert reach(host, SERVER, 9200) != "answers"  # Elasticsearch: loopback only, and the firewall
    es = docker(
        "exec",
        SERVER,
        "python3",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9200/_cluster/health', timeout=5)",
    )
    assert es.returncode == 0, es.stderr
    table = docker("exec", SERVER, "nft", "list", "table", "inet", "whiskey").stdout
    assert "policy drop" in table and "benchmark ports, from the clients" in table, table

    # With the firewall up, the next bench's first step (the bootstrap, which checks the clients reach the
    # server) still passes and changes nothing.
    again = run(["ansible-playbook", "-i", str(ssh_lab), "playbooks/cloud-bootstrap.yml"], timeout=900)
    assert again.returncode == 0, again.stdout[-4000:]
    assert all(s["changed"] == 0 for s in recap(again.stdout).values()), again.stdout[-3000:]
