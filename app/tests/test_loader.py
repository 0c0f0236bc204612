"""quoteserver-load against the real Elasticsearch: idempotency, --force, sources, and its error paths."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from es_server import free_port
from helpers import json_line
from quoteserver.loader import main

SAMPLE = Path(__file__).parent / "data" / "sample.jsonl"


def load(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main([*argv, "--no-progress", "--json"])
    out, err = capsys.readouterr()
    return code, json_line(out), err


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quoteserver.loader", *argv], capture_output=True, text=True, timeout=120
    )


def test_idempotent_then_force_then_resize(es_node, capsys) -> None:
    base = ["--es-url", es_node.url, "--index", "loader-test", "--source", str(SAMPLE)]
    code, first, _ = load(capsys, *base, "--size", "10")
    assert code == 0
    assert first["changed"] is True and first["documents"] == 10
    assert first["seconds"] > 0 and first["docs_per_s"] > 0 and first["index_size_bytes"] > 0

    code, second, err = load(capsys, *base, "--size", "10")
    assert code == 0 and second["changed"] is False and second["documents"] == 10
    assert "up to date" in err
    assert second["fingerprint"] == first["fingerprint"]

    code, forced, _ = load(capsys, *base, "--size", "10", "--force", "--no-merge")
    assert code == 0 and forced["changed"] is True and forced["merge_seconds"] == 0

    code, bigger, _ = load(capsys, *base, "--size", "12")
    assert code == 0 and bigger["changed"] is True and bigger["fingerprint"] != first["fingerprint"]

    # ids 1..N cycle over the 3 sample quotes; the mapping carries the fingerprint.
    doc = requests.get(f"{es_node.url}/loader-test/_doc/4", timeout=10).json()
    assert doc["_source"] == {
        "quote": "A black cat crossing your path signifies that the animal is going somewhere.",
        "author": "Groucho Marx",
    }
    assert (
        requests.get(f"{es_node.url}/loader-test/_doc/3", timeout=10).json()["_source"]["author"]
        == "Anonymous"
    )
    assert requests.get(f"{es_node.url}/loader-test/_doc/13", timeout=10).json()["found"] is False
    assert requests.get(f"{es_node.url}/loader-test/_count", timeout=10).json()["count"] == 12
    mapping = requests.get(f"{es_node.url}/loader-test/_mapping", timeout=10).json()
    meta = mapping["loader-test"]["mappings"]["_meta"]["whiskey"]
    assert meta["fingerprint"] == bigger["fingerprint"] and meta["documents"] == 12
    settings = requests.get(f"{es_node.url}/loader-test/_settings", timeout=10).json()
    index_settings = settings["loader-test"]["settings"]["index"]
    assert "refresh_interval" not in index_settings  # bulk-load setting removed again
    assert index_settings["number_of_replicas"] == "0"


def test_changed_corpus_or_lost_documents_rebuild(es_node, capsys, tmp_path: Path) -> None:
    corpus = tmp_path / "q.csv"
    corpus.write_text("quote,author\nOne,A\nTwo,B\n")
    base = ["--es-url", es_node.url, "--index", "loader-test-2", "--source", str(corpus), "--size", "5"]
    assert load(capsys, *base)[1]["changed"] is True
    requests.delete(f"{es_node.url}/loader-test-2/_doc/5?refresh=true", timeout=10).raise_for_status()
    assert load(capsys, *base)[1]["changed"] is True  # 4 docs != 5: not up to date
    assert load(capsys, *base)[1]["changed"] is False
    corpus.write_text("quote,author\nOne,A\nTwo,C\n")
    assert load(capsys, *base)[1]["changed"] is True  # content changed → new fingerprint


def test_merge_to_one_segment(es_node, capsys) -> None:
    code, result, _ = load(
        capsys,
        "--es-url",
        es_node.url,
        "--index",
        "loader-merge",
        "--source",
        str(SAMPLE),
        "--size",
        "30",
        "--chunk-size",
        "7",
    )
    assert code == 0 and result["changed"] is True
    assert result["merge_seconds"] > 0 and result["bulk_seconds"] > 0
    segments = requests.get(f"{es_node.url}/_cat/segments/loader-merge?format=json", timeout=10).json()
    assert len(segments) == 1


def test_fortunes_into_es(es_node, loaded_index, corpus) -> None:
    """The session index was loaded by the loader from the corpus: spot-check it through ES itself."""
    doc = requests.get(f"{es_node.url}/quotes/_doc/{loaded_index}", timeout=10).json()["_source"]
    record = corpus.records[(loaded_index - 1) % len(corpus.records)]
    assert doc == {"quote": record.quote, "author": record.author}


def test_help_and_usage_errors() -> None:
    helped = cli("--help")
    assert helped.returncode == 0 and "--es-url" in helped.stdout and "--force" in helped.stdout
    bad = cli("--size", "0")
    assert bad.returncode == 2 and "--size" in bad.stderr


@pytest.mark.parametrize("case", ["unreachable", "empty-fortunes", "bad-file", "missing-file"])
def test_errors_are_one_line(es_node, tmp_path: Path, case: str) -> None:
    url = es_node.url
    argv = ["--index", "loader-errors", "--size", "5", "--no-progress", "--json"]
    if case == "unreachable":
        url, expected_code, words = f"http://127.0.0.1:{free_port()}", 1, "cannot reach Elasticsearch"
        argv += ["--source", str(SAMPLE)]
    elif case == "empty-fortunes":
        (tmp_path / "fortunes.dat").write_bytes(b"\0\0")
        argv += ["--fortunes-dir", str(tmp_path)]
        expected_code, words = 3, "no fortunes found"
    elif case == "bad-file":
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"quote": "fine"}\n{"quote": \n')
        argv += ["--source", str(bad)]
        expected_code, words = 3, "bad.jsonl:2: not valid JSON"
    else:
        argv += ["--source", str(tmp_path / "absent.csv")]
        expected_code, words = 3, "no such file"
    result = cli("--es-url", url, *argv)
    assert result.returncode == expected_code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("quoteserver-load: error:")]
    assert len(errors) == 1 and words in errors[0]
    final = json_line(result.stdout)
    assert final["changed"] is False and words in final["error"]


@pytest.mark.skipif(
    shutil.which("script") is None, reason="needs `script` (util-linux) for a pseudo-terminal"
)
def test_progress_bar_on_a_terminal(es_node) -> None:
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "quoteserver.loader",
            "--es-url",
            es_node.url,
            "--index",
            "loader-tty",
            "--source",
            str(SAMPLE),
            "--size",
            "50",
            "--no-merge",
        ]
    )
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout
    assert "[##############################] 100.0% 50/50 docs" in result.stdout
    quiet = subprocess.run(
        ["script", "-qec", command + " --force --no-progress", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quiet.returncode == 0 and "docs/s " not in quiet.stdout.split("loaded")[0]
