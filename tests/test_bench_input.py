"""bench.yml refuses bad input before it touches any host, with a message naming the variable."""

from __future__ import annotations

import importlib.util
import re

import pytest

from .conftest import ROOT, run

spec = importlib.util.spec_from_file_location(
    "whiskey_input", ROOT / "playbooks" / "filter_plugins" / "whiskey_input.py"
)
whiskey_input = importlib.util.module_from_spec(spec)
spec.loader.exec_module(whiskey_input)

KNOWN = ["werkzeug", "gunicorn", "nginx-uwsgi"]
GOOD = {
    "workers": 6,
    "scenarios": "all",
    "repeats": 1,
    "load_profile": "seed",
    "load_driver": "wrk",
    "users": 500,
    "spawn_rate": 10,
    "run_time": "60m",
    "warmup": "30s",
    "concurrency": [8, 32],
    "level_time": "30s",
    "corpus_size": 900000,
    "telemetry_interval": 3,
    "force": False,
    "run_id": "",
}


def check(**overrides):
    return whiskey_input.whiskey_bench_input({**GOOD, **overrides}, KNOWN)


def test_defaults_are_valid_and_normalised():
    result = check()
    assert result["errors"] == []
    config = result["config"]
    assert config["workers"] == [6]
    assert config["scenarios"] == KNOWN
    assert config["run_time_s"] == 3600
    assert config["warmup_s"] == 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [("6", [6]), ("[6,60]", [6, 60]), ([2, 4], [2, 4]), ("[2, 4]", [2, 4]), (60, [60])],
)
def test_workers_forms_from_the_command_line(value, expected):
    result = check(workers=value)
    assert result["errors"] == []
    assert result["config"]["workers"] == expected


@pytest.mark.parametrize("value", ["0", 0, "abc", "-3", "[6,0]", "[]", "1.5", True, "[6,6]"])
def test_bad_workers_name_the_variable(value):
    errors = check(workers=value)["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("workers=")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("scenarios", "nope"),
        ("scenarios", "[gunicorn,nope]"),
        ("repeats", "0"),
        ("users", "many"),
        ("spawn_rate", "-1"),
        ("run_time", "abc"),
        ("run_time", "0s"),
        ("warmup", "10 years"),
        ("load_profile", "soak"),
        ("load_driver", "ab"),
        ("concurrency", "[8,x]"),
        ("corpus_size", "0"),
        ("telemetry_interval", "fast"),
        ("force", "maybe"),
        ("run_id", "../../etc"),
        ("slo_p99_ms", "0"),
        ("slo_p99_ms", "fast"),
        ("slo_error_pct", "101"),
        ("step_time", "0"),
        ("step_warmup", "soon"),
        ("start_rate", "1.5"),
        ("max_rate", "0"),
        ("rate_resolution_pct", "0.1"),
        ("rate_resolution_pct", "-5"),
    ],
)
def test_each_bad_value_gets_one_message_naming_it(variable, value):
    errors = check(**{variable: value})["errors"]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{variable}=")


def test_capacity_defaults_and_the_rate_range():
    config = check(load_profile="capacity")["config"]
    assert config["load_profile"] == "capacity"
    assert (
        config["slo_p99_ms"],
        config["slo_error_pct"],
        config["step_time_s"],
        config["step_warmup_s"],
    ) == (
        100.0,
        0.1,
        20,
        3,
    )
    assert (config["start_rate"], config["max_rate"], config["rate_resolution_pct"]) == (50, 5000, 5.0)
    errors = check(start_rate="900", max_rate="100")["errors"]
    assert errors == [
        "start_rate=900 is above max_rate=100: the search steps up from start_rate to at most max_rate"
    ]


def test_scenario_list_forms():
    assert check(scenarios="[gunicorn,nginx-uwsgi]")["config"]["scenarios"] == ["gunicorn", "nginx-uwsgi"]
    assert check(scenarios="gunicorn,werkzeug")["config"]["scenarios"] == ["gunicorn", "werkzeug"]
    assert check(scenarios=["werkzeug"])["config"]["scenarios"] == ["werkzeug"]


def test_durations():
    assert check(run_time="90")["config"]["run_time_s"] == 90
    assert check(run_time="10m")["config"]["run_time_s"] == 600
    assert check(run_time="1h")["config"]["run_time_s"] == 3600


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-e", "workers=0"], "workers='0' is not valid"),
        (["-e", "workers=abc"], "workers='abc' is not valid"),
        (["-e", "scenarios=nope"], "scenarios='nope' is not valid: unknown scenario(s) nope"),
        (["-e", "run_time=soon"], "run_time='soon' is not valid"),
        (["-e", "load_profile=capacity", "-e", "slo_p99_ms=-1"], "slo_p99_ms='-1' is not valid"),
        (["-e", "start_rate=900", "-e", "max_rate=100"], "start_rate=900 is above max_rate=100"),
    ],
)
def test_bench_stops_before_touching_any_host(extra, needle):
    result = run(["ansible-playbook", "bench.yml", "-i", "tests/data/unreachable.yml", *extra], timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert needle in out
    assert "UNREACHABLE" not in out
    recap = out.split("PLAY RECAP", 1)[1]
    assert re.findall(r"^(\S+)\s+:", recap, re.M) == ["localhost"]


def test_bench_needs_a_client_host():
    result = run(
        ["ansible-playbook", "bench.yml", "-i", "tests/data/no-client.yml", "-e", "workers=6"], timeout=120
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "at least one in group `client`" in out
    assert "UNREACHABLE" not in out


def test_every_playbook_passes_syntax_check():
    playbooks = [ROOT / "bench.yml", *sorted((ROOT / "playbooks").glob("*.yml"))]
    for playbook in playbooks:
        result = run(["ansible-playbook", "--syntax-check", str(playbook.relative_to(ROOT))], timeout=120)
        assert result.returncode == 0, f"{playbook.name}: {result.stdout}{result.stderr}"


def test_a_value_given_twice_is_named():
    assert check(workers="[6,6]")["errors"] == ["workers='[6,6]' lists a value twice"]
    assert check(scenarios="gunicorn,gunicorn")["errors"] == [
        "scenarios='gunicorn,gunicorn' lists a scenario twice"
    ]


@pytest.mark.parametrize(
    ("server", "refused"),
    [
        ({}, False),
        ({"elasticsearch_network_host": "127.0.0.1"}, False),
        ({"elasticsearch_network_host": "::1"}, False),
        ({"elasticsearch_network_host": ["_local_", "127.0.0.2"]}, False),
        ({"elasticsearch_network_host": "0.0.0.0"}, True),
        ({"elasticsearch_network_host": "_site_"}, True),
        ({"elasticsearch_network_host": ["127.0.0.1", "10.42.1.10"]}, True),
        ({"elasticsearch_network_host": "0.0.0.0", "elasticsearch_security_enabled": "false"}, True),
        ({"elasticsearch_network_host": "0.0.0.0", "elasticsearch_security_enabled": True}, False),
    ],
)
def test_elasticsearch_beyond_loopback_needs_security(server, refused):
    errors = whiskey_input.whiskey_server_safety(server)
    assert bool(errors) == refused
    if refused:
        assert (
            errors[0].startswith("elasticsearch_network_host=")
            and "elasticsearch_security_enabled" in errors[0]
        )


def test_bench_refuses_an_exposed_elasticsearch_before_touching_any_host():
    result = run(["ansible-playbook", "bench.yml", "-i", "tests/data/es-exposed.yml"], timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "elasticsearch_network_host='0.0.0.0' with elasticsearch_security_enabled=False" in out
    assert "UNREACHABLE" not in out
    recap = out.split("PLAY RECAP", 1)[1]
    assert re.findall(r"^(\S+)\s+:", recap, re.M) == ["localhost"]
