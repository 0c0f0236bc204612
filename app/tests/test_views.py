"""Every endpoint and every bad input, against the real Elasticsearch index."""

from __future__ import annotations

import html
import time

import pytest
from es_server import free_port
from helpers import expected
from quoteserver import create_app


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_by_id_html(client, corpus, loaded_index) -> None:
    quote_id = 17
    response = client.get(f"/quotes/byId?id={quote_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    want = expected(corpus, quote_id)
    assert "<script" not in page
    text = html.unescape(page)
    assert f'<blockquote class="quote-text">{want["quote"]}</blockquote>' in text
    assert f'<p class="quote-author">{want["author"]}</p>' in text
    assert '<link rel="stylesheet" href="/static/css/quotes.css">' in page
    css = client.get("/static/css/quotes.css")
    assert css.status_code == 200 and b".quote-text" in css.data


@pytest.mark.parametrize("how", ["accept", "query"])
def test_by_id_json(client, corpus, loaded_index, how: str) -> None:
    # First, last, and a wrap-around of the corpus cycle.
    wrap = len(corpus.records) + 1 if len(corpus.records) < loaded_index else loaded_index // 2
    for quote_id in (1, wrap, loaded_index):
        if how == "accept":
            response = client.get(f"/quotes/byId?id={quote_id}", headers={"Accept": "application/json"})
        else:
            response = client.get(f"/quotes/byId?id={quote_id}&format=json")
        assert response.status_code == 200
        assert response.get_json() == expected(corpus, quote_id)


def test_browser_accept_gets_html(client, loaded_index) -> None:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/quotes/byId?id=1", headers={"Accept": accept}).mimetype == "text/html"
    assert client.get("/quotes/byId?id=1", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_id_beyond_corpus_is_404(client, loaded_index) -> None:
    body = assert_json_error(client.get(f"/quotes/byId?id={loaded_index + 1}"), 404)
    assert body["error"] == "not_found"
    assert_json_error(client.get("/quotes/byId?id=999999999999"), 404)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?id=",
        "?id=abc",
        "?id=0",
        "?id=-1",
        "?id=1.5",
        "?id=1e3",
        "?id=%201",
        "?id=" + "9" * 40,
        "?id=1&format=xml",
    ],
)
def test_bad_input_is_400(client, loaded_index, query: str) -> None:
    body = assert_json_error(client.get(f"/quotes/byId{query}"), 400)
    assert body["error"] == "bad_request"


def test_random(client, loaded_index, corpus) -> None:
    seen = set()
    for _ in range(20):
        response = client.get("/quotes/random?format=json")
        assert response.status_code == 200
        body = response.get_json()
        assert 1 <= body["id"] <= loaded_index
        assert body == expected(corpus, body["id"])
        seen.add(body["id"])
    assert len(seen) > 1
    assert client.get("/quotes/random").mimetype == "text/html"


def test_say_hello_and_health(client, loaded_index) -> None:
    hello = client.get("/quotes/sayHello")
    assert hello.status_code == 200 and hello.data == b"Hello World!"
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok", "index": "quotes", "documents": loaded_index}


def test_unknown_path_and_method(client, loaded_index) -> None:
    assert_json_error(client.get("/nope"), 404)
    assert_json_error(client.get("/quotes/byId/5"), 404)
    response = client.post("/quotes/byId?id=1")
    assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_missing_index_is_503(es_node) -> None:
    client = create_app({"es_url": es_node.url, "index": "no-such-index"}).test_client()
    for path in ("/quotes/byId?id=1", "/quotes/random", "/healthz"):
        body = assert_json_error(client.get(path), 503)
        assert "does not exist" in body["message"]
    assert client.get("/quotes/sayHello").status_code == 200


def test_empty_index_is_503_and_not_cached(es_node) -> None:
    import requests

    requests.put(f"{es_node.url}/empty-quotes", timeout=30).raise_for_status()
    try:
        client = create_app({"es_url": es_node.url, "index": "empty-quotes"}).test_client()
        assert_json_error(client.get("/quotes/random"), 503)
        requests.put(
            f"{es_node.url}/empty-quotes/_doc/1?refresh=true", json={"quote": "q", "author": "a"}, timeout=30
        ).raise_for_status()
        assert client.get("/quotes/random?format=json").get_json() == {"id": 1, "quote": "q", "author": "a"}
    finally:
        requests.delete(f"{es_node.url}/empty-quotes", timeout=30)


def test_unreachable_backend_is_503_fast() -> None:
    client = create_app({"es_url": f"http://127.0.0.1:{free_port()}", "es_timeout": 1.0}).test_client()
    started = time.monotonic()
    for path in ("/quotes/byId?id=1", "/quotes/random", "/healthz"):
        body = assert_json_error(client.get(path), 503)
        assert body["error"] == "backend_unavailable"
    assert client.get("/quotes/byId?id=1").headers["Retry-After"] == "1"
    assert time.monotonic() - started < 3
    # Bad input is still rejected before the backend is asked.
    assert_json_error(client.get("/quotes/byId?id=x"), 400)
