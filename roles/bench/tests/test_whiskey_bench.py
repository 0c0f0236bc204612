"""The loop's logic without a host: plan, fingerprint, resume decision, run.json, host helpers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROLE = HERE.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wb = _load("whiskey_bench", ROLE / "filter_plugins" / "whiskey_bench.py")
wh = _load("whiskey_host", ROLE / "files" / "whiskey_host.py")

SCENARIOS = [
    {"name": "gunicorn", "server": "gunicorn", "via": "direct", "port": 9999},
    {"name": "nginx-uwsgi", "server": "uwsgi", "via": "nginx", "protocol": "uwsgi", "port": 8098},
]
BENCH = {
    "workers": [6, 60],
    "scenarios": ["gunicorn", "nginx-uwsgi"],
    "repeats": 2,
    "load_profile": "seed",
    "load_driver": "wrk",
    "users": 500,
    "spawn_rate": 25,
    "run_time_s": 90,
    "warmup_s": 10,
    "concurrency": [8, 32],
    "level_time_s": 15,
    "corpus_size": 900000,
    "telemetry_interval": 3,
    "slo_p99_ms": 100.0,
    "slo_error_pct": 0.1,
    "step_time_s": 10,
    "step_warmup_s": 2,
    "start_rate": 50,
    "max_rate": 5000,
    "rate_resolution_pct": 5.0,
    "run_id": "r1",
    "force": False,
}
HOSTS = {
    "whiskey-server": {"role": "server", "cores": 1, "memory_mb": 8192, "cpu_model": "x", "kernel": "6.1"}
}


def common(**changes):
    bench = {**BENCH, **changes}
    return wb.whiskey_common_parts(bench, {"nginx_gzip": True}, {"gunicorn": "27.0.1"}, "abc1234", HOSTS)


def status_for(run, parts=None, state="valid"):
    fp = wb.whiskey_planned_fingerprint(run, parts or common(), SCENARIOS)
    return {"status": state, "fingerprint": fp}


def test_plan_repeats_outermost_and_dirs():
    plan = wb.whiskey_run_plan(BENCH)
    assert len(plan) == 8
    assert [p["dir"] for p in plan[:4]] == [
        "6/gunicorn/1",
        "6/nginx-uwsgi/1",
        "60/gunicorn/1",
        "60/nginx-uwsgi/1",
    ]
    assert plan[4]["repeat"] == 2
    assert [p["index"] for p in plan] == list(range(1, 9))


def test_budget_is_one_formula_for_both_profiles():
    assert wb.whiskey_run_budget_s(BENCH) == 100
    assert wb.whiskey_run_budget_s({**BENCH, "load_profile": "throughput"}) == 10 + 2 * 15
    # capacity: the most a search can take (every step whole, the driver's check two steps, the cross-check one)
    assert wb.whiskey_run_budget_s({**BENCH, "load_profile": "capacity"}) == 10 + 23 * (2 + 10)


def test_each_profile_fingerprints_only_the_variables_it_uses():
    seed, cap = common(), common(load_profile="capacity")
    assert "slo_p99_ms" not in seed["bench"] and "users" in seed["bench"]
    assert (
        cap["bench"]["slo_p99_ms"] == 100.0
        and "users" not in cap["bench"]
        and "concurrency" not in cap["bench"]
    )
    # a changed objective is another experiment for capacity runs, not for seed runs
    assert common(slo_p99_ms=50.0) == seed
    changed = common(load_profile="capacity", slo_p99_ms=50.0)
    assert wb.whiskey_fingerprint(changed) != wb.whiskey_fingerprint(cap)


def test_fingerprint_is_stable_and_sensitive():
    a = wb.whiskey_fingerprint(common())
    b = wb.whiskey_fingerprint(common())
    c = wb.whiskey_fingerprint(common(users=100))
    assert a["sha256"] == b["sha256"]
    assert a["sha256"] != c["sha256"]
    # Only the part that changed differs, and the message names the variable and both values.
    assert wb.whiskey_fingerprint_diff(a, c) == ["bench.users: 500 -> 100"]
    assert wb.whiskey_fingerprint_diff(a, b) == []
    # Settings the profile does not use do not shape it either.
    assert wb.whiskey_fingerprint(common(concurrency=[1], level_time_s=5))["sha256"] == a["sha256"]
    # The run_id, force and the selection do not shape a measurement.
    assert wb.whiskey_fingerprint(common(run_id="other", force=True, repeats=9))["sha256"] == a["sha256"]


def test_diff_without_an_earlier_fingerprint_says_so():
    assert "older whiskey" in wb.whiskey_fingerprint_diff(None, wb.whiskey_fingerprint(common()))[0]
    assert (
        "older whiskey" in wb.whiskey_fingerprint_diff({"status": "ok"}, wb.whiskey_fingerprint(common()))[0]
    )


def test_resume_skips_valid_runs_of_the_same_experiment_and_redoes_the_others():
    plan = wb.whiskey_run_plan(BENCH)
    statuses = {
        plan[0]["dir"]: status_for(plan[0]),
        plan[1]["dir"]: status_for(plan[1], state="invalid"),
        plan[2]["dir"]: {"status": "failed"},
        plan[3]["dir"]: None,  # unreadable status.json
    }
    decision = wb.whiskey_resume(plan, statuses, common(), SCENARIOS)
    actions = [r["action"] for r in decision["runs"]]
    assert actions[:4] == ["skip", "redo", "redo", "redo"]
    assert actions[4:] == ["measure"] * 4
    assert decision["message"] == ""


def test_resume_with_a_changed_setting_stops_and_names_it():
    plan = wb.whiskey_run_plan(BENCH)
    statuses = {plan[0]["dir"]: status_for(plan[0])}
    decision = wb.whiskey_resume(plan, statuses, common(users=100), SCENARIOS)
    assert decision["conflicts"] and decision["conflicts"][0]["dir"] == "6/gunicorn/1"
    assert "bench.users: 500 -> 100" in decision["message"]
    assert "force=true" in decision["message"]


def test_resume_with_a_changed_scenario_row_or_commit_stops():
    plan = wb.whiskey_run_plan(BENCH)
    statuses = {plan[0]["dir"]: status_for(plan[0])}
    other = [{**SCENARIOS[0], "port": 9000}, SCENARIOS[1]]
    decision = wb.whiskey_resume(plan, statuses, common(), other)
    assert "scenario.port: 9999 -> 9000" in decision["message"]
    changed = {**common(), "commit": "def5678"}
    assert '"abc1234" -> "def5678"' in wb.whiskey_resume(plan, statuses, changed, SCENARIOS)["message"]


def test_resume_checks_measured_runs_that_are_not_planned_this_time():
    plan = wb.whiskey_run_plan({**BENCH, "workers": [6]})
    other_run = {"workers": 60, "scenario": "gunicorn", "repeat": 1, "dir": "60/gunicorn/1"}
    statuses = {"60/gunicorn/1": status_for(other_run, parts=common(users=100))}
    decision = wb.whiskey_resume(plan, statuses, common(), SCENARIOS)
    assert "60/gunicorn/1" in decision["message"] and "bench.users" in decision["message"]


def test_force_redoes_everything_found_and_never_stops():
    plan = wb.whiskey_run_plan(BENCH)
    statuses = {plan[0]["dir"]: status_for(plan[0], parts=common(users=100))}
    decision = wb.whiskey_resume(plan, statuses, common(), SCENARIOS, force=True)
    assert decision["message"] == ""
    assert decision["runs"][0]["action"] == "redo"


def test_legacy_ok_without_fingerprint_is_a_conflict():
    plan = wb.whiskey_run_plan(BENCH)
    decision = wb.whiskey_resume(plan, {plan[0]["dir"]: {"status": "ok"}}, common(), SCENARIOS)
    assert "older whiskey" in decision["message"]


def test_run_json_keeps_every_invocation():
    first = wb.whiskey_run_json({}, {"at": "T1", "variables": {"users": 500}}, {"run_id": "r1"})
    assert first["started"] == "T1" and len(first["invocations"]) == 1
    second = wb.whiskey_run_json(first, {"at": "T2", "variables": {"users": 500}}, {"run_id": "r1"})
    assert second["started"] == "T1"
    assert [i["at"] for i in second["invocations"]] == ["T1", "T2"]
    legacy = wb.whiskey_run_json(
        {"started": "T0", "variables": {"users": 9}, "whiskey_commit": "old"}, {"at": "T3"}, {"run_id": "r1"}
    )
    assert [i["at"] for i in legacy["invocations"]] == ["T0", "T3"]


def test_statuses_reads_run_folders_only(tmp_path):
    (tmp_path / "6/gunicorn/1").mkdir(parents=True)
    (tmp_path / "6/gunicorn/1/status.json").write_text(json.dumps({"status": "valid"}))
    (tmp_path / "6/gunicorn/1.old-20260101T000000Z").mkdir(parents=True)
    (tmp_path / "6/gunicorn/1.old-20260101T000000Z/status.json").write_text("{}")
    (tmp_path / "6/waitress/1").mkdir(parents=True)
    (tmp_path / "6/waitress/1/status.json").write_text("{truncated")
    (tmp_path / "report/x/1").mkdir(parents=True)
    (tmp_path / "report/x/1/status.json").write_text("{}")
    assert wb.whiskey_statuses(str(tmp_path)) == {"6/gunicorn/1": {"status": "valid"}, "6/waitress/1": None}
    assert wb.whiskey_statuses(str(tmp_path / "missing")) == {}


def test_context_and_summary():
    run = wb.whiskey_run_plan(BENCH)[0]
    ctx = wb.whiskey_verdict_context(run, BENCH, {"errors": []})
    assert ctx["duration_s"] == 90 and ctx["stats_reset"] is True and ctx["concurrency"] == []
    ctx = wb.whiskey_verdict_context(run, {**BENCH, "load_profile": "throughput"}, {})
    assert ctx["duration_s"] == 30 and ctx["stats_reset"] is False and ctx["level_time_s"] == 15
    ctx = wb.whiskey_verdict_context(run, {**BENCH, "load_profile": "capacity"}, {})
    assert ctx["duration_s"] is None and ctx["search"]["slo_p99_ms"] == 100.0 and ctx["concurrency"] == []
    plan = wb.whiskey_run_plan({**BENCH, "workers": [6], "repeats": 1})
    summary = wb.whiskey_summary(
        plan,
        {
            "6/gunicorn/1": {"status": "valid"},
            "6/nginx-uwsgi/1": {
                "status": "invalid",
                "reasons": [{"kind": "errors", "message": "5 % failed"}],
            },
        },
    )
    assert summary["counts"] == {"valid": 1, "invalid": 1}
    assert summary["overhead"] == {"runs": 0, "mean_s": None, "max_s": None}
    timed = {
        "status": "valid", "started": "2026-12-01T10:00:00Z", "ended": "2026-12-01T10:02:00Z",
        "warmup_s": 10, "duration_s": 90,
    }  # fmt: skip
    over = wb.whiskey_summary(plan[:1], {"6/gunicorn/1": timed})
    assert over["overhead"]["mean_s"] == 20.0 and "20.0 s per run" in over["line"]
    searched = {**timed, "duration_s": None, "load_s": 95.5}  # a capacity run: its load as measured
    assert wb.whiskey_summary(plan[:1], {"6/gunicorn/1": searched})["overhead"]["mean_s"] == 14.5
    assert summary["not_results"] == ["6/nginx-uwsgi/1 invalid: 5 % failed"]


def test_host_shape_from_facts():
    facts = [{"ansible_facts": {"processor": ["0", "GenuineIntel", "Xeon"], "processor_vcpus": 2}}]
    shape = wb.whiskey_host_shape(facts, ["srv"], "srv")
    assert (
        shape["srv"]["cpu_model"] == "Xeon"
        and shape["srv"]["role"] == "server"
        and shape["srv"]["cores"] == 2
    )


def test_stop_load_stops_a_leftover_driver_and_empties_the_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.csv").write_text("old")
    # A stand-in "driver": a real process whose command line matches the pattern the loop uses.
    script = tmp_path / "whiskey_load.py"
    script.write_text("import time\nwhile True:\n    time.sleep(0.2)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        time.sleep(0.3)
        result = subprocess.run(
            [sys.executable, str(ROLE / "files" / "whiskey_host.py"), "stop-load", "--out", str(out)],
            text=True,
            capture_output=True,
            timeout=60,
            check=True,
        )
        doc = json.loads(result.stdout)
        assert proc.pid in doc["stopped"]
        assert proc.wait(timeout=10) != 0
        assert doc["removed"] is True and not out.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stop_load_refuses_the_root_folder():
    result = subprocess.run(
        [sys.executable, str(ROLE / "files" / "whiskey_host.py"), "stop-load", "--out", "/"],
        text=True,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "--out" in result.stderr


def test_nginx_digest_follows_the_configuration_and_is_none_without_nginx(tmp_path, monkeypatch):
    """The digest is of what `nginx -T` prints (a stand-in nginx here): it changes with the configuration, and a
    host where nginx is missing or refuses its configuration gets None, not a digest of an error."""
    fake = tmp_path / "nginx"
    conf = tmp_path / "conf"
    fake.write_text(f"#!/bin/sh\ncat {conf}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    conf.write_text("worker_processes 1;\n")
    first = wh.nginx_digest()["nginx"]
    assert first and len(first) == 64
    conf.write_text("worker_processes 2;\n")
    assert wh.nginx_digest()["nginx"] not in (None, first)
    fake.write_text("#!/bin/sh\necho 'nginx: [emerg] unknown directive' >&2\nexit 1\n")
    assert wh.nginx_digest() == {"nginx": None}
    fake.unlink()
    assert wh.nginx_digest() == {"nginx": None}


@pytest.mark.skipif(not os.access("/proc/self/cmdline", os.R_OK), reason="needs /proc")
def test_driver_pattern_matches_the_real_drivers_and_not_the_stopper():
    import re

    pattern = re.compile(wh.DRIVER_MATCH)
    assert pattern.search(
        "/opt/whiskey/locust/venv/bin/python /opt/whiskey/locust/files/whiskey_load.py locust"
    )
    assert pattern.search(
        "/opt/whiskey/locust/venv/bin/python /opt/whiskey/locust/venv/bin/locust -f seed.py"
    )
    assert pattern.search("wrk -t1 -c8 -d15s http://server:9999/")
    assert pattern.search("/opt/whiskey/locust/bin/vegeta attack -name step-1 -rate 50/1s -duration 12s")
    assert pattern.search("/opt/whiskey/locust/bin/vegeta encode --to csv")
    assert not pattern.search("/usr/sbin/nginx -g daemon off;")


def test_pack_lays_out_the_files_for_the_run_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("locust_stats.csv", "locust-c8_stats.csv", "driver.json"):
        (out / name).write_text(name)
    (out / "sub").mkdir()  # folders are not the driver's files
    archive = tmp_path / "c2.tgz"
    doc = wh.pack(str(out), str(archive), "clients/c2/", r"locust(_|-c[0-9]+_)")
    assert sorted(doc["files"]) == ["clients/c2/driver.json", "locust-c8_stats.csv", "locust_stats.csv"]
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(doc["files"])
        assert tar.extractfile("clients/c2/driver.json").read() == b"driver.json"


def test_pack_refuses_a_prefix_that_leaves_the_run_folder(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROLE / "files" / "whiskey_host.py"),
            "pack",
            "--out",
            str(tmp_path),
            "--archive",
            str(tmp_path / "x.tgz"),
            "--prefix",
            "../up/",
        ],
        text=True,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "--prefix" in result.stderr
    assert not (tmp_path / "x.tgz").exists()


def test_pack_of_a_driver_that_never_wrote_is_empty(tmp_path):
    doc = wh.pack(str(tmp_path / "never"), str(tmp_path / "no-folder-yet" / "x.tgz"))
    assert doc["files"] == []
    with tarfile.open(tmp_path / "no-folder-yet" / "x.tgz") as tar:
        assert tar.getnames() == []


# --- the probe's arguments for the app under test ------------------------------------------------------------

wp = _load("whiskey_probe", ROLE / "files" / "whiskey_probe.py")
wa = _load("whiskey_app", ROLE.parents[1] / "playbooks" / "filter_plugins" / "whiskey_app.py")
ES = [{"name": "elasticsearch", "probe": {"kind": "elasticsearch", "url": "http://127.0.0.1:9200"}}]


def _probe_args(app, backends, corpus_size=900, run_index=3):
    argv = ["--url", "http://s:9999", "--program", "quoteserver-gunicorn"]
    return wp.parse_args(argv + wb.whiskey_probe_argv(app, backends, corpus_size, run_index))


def test_the_quote_server_is_probed_as_before():
    table = {"elasticsearch": {"facts": {"elasticsearch_url": "x"}}}
    app = wa.whiskey_app(str(ROLE.parents[1] / "app"), str(ROLE.parents[1]), table)["app"]
    args = _probe_args(app, ES)
    assert args.verify == "quotes" and not args.check and args.health == "/quotes/sayHello"
    assert args.es_url == "http://127.0.0.1:9200" and args.index == "quotes"
    assert args.ids == wp.pick_ids(900, 3)  # the same ids before and after a run
    assert [b for b in wb.whiskey_probe_argv(app, ES, 900, 3) if b.startswith("elasticsearch=")] == [
        "elasticsearch=elasticsearch:http://127.0.0.1:9200"
    ]


def test_the_answer_check_compares_with_the_index_the_manifest_names():
    app = {"health": "/h", "requests": [], "env": {}, "verify": {"check": "quotes", "index": "q2"}}
    args = _probe_args(app, ES)
    assert args.verify == "quotes" and args.index == "q2" and not args.check


def test_another_app_is_probed_on_its_health_and_each_request_of_its_mix():
    app = {
        "health": "/health",
        "requests": [{"path": "/work?n=5", "weight": 4}, {"path": "/i/{id}", "weight": 1}],
        "env": {},
        "verify": None,
    }
    argv = wb.whiskey_probe_argv(app, [], 50, 1)
    assert argv.count("--check") == 2 and "--backend" not in argv and "--verify" not in argv
    args = _probe_args(app, [], 50, 1)
    assert args.health == "/health" and args.verify is None


def test_an_app_with_only_a_locustfile_is_checked_on_its_health_path():
    argv = wb.whiskey_probe_argv({"health": "/up", "requests": [], "env": {}}, [], 10, 1)
    assert argv[argv.index("--check") + 1] == "/up"
