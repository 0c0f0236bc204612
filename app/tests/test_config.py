"""Configuration from the environment, and one Elasticsearch client per process."""

from __future__ import annotations

import os

import pytest
from quoteserver import create_app
from quoteserver.config import Config, ConfigError
from quoteserver.es_client import ClientHolder


def test_defaults() -> None:
    assert Config.from_env({}) == Config("http://127.0.0.1:9200", "quotes", 2.0, 1)


def test_pool_follows_threads_unless_set() -> None:
    assert Config.from_env({"QUOTESERVER_THREADS": "8"}).es_pool_size == 8
    env = {
        "QUOTESERVER_THREADS": "8",
        "QUOTESERVER_ES_POOL_SIZE": "3",
        "QUOTESERVER_ES_TIMEOUT": "0.5",
        "QUOTESERVER_ES_URL": "http://es:9201",
        "QUOTESERVER_INDEX": "other",
    }
    assert Config.from_env(env) == Config("http://es:9201", "other", 0.5, 3)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"QUOTESERVER_THREADS": "many"}, "QUOTESERVER_THREADS"),
        ({"QUOTESERVER_ES_POOL_SIZE": "0"}, "QUOTESERVER_ES_POOL_SIZE"),
        ({"QUOTESERVER_ES_TIMEOUT": "soon"}, "QUOTESERVER_ES_TIMEOUT"),
        ({"QUOTESERVER_ES_TIMEOUT": "-1"}, "QUOTESERVER_ES_TIMEOUT"),
        ({"QUOTESERVER_ES_URL": "es:9200"}, "QUOTESERVER_ES_URL"),
        ({"QUOTESERVER_INDEX": "Bad Index"}, "QUOTESERVER_INDEX"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env(env)


def test_create_app_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTESERVER_INDEX", "from-env")
    app = create_app({"es_timeout": 0.25})
    assert app.config["QUOTESERVER"].index == "from-env"
    assert app.config["QUOTESERVER"].es_timeout == 0.25
    with pytest.raises(ConfigError, match="unknown"):
        create_app({"nope": 1})


def test_client_is_per_process_and_created_lazily() -> None:
    holder = ClientHolder(Config(es_pool_size=3))
    assert holder._client is None  # nothing is opened at import/creation time
    client = holder.get()
    assert holder.get() is client
    node = client.transport.node_pool.get()
    assert node.config.connections_per_node == 3
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must build its own client
        os.close(read_fd)
        os.write(write_fd, b"new" if holder.get() is not client else b"same")
        os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 16)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert holder.get() is client
