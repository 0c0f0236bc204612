"""roles/cmonitor/library/cmonitor_run.py: the start/stop module, with the real fallback collector as a process.

The collector is installed into a temporary folder the way the role installs it (an executable named
whiskey-fallback-collector) and started detached (no systemd here), so start, stop, a leftover of the same label
and a collector killed before the stop are all real processes and real files.

    pytest roles/cmonitor/tests/test_cmonitor_run.py
"""

import importlib.util
import json
import os
import signal
import time
from pathlib import Path

import pytest

from .test_fallback_collector import PYTHON, needs_psutil

ROLE = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cmonitor_run", ROLE / "library" / "cmonitor_run.py")
cmonitor_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmonitor_run)


def params(tmp_path, **over):
    p = {
        "label": "r1-gunicorn",
        "output": str(tmp_path / "out" / "telemetry.json"),
        "interval": 1,
        "metadata": {"scenario": "gunicorn", "url": "http://server:8000/x"},
        "process_match": "",
        "process_pids": [],
        "deep_collect": True,
        "flush_interval": 1,
        "stop_timeout": 10,
        "state_dir": str(tmp_path / "state"),
        "fallback_bin": str(tmp_path / "bin" / "whiskey-fallback-collector"),
        "launcher": "detached",
    }
    p.update(over)
    return p


@pytest.fixture
def installed(tmp_path):
    """The fallback collector and its install record, as the role's main tasks leave them."""
    binary = tmp_path / "bin" / "whiskey-fallback-collector"
    binary.parent.mkdir()
    source = (ROLE / "files" / "whiskey_fallback_collector.py").read_text().split("\n", 1)[1]
    binary.write_text(f"#!{PYTHON}\n{source}")
    binary.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    record = {"collector": "whiskey-fallback-collector", "binary": str(binary), "helper": str(binary)}
    (state / "installed.json").write_text(json.dumps(record))
    return record


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_fallback_command_follows_processes_and_keeps_colons_in_metadata(tmp_path):
    record = {
        "collector": "whiskey-fallback-collector",
        "binary": "/usr/local/bin/whiskey-fallback-collector",
    }
    cmd = cmonitor_run.collector_command(
        record, params(tmp_path, process_match="^/opt/venv/bin/", process_pids=[7])
    )
    assert cmd[0] == record["binary"]
    assert "--process-match=^/opt/venv/bin/" in cmd
    assert "--process-pids=7" in cmd
    assert "--custom-metadata=url:http://server:8000/x" in cmd
    assert not any(a.startswith("--deep-collect") for a in cmd)


def test_cmonitor_command_has_its_own_flags_and_no_extra_colons(tmp_path):
    record = {"collector": "cmonitor_collector", "binary": "/usr/bin/cmonitor_collector"}
    cmd = cmonitor_run.collector_command(record, params(tmp_path, process_match="x", metadata={"a:b": "c:d"}))
    assert {"--foreground", "--allow-multiple-instances", "--collect=all_baremetal", "--deep-collect"} <= set(
        cmd
    )
    assert "--custom-metadata=a_b:c_d" in cmd
    assert not any(a.startswith("--process-match") for a in cmd)


def test_bad_parameters_are_named(tmp_path):
    problems = cmonitor_run.check_params(params(tmp_path, label="../x", output="rel.json", interval=0))
    assert len(problems) == 3
    assert problems[0].startswith("label must be")
    assert problems[1].startswith("output must be")
    assert problems[2].startswith("interval must be")
    assert cmonitor_run.check_params(params(tmp_path)) == []


@pytest.mark.parametrize(
    ("state", "stopped", "summary", "expected"),
    [
        ({}, {}, {}, "no collector was started with run label L"),
        (
            {"pid": 5, "collector": "c"},
            {"was_running": False},
            {"valid": True, "samples": 3, "last_utc": "T"},
            "collector c (pid 5) had died before stop; its file has 3 samples up to T",
        ),
        ({"pid": 5}, {"was_running": True}, {"valid": False, "error": "not valid JSON"}, "not valid JSON"),
        ({"pid": 5}, {"was_running": True}, {"valid": True, "samples": 0}, "collector wrote no samples"),
        (
            {"pid": 5},
            {"was_running": True},
            {"valid": True, "samples": 4, "finished": False},
            "did not finish",
        ),
        ({"pid": 5}, {"was_running": True}, {"valid": True, "samples": 4, "finished": True}, None),
    ],
)
def test_stop_error_says_what_went_wrong(state, stopped, summary, expected):
    error = cmonitor_run.stop_error("L", state, "/s/run-L.json", stopped, summary, 3, 30, "")
    if expected is None:
        assert error is None
    else:
        assert expected in error


def test_start_without_install_record_fails_with_what_to_do(tmp_path):
    result, failure = cmonitor_run.start(params(tmp_path))
    assert result is None
    assert "installed.json is missing" in failure and "apply the role `cmonitor`" in failure


@needs_psutil
def test_start_then_stop_leaves_a_finished_file(tmp_path, installed):
    p = params(tmp_path)
    started, failure = cmonitor_run.start(p)
    assert failure is None
    assert started["ok"], started
    assert started["unit"] is None and alive(started["pid"])
    state_file = Path(p["state_dir"]) / "run-r1-gunicorn.json"
    assert json.loads(state_file.read_text())["pid"] == started["pid"]
    time.sleep(2.5)
    stopped, _ = cmonitor_run.stop(p)
    assert stopped["ok"], stopped
    assert stopped["error"] is None and stopped["exists"] and stopped["finished"] is True
    assert stopped["samples"] >= 2
    assert not alive(started["pid"])
    assert not state_file.exists()
    doc = json.loads(Path(p["output"]).read_text())
    assert len(doc["samples"]) == stopped["samples"]
    assert doc["header"]["custom_metadata"]["url"] == "http://server:8000/x"


@needs_psutil
def test_a_leftover_of_the_same_label_is_stopped_before_the_new_one_starts(tmp_path, installed):
    p = params(tmp_path)
    first, _ = cmonitor_run.start(p)
    second, _ = cmonitor_run.start(p)
    try:
        assert second["ok"] and second["changed"]
        assert second["pid"] != first["pid"]
        assert not alive(first["pid"])
        assert alive(second["pid"])
    finally:
        cmonitor_run.stop(p)
    assert not alive(second["pid"])


@needs_psutil
def test_a_collector_killed_before_the_stop_is_reported_and_its_samples_kept(tmp_path, installed):
    p = params(tmp_path)
    started, _ = cmonitor_run.start(p)
    time.sleep(2.5)  # flush_interval 1 s: the file holds samples when the collector is killed
    os.kill(started["pid"], signal.SIGKILL)
    time.sleep(0.3)
    stopped, _ = cmonitor_run.stop(p)
    assert not stopped["ok"]
    assert "had died before stop" in stopped["error"]
    assert stopped["samples"] >= 1
    assert stopped["exists"]


def test_stop_without_a_start_says_so_and_changes_nothing(tmp_path, installed):
    stopped, _ = cmonitor_run.stop(params(tmp_path, label="never"))
    assert not stopped["ok"] and not stopped["changed"]
    assert "no collector was started with run label never" in stopped["error"]
    assert stopped["samples"] == 0 and not stopped["exists"]
