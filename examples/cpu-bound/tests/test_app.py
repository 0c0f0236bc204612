"""cpu-bound with Flask's test client: the endpoints, a deterministic /work whose cost grows linearly with n
(counted in executed loop lines, not wall time), and a clear 400 for a bad n."""

from __future__ import annotations

import sys
from pathlib import Path

import cpubound  # from src/ (conftest.py)
import pytest
import yaml

APP_DIR = Path(__file__).resolve().parents[1]
MASK = (1 << 64) - 1


def test_health_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"


def test_hello_is_a_tiny_answer(client):
    response = client.get("/hello")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello"


def test_work_is_deterministic(client):
    first = client.get("/work?n=1000")
    assert first.status_code == 200
    assert first.get_json() == {"n": 1000, "result": "289d8616237e73d0"}
    assert client.get("/work?n=1000").get_json() == first.get_json()
    assert client.get("/work?n=1001").get_json()["result"] != first.get_json()["result"]


def test_one_round_is_the_documented_mix(client):
    x = (cpubound.SEED * 6364136223846793005 + 1442695040888963407) & MASK
    x ^= x >> 29
    assert client.get("/work?n=1").get_json() == {"n": 1, "result": f"{x:016x}"}


def loop_lines(client, n: int) -> int:
    """Lines of cpubound.mix executed while /work?n=n is served (sys.settrace): the work, not its wall time."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame, event, arg):
        return local if frame.f_code is cpubound.mix.__code__ else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        response = client.get(f"/work?n={n}")
    finally:
        sys.settrace(previous)
    assert response.status_code == 200
    return count


def test_work_cost_grows_linearly_with_n(client):
    counts = {n: loop_lines(client, n) for n in (1, 100, 200, 300)}
    per_100 = counts[200] - counts[100]
    assert per_100 >= 100 * 2, counts  # at least the two lines of each round
    assert counts[300] - counts[200] == per_100, counts
    assert counts[1] < counts[100] < counts[200] < counts[300], counts


def test_the_manifest_request_is_in_range(client):
    manifest = yaml.safe_load((APP_DIR / "whiskey-app.yml").read_text())
    for entry in manifest["requests"]:
        assert client.get(entry["path"]).status_code == 200, entry
    assert client.get(manifest["health"]).status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "missing query parameter n"),
        ("?n=", "missing query parameter n"),
        ("?n=abc", "n='abc' is not an integer"),
        ("?n=1.5", "n='1.5' is not an integer"),
        ("?n=0", "n=0 is out of range"),
        ("?n=-3", "n=-3 is out of range"),
        (f"?n={cpubound.MAX_N + 1}", f"n={cpubound.MAX_N + 1} is out of range"),
        ("?n=" + "9" * 40, "is out of range"),
    ],
)
def test_a_bad_n_is_a_400_with_a_message(client, query, message):
    response = client.get(f"/work{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert message in error
    assert f"{cpubound.MIN_N}..{cpubound.MAX_N}" in error


def test_the_bounds_are_accepted(client):
    assert client.get(f"/work?n={cpubound.MIN_N}").status_code == 200
    assert client.get(f"/work?n={cpubound.MAX_N}").get_json()["n"] == cpubound.MAX_N


def test_wsgi_module_exposes_the_app():
    from cpubound.wsgi import app

    assert app.name == "cpubound"
    assert app.test_client().get("/health").status_code == 200
