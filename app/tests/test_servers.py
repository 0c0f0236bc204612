"""quoteserver.wsgi:app under real WSGI servers (subprocesses), the same way the benchmark starts them."""

from __future__ import annotations

import random
import shutil

import pytest
import requests
from servers import BIN, running

SERVERS = ["gunicorn", "uwsgi", "granian", "waitress", "werkzeug"]

pytestmark = pytest.mark.slow


def es_env(es_node, timeout: str = "2") -> dict[str, str]:
    return {
        "QUOTESERVER_ES_URL": es_node.url,
        "QUOTESERVER_INDEX": "quotes",
        "QUOTESERVER_ES_TIMEOUT": timeout,
    }


def test_gunicorn_two_workers(es_node, loaded_index, logdir) -> None:
    with running("gunicorn", es_env(es_node), logdir, workers=2) as server:
        workers = server.children()
        assert len(workers) == 2
        session = requests.Session()
        for quote_id in [1, loaded_index, *random.sample(range(1, loaded_index + 1), 40)]:
            r = session.get(f"{server.url}/quotes/byId", params={"id": quote_id}, timeout=10)
            assert r.status_code == 200, (quote_id, r.text)
            assert "quote-text" in r.text
        for quote_id in [
            loaded_index + 1,
            loaded_index + 1000,
            *random.sample(range(loaded_index + 1, 10**7), 10),
        ]:
            r = session.get(f"{server.url}/quotes/byId", params={"id": quote_id}, timeout=10)
            assert r.status_code == 404 and r.json()["error"] == "not_found"
        for _ in range(10):
            body = session.get(f"{server.url}/quotes/random?format=json", timeout=10).json()
            assert 1 <= body["id"] <= loaded_index
        assert session.get(f"{server.url}/healthz", timeout=10).json()["documents"] == loaded_index
        assert session.get(f"{server.url}/nope", timeout=10).status_code == 404
        assert server.children() == workers  # no worker died or was replaced
        assert "Traceback" not in server.log_text()


@pytest.mark.parametrize("name", [s for s in SERVERS if s != "gunicorn"])
def test_other_servers_load_the_same_callable(es_node, loaded_index, logdir, name: str) -> None:
    if name != "werkzeug" and not (BIN / ("waitress-serve" if name == "waitress" else name)).exists():
        pytest.skip(f"{name} not installed in this venv (pip install -r requirements.txt)")
    if name == "uwsgi" and shutil.which("gcc") is None and not (BIN / "uwsgi").exists():
        pytest.skip("uWSGI needs gcc to build")
    with running(name, es_env(es_node), logdir, workers=2) as server:
        ok = requests.get(f"{server.url}/quotes/byId?id={loaded_index}&format=json", timeout=10)
        assert ok.status_code == 200 and ok.json()["id"] == loaded_index
        assert requests.get(f"{server.url}/quotes/byId?id={loaded_index + 1}", timeout=10).status_code == 404
        assert requests.get(f"{server.url}/quotes/byId?id=x", timeout=10).status_code == 400
        assert requests.get(f"{server.url}/quotes/sayHello", timeout=10).text == "Hello World!"
