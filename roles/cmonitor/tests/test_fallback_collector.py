"""Real-process tests of roles/cmonitor/files/whiskey_fallback_collector.py.

The collector runs as it does on a host: a separate process under a python3 that has psutil (by default the
system's /usr/bin/python3 with Debian's python3-psutil; override with WHISKEY_COLLECTOR_PYTHON), sampling real
busy processes, stopped by real signals.

    pytest roles/cmonitor/tests
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

COLLECTOR = Path(__file__).resolve().parents[1] / "files" / "whiskey_fallback_collector.py"
PYTHON = os.environ.get("WHISKEY_COLLECTOR_PYTHON", "/usr/bin/python3")
BUSY = "import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass\n"


def _has_psutil():
    try:
        return subprocess.run([PYTHON, "-c", "import psutil"], capture_output=True).returncode == 0
    except OSError:
        return False


needs_psutil = pytest.mark.skipif(
    not _has_psutil(),
    reason=f"{PYTHON} has no psutil (apt install python3-psutil, or set WHISKEY_COLLECTOR_PYTHON)",
)


def helper(*args):
    out = subprocess.run([PYTHON, str(COLLECTOR), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def start_collector(tmp_path, *args, interval="0.5"):
    out = tmp_path / "telemetry.json"
    proc = subprocess.Popen(
        [PYTHON, str(COLLECTOR), f"--sampling-interval={interval}", f"--output-filename={out}", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not out.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "collector wrote nothing within 10 s"
        time.sleep(0.05)
    return proc, out


def cpu_seconds(pid):
    """user+system CPU seconds of a process, straight from /proc (independent of the collector)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy(seconds, tag):
    # the tag lands in the command line, so a regex can find exactly this process
    return subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=seconds) + f"# {tag}\n"])


@needs_psutil
def test_sigterm_writes_complete_json_with_process_cpu(tmp_path):
    load = busy(5, "whiskey-test-busy-regex")
    before = cpu_seconds(load.pid)
    proc, out = start_collector(
        tmp_path,
        "--process-match=whiskey-test-busy-regex",
        "--custom-metadata=scenario:gunicorn",
        "--custom-metadata=url:http://server:9999/x",
    )
    after_start = cpu_seconds(load.pid)
    time.sleep(2.8)
    at_stop = cpu_seconds(load.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    load.kill()
    load.wait()

    doc = json.loads(out.read_text())
    col = doc["header"]["collector"]
    assert col["name"] == "whiskey-fallback-collector"
    assert col["finished"] is True
    assert col["stop_reason"] == "SIGTERM"
    assert doc["header"]["custom_metadata"] == {"scenario": "gunicorn", "url": "http://server:9999/x"}
    samples = doc["samples"]
    assert 4 <= len(samples) <= 7
    assert [s["timestamp"]["sample_index"] for s in samples] == list(range(len(samples)))
    for s in samples:
        assert s["timestamp"]["UTC"].endswith("Z")
        cpu = s["stat"]["cpu_total"]
        assert 99.0 <= sum(v for k, v in cpu.items() if k not in ("guest", "guestnice")) <= 101.0
        assert "cpu0" in s["stat"]
        assert s["proc_meminfo"]["MemTotal"] > s["proc_meminfo"]["MemFree"] > 0
        assert s["proc_loadavg"]["load_avg_1min"] >= 0
        assert s["whiskey_processes"]["count"] == 1
        assert s["whiskey_processes"]["rss_kb"] > 0
    # The CPU seconds the samples add up to match what the kernel charged the process meanwhile (the
    # machine may be busy: compare with /proc, not with "one core").
    sampled = sum(s["whiskey_processes"]["cpu_cores"] * s["timestamp"]["elapsed_s"] for s in samples)
    assert 0 < sampled <= at_stop - before + 0.05
    assert sampled >= 0.5 * (at_stop - after_start) - 0.05
    ncpu = doc["header"]["identity"]["cpu_count"]
    for s in samples:
        wp = s["whiskey_processes"]
        assert wp["cpu_percent"] == pytest.approx(100 * wp["cpu_cores"] / ncpu, abs=0.05)


@needs_psutil
def test_pids_and_children(tmp_path):
    parent = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            f"{sys.executable} -c '{BUSY.format(seconds=3)}' & {sys.executable} -c "
            f"'{BUSY.format(seconds=3)}' & wait",
        ]
    )
    time.sleep(0.3)
    proc, out = start_collector(tmp_path, f"--process-pids={parent.pid}")
    time.sleep(1.8)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    parent.wait(timeout=10)
    samples = json.loads(out.read_text())["samples"]
    assert samples
    assert max(s["whiskey_processes"]["count"] for s in samples) == 3  # the shell and its two children
    assert sum(s["whiskey_processes"]["cpu_cores"] for s in samples) > 0


@needs_psutil
def test_sigkill_leaves_valid_unfinished_file(tmp_path):
    proc, out = start_collector(tmp_path, "--flush-interval=0.5")
    time.sleep(1.8)
    proc.kill()
    proc.wait()
    summary = helper(f"--check={out}")
    assert summary["valid"] is True
    assert summary["finished"] is False
    assert summary["samples"] >= 2
    assert summary["collector"] == "whiskey-fallback-collector"


@needs_psutil
def test_stop_and_status_helpers(tmp_path):
    proc, out = start_collector(tmp_path)
    assert helper(f"--status={proc.pid}", "--expect-cmdline=whiskey_fallback_collector")["state"] == "running"
    # PID reuse guard: a process that is not the collector does not count
    assert helper(f"--status={proc.pid}", "--expect-cmdline=nginx")["state"] == "missing"
    result = helper(f"--stop={proc.pid}", "--timeout=10", "--expect-cmdline=whiskey_fallback_collector")
    assert result["was_running"] and result["exited"] and not result["killed"]
    proc.wait(timeout=5)
    assert helper(f"--status={proc.pid}")["state"] == "missing"
    assert helper(f"--check={out}")["finished"] is True


def test_check_reports_truncated_file(tmp_path):
    f = tmp_path / "cut.json"
    f.write_text('{"header": {"cmonitor": {"version": "2.4.0"}}, "samples": [{"timestamp": {"UTC": "2026-')
    summary = helper(f"--check={f}")
    assert summary["valid"] is False
    assert "truncated" in summary["error"]
    assert helper(f"--check={tmp_path / 'missing.json'}")["exists"] is False


def test_check_annotates_cmonitor_files(tmp_path):
    # the shape cmonitor_collector writes (header.cmonitor, per-core stat, UTC without zone)
    f = tmp_path / "cmon.json"
    f.write_text(
        json.dumps(
            {
                "header": {"cmonitor": {"version": "2.4.0"}, "custom_metadata": {"scenario": "x"}},
                "samples": [{"timestamp": {"UTC": "2026-11-24T22:30:03", "sample_index": 0}, "stat": {}}],
            }
        )
    )
    summary = helper(f"--check={f}", "--annotate", "--sampling-interval=3")
    assert summary["collector"] == "cmonitor_collector"
    assert summary["annotated"] is True
    doc = json.loads(f.read_text())
    assert doc["header"]["collector"]["name"] == "cmonitor_collector"
    assert doc["header"]["collector"]["sampling_interval_s"] == 3
    assert helper(f"--check={f}", "--annotate")["annotated"] is False  # once only


def test_cli_help_and_bad_input():
    out = subprocess.run([PYTHON, str(COLLECTOR), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--process-match" in out.stdout
    bad = subprocess.run(
        [PYTHON, str(COLLECTOR), "--output-filename=/tmp/x.json", "--process-match=("],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "not a valid regular expression" in bad.stderr
