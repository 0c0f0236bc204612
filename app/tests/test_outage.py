"""Elasticsearch going away under a running gunicorn -w 2: 503 JSON within the timeout, workers stay up,
and 200 again once Elasticsearch is back, without restarting the app."""

from __future__ import annotations

import time

import pytest
import requests
from servers import running

TIMEOUT_S = 1.0

pytestmark = pytest.mark.slow


def timed_get(url: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=30)
    return response, time.monotonic() - started


def assert_503(response: requests.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "backend_unavailable"


def test_outage_and_recovery(es_node, loaded_index, logdir) -> None:
    env = {
        "QUOTESERVER_ES_URL": es_node.url,
        "QUOTESERVER_INDEX": "quotes",
        "QUOTESERVER_ES_TIMEOUT": str(TIMEOUT_S),
    }
    with running("gunicorn", env, logdir, workers=2) as server:
        by_id = f"{server.url}/quotes/byId?id={loaded_index}"
        workers = server.children()
        assert requests.get(by_id, timeout=10).status_code == 200

        # A hung node (SIGSTOP): each request gives up after the timeout.
        es_node.pause()
        try:
            for _ in range(3):
                response, elapsed = timed_get(by_id)
                assert_503(response)
                assert elapsed < TIMEOUT_S + 1.5
            assert_503(requests.get(f"{server.url}/healthz", timeout=30))
        finally:
            es_node.resume()
        assert requests.get(by_id, timeout=10).status_code == 200

        # A dead node (SIGKILL): refused connections, answered at once.
        es_node.kill()
        try:
            for path in ("/quotes/byId?id=1", "/quotes/random", "/healthz"):
                response, elapsed = timed_get(server.url + path)
                assert_503(response)
                assert elapsed < TIMEOUT_S + 1.5
            assert requests.get(f"{server.url}/quotes/sayHello", timeout=10).status_code == 200
            assert server.proc.poll() is None and server.children() == workers
        finally:
            es_node.start()

        # Back: the same workers answer 200 again.
        deadline = time.monotonic() + 30
        while requests.get(by_id, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "no recovery within 30 s of Elasticsearch being healthy"
            time.sleep(0.2)
        for quote_id in (1, loaded_index // 2, loaded_index):
            assert requests.get(f"{server.url}/quotes/byId?id={quote_id}", timeout=10).status_code == 200
        assert server.children() == workers
        assert "Traceback" not in server.log_text()
