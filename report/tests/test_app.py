"""The report names the app under test: run.json's "app" (written by the bench since whiskey benchmarks any WSGI
app), or, for results recorded before apps were named, the quote server of the original experiment.

Each test renders a copy of the committed fixture-a (the quote server, no "app" key) in tmp_path, with run.json's
"app" set as the bench writes it, and reads the HTML report, the terminal text and summary.json.
"""

import json
import shutil
from pathlib import Path

import pytest

from whiskey_report.report import ORIGINAL_APP, build, terminal_text

DATA = Path(__file__).parent / "data" / "runs"

# What the bench writes for examples/cpu-bound (playbooks/filter_plugins/whiskey_app.py, whiskey_app_identity).
CPU_BOUND = {
    "name": "cpu-bound",
    "version": "1.0.0",
    "commit": "1a2b3c4-dirty",
    "digest": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "wsgi": "cpubound.wsgi:app",
    "requests": [{"path": "/work?n=20000", "weight": 3}, {"path": "/hello", "weight": 1}],
    "backends": [],
    "health": "/health",
}
CPU_BOUND_LINE = (
    "cpu-bound 1.0.0 (commit 1a2b3c4-dirty, sha256 9f86d081884c), wsgi cpubound.wsgi:app; "
    "requests: /work?n=20000 ×3, /hello ×1; backends: none"
)
QUOTESERVER = {
    "name": "quoteserver",
    "version": "1.0.0",
    "commit": None,
    "digest": "0" * 64,
    "wsgi": "quoteserver.wsgi:app",
    "requests": [{"path": "/quotes/byId?id={id}", "weight": 1}],
    "backends": ["elasticsearch"],
    "health": "/quotes/sayHello",
    "verify": {"check": "quotes", "index": "quotes"},
}


def _render(tmp_path: Path, app=None, drop: bool = False):
    """fixture-a copied to tmp_path, run.json's "app" set to `app` (removed with drop), rendered without figures:
    (the HTML, the terminal text, summary.json)."""
    run = tmp_path / "fixture-a"
    shutil.copytree(DATA / "fixture-a", run)
    meta = json.loads((run / "run.json").read_text())
    assert "app" not in meta  # recorded before whiskey named apps
    if not drop:
        meta["app"] = app
    (run / "run.json").write_text(json.dumps(meta))
    rep = build(run, tmp_path / "report", figures=False)
    summary = json.loads((rep.out_dir / "summary.json").read_text())
    return rep.html.read_text(encoding="utf-8"), terminal_text(rep), summary


def test_the_report_names_the_app_it_measured(tmp_path):
    html, text, summary = _render(tmp_path, CPU_BOUND)
    assert f'<p id="app-under-test"><b>App under test:</b> {CPU_BOUND_LINE}</p>' in html
    assert f"<dt>app under test</dt><dd>{CPU_BOUND_LINE}</dd>" in html
    assert f"<dd>sha256 {CPU_BOUND['digest']} (its packed source and manifest)</dd>" in html
    assert "<dt>app health path</dt><dd>/health</dd>" in html
    assert "Every number is of the app under test, cpu-bound 1.0.0." in html
    # The original's conclusions were drawn from the quote server: the report says which app checks them here.
    assert "with the app cpu-bound 1.0.0: the original measured its quote\nserver" in html
    assert ORIGINAL_APP not in html and "http://" not in html
    first, second = text.splitlines()[:2]
    assert first.startswith("whiskey run fixture-a: ") and second == f"App under test: {CPU_BOUND_LINE}"
    assert summary["app"] == CPU_BOUND and summary["app_under_test"] == CPU_BOUND_LINE


def test_the_quote_server_by_its_manifest(tmp_path):
    html, text, summary = _render(tmp_path, QUOTESERVER)
    line = (
        "quoteserver 1.0.0 (not in git, sha256 000000000000), wsgi quoteserver.wsgi:app; "
        "requests: /quotes/byId?id={id} ×1; backends: elasticsearch"
    )
    assert f"<b>App under test:</b> {line}</p>" in html
    assert (
        "<dt>app answer check</dt><dd>quotes against index quotes (the probe&#39;s built-in check)</dd>"
        in html
    )
    assert "with the app" not in html  # the original's own app
    assert f"App under test: {line}" in text.splitlines()
    assert summary["app_under_test"] == line


def test_older_results_measured_the_quote_server(tmp_path):
    html, text, summary = _render(tmp_path, drop=True)
    assert f"<b>App under test:</b> {ORIGINAL_APP}</p>" in html
    assert "recorded before whiskey named apps" in ORIGINAL_APP and ORIGINAL_APP.startswith("quoteserver ")
    assert "Every number is of the app under test, quoteserver." in html
    assert "app digest" not in html and "with the app" not in html
    assert text.splitlines()[1] == f"App under test: {ORIGINAL_APP}"
    assert summary["app"] is None and summary["app_under_test"] == ORIGINAL_APP


@pytest.mark.parametrize(
    ("app", "line"),
    [
        ("cpu-bound", 'unknown (run.json\'s app is not an object: "cpu-bound")'),
        (
            {"name": "locusty", "locustfile": "locustfile.py"},
            "locusty (not in git), wsgi ?; requests: its locustfile locustfile.py; backends: none",
        ),
    ],
)
def test_an_app_recorded_in_part_still_renders(tmp_path, app, line):
    _, text, summary = _render(tmp_path, app)
    assert text.splitlines()[1] == f"App under test: {line}"
    assert summary["app_under_test"] == line
