"""fidelity.py measures each endpoint as a variant of the quote server's manifest: valid, one request, the
quote server's own source and locks (so the server's venv is not rebuilt between endpoints)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Loaded from its file: putting benchmarks/ on sys.path would make its tests/ shadow the project's `tests`.
spec = importlib.util.spec_from_file_location("fidelity", ROOT / "benchmarks" / "fidelity.py")
fidelity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fidelity)

spec = importlib.util.spec_from_file_location(
    "whiskey_app", ROOT / "playbooks" / "filter_plugins" / "whiskey_app.py"
)
whiskey_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(whiskey_app)
BACKENDS = yaml.safe_load((ROOT / "group_vars" / "all" / "backends.yml").read_text())["whiskey_backends"]


def test_each_endpoint_is_a_valid_variant_of_the_quote_server(tmp_path):
    quotes = whiskey_app.whiskey_app(str(ROOT / "app"), str(ROOT), BACKENDS)["app"]
    for endpoint, path in fidelity.ENDPOINTS.items():
        folder = fidelity.endpoint_app(endpoint, tmp_path)
        result = whiskey_app.whiskey_app(str(folder), str(ROOT), BACKENDS, "throughput", "wrk")
        assert result["errors"] == []
        app = result["app"]
        assert app["requests"] == [{"path": path, "weight": 1}]
        assert app["source"] == quotes["source"] and app["requirements"] == quotes["requirements"]
        assert app["name"] == "quoteserver" and app["verify"] == {"check": "quotes", "index": "quotes"}
