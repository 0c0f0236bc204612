"""Validate and normalise the variables a user passes to bench.yml with -e.

`-e workers=6`, `-e 'workers=[6,60]'`, `-e workers=abc`: values arrive as strings, numbers or lists depending on
how they were written. `whiskey_bench_input` turns them into one normalised dict and a list of errors, each naming
the variable and what is allowed, so bench.yml can stop before any host is touched.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import yaml

DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h)?\s*$")
DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PROFILES = ("seed", "throughput", "capacity")
DRIVERS = ("wrk", "locust")


def _parse(value: Any) -> Any:
    """Strings written on the command line (`[6,60]`, `6`, `true`) become what they say."""
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _positive_int(value: Any) -> int | None:
    value = _parse(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    return None


def _items(parsed: Any) -> list:
    """A parsed value as a list: a list stays one, anything else becomes its only item."""
    return parsed if isinstance(parsed, list) else [parsed]


def _check_no_repeats(name: str, value: Any, items: list, noun: str, errors: list[str]) -> None:
    if len(set(items)) != len(items):
        errors.append(f"{name}={value!r} lists {noun} twice")


def _int_list(name: str, value: Any, errors: list[str], what: str) -> list[int]:
    items = _items(_parse(value))
    result = [_positive_int(item) for item in items]
    if not items or any(item is None for item in result):
        errors.append(
            f"{name}={value!r} is not valid: {what} must be a positive integer or a list of them, "
            f"e.g. -e {name}=6 or -e '{name}=[6,60]'"
        )
        return []
    _check_no_repeats(name, value, result, "a value", errors)
    return result


def _one_int(name: str, value: Any, errors: list[str], what: str) -> int | None:
    result = _positive_int(value)
    if result is None:
        errors.append(f"{name}={value!r} is not valid: {what} must be a positive integer, e.g. -e {name}=10")
    return result


def _duration(name: str, value: Any, errors: list[str]) -> int | None:
    match = DURATION_RE.match(str(value))
    seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)] if match else 0
    if not match or seconds <= 0:
        errors.append(
            f"{name}={value!r} is not valid: a duration is a positive number of seconds, minutes or hours, "
            f"e.g. 90, 90s, 10m, 1h"
        )
        return None
    return seconds


def _choice(name: str, value: Any, choices: tuple[str, ...], errors: list[str]) -> str | None:
    if value not in choices:
        errors.append(f"{name}={value!r} is not valid: choose one of {', '.join(choices)}")
        return None
    return value


def _scenarios(value: Any, known: list[str], errors: list[str]) -> list[str]:
    parsed = _parse(value)
    if parsed == "all" or parsed is None:
        return list(known)
    items = _items(parsed)
    if isinstance(parsed, str) and "," in parsed:
        items = [item.strip() for item in parsed.split(",")]
    names = [str(item) for item in items]
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        errors.append(
            f"scenarios={value!r} is not valid: unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(known)} (or all)"
        )
        return []
    _check_no_repeats("scenarios", value, names, "a scenario", errors)
    return names


def _percent(name: str, value: Any, errors: list[str], what: str) -> float | None:
    parsed = _parse(value)
    if isinstance(parsed, bool) or not isinstance(parsed, int | float) or not 0 <= parsed <= 100:
        errors.append(f"{name}={value!r} is not valid: {what} must be a number of percent from 0 to 100")
        return None
    return float(parsed)


def _positive_number(name: str, value: Any, errors: list[str], what: str, example: str) -> float | None:
    parsed = _parse(value)
    if isinstance(parsed, bool) or not isinstance(parsed, int | float) or not parsed > 0 or parsed != parsed:
        errors.append(
            f"{name}={value!r} is not valid: {what} must be a number above 0, e.g. -e {name}={example}"
        )
        return None
    return float(parsed)


def _capacity(v: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """The capacity profile's search: the objective, the step, the rates."""
    out = {
        "slo_p99_ms": _positive_number(
            "slo_p99_ms", v.get("slo_p99_ms", 100), errors, "the p99 latency objective in milliseconds", "100"
        ),
        "slo_error_pct": _percent(
            "slo_error_pct",
            v.get("slo_error_pct", 0.1),
            errors,
            "the share of failed requests the objective allows",
        ),
        "step_time": v.get("step_time", "20s"),
        "step_time_s": _duration("step_time", v.get("step_time", "20s"), errors),
        "step_warmup": v.get("step_warmup", "3s"),
        "step_warmup_s": _duration("step_warmup", v.get("step_warmup", "3s"), errors),
        "start_rate": _one_int(
            "start_rate", v.get("start_rate", 50), errors, "the first rate tried (requests/s)"
        ),
        "max_rate": _one_int(
            "max_rate", v.get("max_rate", 5000), errors, "the highest rate tried (requests/s)"
        ),
        "rate_resolution_pct": _positive_number(
            "rate_resolution_pct",
            v.get("rate_resolution_pct", 5),
            errors,
            "how close the search brackets the capacity, in percent",
            "5",
        ),
    }
    if out["start_rate"] and out["max_rate"] and out["start_rate"] > out["max_rate"]:
        errors.append(
            f"start_rate={out['start_rate']} is above max_rate={out['max_rate']}: the search steps up from "
            "start_rate to at most max_rate"
        )
    if out["rate_resolution_pct"] is not None and not 0.5 <= out["rate_resolution_pct"] <= 50:
        errors.append(
            f"rate_resolution_pct={v.get('rate_resolution_pct')!r} is not valid: from 0.5 to 50 (percent); "
            "below 0.5 the steps' own noise is larger than the bracket"
        )
    return out


def _bool(name: str, value: Any, errors: list[str]) -> bool:
    parsed = _parse(value)
    if isinstance(parsed, bool):
        return parsed
    errors.append(f"{name}={value!r} is not valid: use true or false")
    return False


def whiskey_bench_input(variables: dict[str, Any], known_scenarios: list[str]) -> dict[str, Any]:
    """Return {'errors': [...], 'config': {...normalised values...}}."""
    errors: list[str] = []
    v = variables
    config: dict[str, Any] = {
        "workers": _int_list("workers", v.get("workers"), errors, "the number of WSGI workers"),
        "scenarios": _scenarios(v.get("scenarios", "all"), list(known_scenarios), errors),
        "repeats": _one_int("repeats", v.get("repeats"), errors, "the number of repeats"),
        "load_profile": _choice("load_profile", v.get("load_profile"), PROFILES, errors),
        "load_driver": _choice("load_driver", v.get("load_driver"), DRIVERS, errors),
        "users": _one_int("users", v.get("users"), errors, "the number of Locust users"),
        "spawn_rate": _one_int("spawn_rate", v.get("spawn_rate"), errors, "users started per second"),
        "run_time": v.get("run_time"),
        "run_time_s": _duration("run_time", v.get("run_time"), errors),
        "warmup": v.get("warmup"),
        "warmup_s": _duration("warmup", v.get("warmup"), errors),
        "concurrency": _int_list("concurrency", v.get("concurrency"), errors, "each concurrency level"),
        "level_time": v.get("level_time"),
        "level_time_s": _duration("level_time", v.get("level_time"), errors),
        "corpus_size": _one_int("corpus_size", v.get("corpus_size"), errors, "the number of quotes"),
        "telemetry_interval": _one_int(
            "telemetry_interval", v.get("telemetry_interval"), errors, "the sampling interval in seconds"
        ),
        "force": _bool("force", v.get("force", False), errors),
        "max_error_pct": _percent(
            "max_error_pct",
            v.get("max_error_pct", 1),
            errors,
            "the share of failed requests a valid run may have",
        ),
        "client_overhead_pct": _percent(
            "client_overhead_pct",
            v.get("client_overhead_pct", 25),
            errors,
            "the share of the measured median latency the client itself may add",
        ),
        "run_id": str(v.get("run_id") or ""),
    }
    config.update(_capacity(v, errors))
    if config["run_id"] and not RUN_ID_RE.match(config["run_id"]):
        errors.append(
            f"run_id={config['run_id']!r} is not valid: letters, digits, '.', '_' and '-', at most 64 characters"
        )
    return {"errors": errors, "config": config}


LOOPBACK_NAMES = ("localhost", "_local_")


def _loopback_only(hosts: Any) -> bool:
    """Whether Elasticsearch's network.host value(s) bind to loopback only (127.0.0.0/8, ::1, _local_)."""
    values = hosts if isinstance(hosts, list) else [hosts]
    for value in values:
        text = str(value).strip().strip("[]")
        if text in LOOPBACK_NAMES:
            continue
        try:
            if ipaddress.ip_address(text).is_loopback:
                continue
        except ValueError:
            pass
        return False
    return bool(values)


def whiskey_server_safety(server: dict[str, Any]) -> list[str]:
    """What makes a server unsafe to expose, from its variables (role defaults where unset); one message each."""
    errors = []
    network_host = server.get("elasticsearch_network_host", "127.0.0.1")
    security = _parse(server.get("elasticsearch_security_enabled", False))
    if not _loopback_only(network_host) and security is not True:
        errors.append(
            f"elasticsearch_network_host={network_host!r} with elasticsearch_security_enabled={security!r}: "
            "Elasticsearch would answer anyone who reaches the server, without authentication. Bind it to "
            "loopback (127.0.0.1, the default: the app runs on the same host) or set "
            "elasticsearch_security_enabled=true"
        )
    return errors


class FilterModule:
    def filters(self):
        return {"whiskey_bench_input": whiskey_bench_input, "whiskey_server_safety": whiskey_server_safety}
