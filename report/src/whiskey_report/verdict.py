"""The verdict of one measured run: valid, invalid or failed, with its reasons; the status.json document.

The benchmark loop calls it once per run folder, after fetching everything and before anything reads it:

    python -m whiskey_report verdict RUN_DIR --context CONTEXT.json [--write]

It prints the complete status.json document (docs/results-format.md) on stdout; with --write it also writes
RUN_DIR/status.json atomically (a temporary file in RUN_DIR, then a rename). It never stops on a bad or missing
file: a file it cannot read is a reason (or a warning), not a traceback.

Verdicts
  failed   not measured: context["errors"] is not empty, or RUN_DIR holds no driver results at all (capacity:
           no capacity.json, or the driver's error before any step).
  invalid  measured, but not a result: `reasons` lists why, as {"kind", "message"} (one line naming numbers):
             errors     the window's error ratio is over thresholds.max_error_pct (any throughput level; not in
                        the capacity profile, whose objective has its own error limit);
             backend    probe-before.json / probe-after.json: a backend the app needs was not healthy (the
                        quote server's: Elasticsearch);
             request    the probe's real requests failed: the app's health path did not answer 200, or an answer
                        check failed (a request of the app did not answer 2xx; the quote server's /quotes/byId
                        of a known id did not answer 200 with its quote), or the probe checked no answer at all;
             processes  the scenario's server restarted (supervisor pid changed, or not RUNNING after) or
                        worker processes died during the run (pids of probe-before missing from probe-after);
             results    the driver's files fail their sanity checks (loader.read_history / check_totals /
                        read_throughput: truncated, counters that decrease, negative counts, totals that do not
                        match Locust's Aggregated row, missing throughput levels; capacity.json's checks in
                        capacity.py, a driver error after some steps, or no rate tried met the objective:
                        result status "none") or cannot be read;
             client     the load generator measurably distorted the run (client_bound, below).
  valid    none of the above. `warnings` ({"kind", "message"}) never invalidate: telemetry errors, a missing
           probe or calibration, a short window; `capacity`: a censored search (every rate up to max_rate met
           the objective: the capacity is at least max_rate), failures below the capacity (a noisy search).

Client-bound (client_bound, client_bound_reasons; a `client` reason)
  seed        context.calibration[client] = {"mode": "seed", "endpoint", "rps", "p50_ms", "p99_ms", "users"}: the
              same Locust users and think time against nginx's near-free /whiskey/ping, i.e. what the client
              itself adds at that load. Client-bound when the client's own median (the largest p50_ms of the
              clients) exceeds thresholds.client_overhead_pct of the run's measured median, or when the clients'
              rate against ping (rps, summed) is below thresholds.client_min_rate_ratio × the run's rate. No seed
              calibration: a `client` warning.
  throughput  the rule of roles/locust/files/whiskey_load.py `assess`: the run's peak rate above
              thresholds.client_bound_ratio × the clients' calibrated ceiling (calibration[client].rps,
              summed), or the driver at thresholds.client_bound_cpu of a core per process (driver.json's
              cpu_per_process, or client telemetry's whiskey_processes with context.client_cores).
  capacity    capacity.json's driver_check: the driver alone against nginx's near-free /whiskey/ping at the
              capacity's rate. Client-bound when its p99 exceeds thresholds.driver_p99_fraction × slo_p99_ms,
              when its achieved rate misses its rate by more than thresholds.driver_rate_miss_pct %, when the
              capacity step's achieved rate misses its rate by more than that, or when there is no driver check
              although a capacity was found. The driver's CPU is a warning only (as in the seed profile).

The capacity profile's status.json (docs/results-format.md): rate_rps = the capacity (the highest rate that
met the objective), error_pct / requests / failures / window_s of the capacity step (requests = its planned
requests, failures = errors + unanswered), load_s = the driver's measured seconds of load (duration_s is None),
and a "capacity" object: capacity, lower, upper, status, text, slo_p99_ms, slo_error_pct, max_rate, clients,
steps, latency_ms (the capacity step's), window, driver_check {rate, achieved_rate, p99_ms}. Several clients'
files are merged exactly (capacity.py).

The context (CONTEXT.json, written by the loop, roles/bench; every key optional, defaults in brackets)
  workers, scenario, repeat        the run [from RUN_DIR = .../<workers>/<scenario>/<repeat>]
  profile                          "seed" | "throughput" | "capacity" [capacity when RUN_DIR (or
                                   RUN_DIR/clients/*) has capacity.json, throughput when it has throughput.json]
  driver                           "locust" | "wrk" | "vegeta"
  url, path                        the scenario's base URL and the request path template
  started, ended                   UTC timestamps of the run
  warmup_s, duration_s             seconds of warm-up and of measurement asked for
  level_time_s                     throughput: seconds per concurrency level
  search                           capacity: the search's variables (informative; capacity.json's settings rule)
  concurrency                      throughput: the levels asked for, e.g. [8, 32, 128] (each must be measured)
  clients                          the client hosts, e.g. ["whiskey-client"]
  client_dirs                      the folders holding each client's driver.json, absolute or relative to
                                   RUN_DIR [RUN_DIR/clients/* when there, else RUN_DIR]
  client_cores                     {"whiskey-client": 2}: CPUs of each client (to read its telemetry)
  stats_reset                      true when Locust ran with --reset-stats [false]
  calibration                      {client: {...}} as above (seed) or whiskey_load.py calibrate's output; an
                                   entry {"error": "...", "rps": null} is a calibration that failed
  thresholds                       overrides of DEFAULT_THRESHOLDS (numbers, or strings holding numbers)
  fingerprint                      opaque dict, copied into status.json as is
  errors                           ["switch failed: ...", ...] from the loop: non-empty means failed [[]]
  telemetry_errors                 ["whiskey-client: telemetry: ..."]: warnings only [[]]
  probes                           {"before": {...}, "after": {...}}: the probe documents as the probe printed
                                   them; with --write they become RUN_DIR/probe-<when>.json (and the context
                                   without them RUN_DIR/context.json), so the loop hands over everything in one call

The probe files: RUN_DIR/probe-before.json and probe-after.json, written by roles/bench/files/whiskey_probe.py
just before and just after the load (its docstring is the reference; all keys are read leniently). The quote
server's:
  {"at": "2026-11-24T23:54:40.123Z",
   "backends": ["elasticsearch"],
   "elasticsearch": {"ok": true, "status": "green", "error": null},
   "health": {"path": "/quotes/sayHello", "status": 200, "ok": true, "error": null, "elapsed_ms": 1.9},
   "request": {"ok": true, "checks": [{"id": 17, "status": 200, "ok": true, "error": null, "elapsed_ms": 4.2}]},
   "program": {"name": "quoteserver-gunicorn", "state": "RUNNING", "pid": 4242, "ok": true, "error": null},
   "processes": {"pids": [4242, 4250, 4251], "count": 3}}
  an app without backends: "backends": [] and no backend section; its answer checks are named by path:
   "request": {"ok": false, "checks": [{"path": "/work?n=20000", "status": 500, "ok": false, "error": "...",
                                        "elapsed_ms": 3.1}]}
  backend    a section of `backends` (each named by the list; without the list, a probe of an older whiskey:
             the elasticsearch section) not ok (or, without `ok`, an error, or a status other than green,
             yellow or 2xx). Messages: "Elasticsearch was not healthy (...)" for the one named elasticsearch,
             "backend <name> was not healthy (...)" for any other;
  request    health.ok false (health null or missing: no health path was probed): "the health path /health
             answered 404, not 200 (...)"; a check that is not ok: one with a "path" (the app's request) got no
             answer or answered other than 2xx ("/work?n=20000 answered 500, not 2xx (...)"), one with an "id"
             (the quote server) got no answer, an answer other than 200, or a 200 without the quote that
             Elasticsearch holds for the id ("/quotes/byId?id=17 answered 503, not 200 (...)"); a request
             section without any check (nothing tells that the app answers);
  processes  program.state not RUNNING before or after; program.pid changed (a restart); pids of the probe
             before missing after (dead workers; the pids new after are counted as their replacements).
  A missing probe file, or a section missing from it, is a `probe` warning (not checked); an unreadable one is
  a `results` reason. status.json's `probe` summarises each file: at, elasticsearch (its status) and
  elasticsearch_ok (null without that section), backends ({name: ok, null when its section is missing}),
  health_ok (null without a health section), request_ok, request_status, program_state, program_pid, processes.
"""

import csv
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from whiskey_report import __version__
from whiskey_report import capacity as cap
from whiskey_report.loader import (
    NO_SERVER_TELEMETRY,
    Measurement,
    Run,
    _count,
    _num,
    _read_json,
    read_locust,
    read_telemetry,
    read_throughput,
)

DEFAULT_THRESHOLDS = {
    "max_error_pct": 1.0,  # % of the window's requests that may fail
    "client_overhead_pct": 25.0,  # seed: the client's own median at this load, % of the run's median
    "client_min_rate_ratio": 0.95,  # seed: the client's rate against ping must reach this × the run's rate
    "client_bound_ratio": 0.25,  # throughput: peak rate / the clients' calibrated ceiling
    "client_bound_cpu": 0.9,  # throughput: driver cores per process counted as a full core
    "driver_p99_fraction": 0.1,  # capacity: the driver check's p99 may be this × slo_p99_ms
    "driver_rate_miss_pct": 1.0,  # capacity: achieved rates may miss their rate by this %
}
HEALTHY_ES = ("green", "yellow")  # yellow: replicas unassigned, the normal state of a one-node cluster
RUN_ATTRIBUTES = (
    "workers",
    "scenario",
    "repeat",
    "profile",
    "driver",
    "url",
    "path",
    "started",
    "ended",
    "warmup_s",
    "duration_s",
    "clients",
)


def _pct(value: float) -> str:
    return f"{value:.2f}"


class _Judgement:
    def __init__(self, run_dir: Path, context) -> None:
        self.run_dir = Path(run_dir)
        self.reasons: list[dict] = []
        self.warnings: list[dict] = []
        self.failed: list[str] = []
        if not isinstance(context, dict):
            self.failed.append(f"the context is not a JSON object (got {type(context).__name__})")
            context = {}
        self.ctx = context
        self.thresholds = dict(DEFAULT_THRESHOLDS)
        given = context.get("thresholds")
        for key, value in (given if isinstance(given, dict) else {}).items():
            number = _num(value) if not isinstance(value, bool) else None
            if number is None:
                self.warn("context", f"threshold {key}={value!r} is not a number: ignored")
            else:
                self.thresholds[key] = number
        self.measurements: list[Measurement] = []
        self.client_bound_reasons: list[str] = []
        self.rate: float | None = None
        self.exit_codes: list[int] = []
        self.probes: dict = {"before": None, "after": None}
        self.telemetry_ok = False
        self.max_users: float | None = None
        self.capacity: cap.Capacity | None = None
        self._driver_docs: list[tuple[Path, dict]] = []  # (client folder, its driver.json)

    # ------------------------------------------------------------ helpers

    def reason(self, kind: str, message: str) -> None:
        self.reasons.append({"kind": kind, "message": message})

    def warn(self, kind: str, message: str) -> None:
        if {"kind": kind, "message": message} not in self.warnings:
            self.warnings.append({"kind": kind, "message": message})

    def _strings(self, key: str) -> list[str]:
        value = self.ctx.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value] if value.strip() else []
        if isinstance(value, list):
            return [" ".join(str(v).split()) for v in value if v is not None and str(v).strip()]
        return [str(value)]

    def _from_path(self, key: str):
        """workers / scenario / repeat from RUN_DIR = .../<workers>/<scenario>/<repeat> when the context lacks it."""
        parts = self.run_dir.resolve().parts
        value = self.ctx.get(key)
        if value is not None:
            return value
        if len(parts) < 3:
            return None
        guess = dict(zip(("workers", "scenario", "repeat"), parts[-3:], strict=True))[key]
        if key == "scenario":
            return guess
        return int(guess) if guess.isdigit() else None

    @property
    def profile(self) -> str:
        prof = self.ctx.get("profile")
        if prof in ("seed", "throughput", "capacity"):
            return prof
        if cap.has_capacity(self.run_dir):
            return "capacity"
        return "throughput" if (self.run_dir / "throughput.json").exists() else "seed"

    def _given_client_dirs(self) -> list[Path]:
        return [self.run_dir / d for d in self._strings("client_dirs")]

    @property
    def client_dirs(self) -> list[Path]:
        """The folders holding each client's driver.json: context.client_dirs, else RUN_DIR/clients/* (several
        clients), else RUN_DIR."""
        given = [self.run_dir / d for d in self._strings("client_dirs")]  # an absolute d stays itself
        if given:
            return given
        clients = self.run_dir / "clients"
        if clients.is_dir():
            dirs = sorted(p for p in clients.iterdir() if p.is_dir())
            if dirs:
                return dirs
        return [self.run_dir]

    # ------------------------------------------------------------ the checks

    def run(self) -> None:
        self.failed += self._strings("errors")
        if not self.run_dir.is_dir():
            self.failed.append(f"{self.run_dir}: no such run folder")
            return
        for err in self._strings("telemetry_errors"):
            self.warn("telemetry", err)
        self._driver_json()
        self._telemetry()
        before, after = self._probe("before"), self._probe("after")
        if self.failed or not self._has_results():
            return
        if self.profile == "capacity":
            self._capacity()
            self._probes(before, after)
            return
        self._results()
        if self.measurements:
            self._errors()
            if self.profile == "seed":
                self._client_seed()
            else:
                self._client_throughput()
        self._probes(before, after)

    def _has_results(self) -> bool:
        d = self.run_dir
        if self.profile == "capacity":
            if cap.capacity_files(d, self._given_client_dirs()):
                return True
            self.failed.append(f"no driver results in {d} (no capacity.json)")
            return False
        if self.profile == "throughput":
            if (d / "throughput.json").exists():
                return True
            raw = list(d.glob("wrk-c*.json")) + list(d.glob("locust-c*_stats.csv"))
            raw += list(d.glob("clients/*/wrk-c*.json"))
            if raw:
                self.reason(
                    "results",
                    f"no throughput.json, although {len(raw)} raw driver files are there (the levels were not read)",
                )
                return True
            self.failed.append(f"no driver results in {d} (no throughput.json, no wrk-c*.json)")
            return False
        if (d / "locust_stats.csv").exists() or (d / "locust_stats_history.csv").exists():
            return True
        self.failed.append(f"no driver results in {d} (no locust_stats.csv, no locust_stats_history.csv)")
        return False

    def _results(self) -> None:
        status = {
            "stats_reset": bool(self.ctx.get("stats_reset")),
            "duration_s": self.ctx.get("duration_s"),
            "warmup_s": self.ctx.get("warmup_s"),
            "concurrency": self.ctx.get("concurrency"),
        }
        run = Run(0, "", 0, self.run_dir, "valid", status)
        try:
            if self.profile == "throughput":
                if (self.run_dir / "throughput.json").exists():
                    read_throughput(run)
            else:
                read_locust(run)
                if run.series and run.series.users:
                    self.max_users = max(run.series.users)
        except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
            run.bad(f"could not read the load results: {type(exc).__name__}: {exc}")
            run.measurements.clear()
        for msg in run.result_errors:
            self.reason("results", msg)
        for msg in run.problems:
            if msg not in run.result_errors and msg != NO_SERVER_TELEMETRY:
                self.warn("results", msg)
        self.measurements = run.measurements
        if self.profile == "seed" and self.measurements:
            m = self.measurements[0]
            if m.requests == 0 and not run.result_errors:
                self.reason("results", f"no requests in the {m.window_s:.0f}-s measurement window")
            if m.failures > m.requests >= 0:
                self.reason(
                    "results", f"more failures ({_count(m.failures)}) than requests ({_count(m.requests)})"
                )
        if self.measurements:
            self.rate = max(m.rps for m in self.measurements)

    def _errors(self) -> None:
        limit = self.thresholds["max_error_pct"]
        for m in self.measurements:
            if m.requests <= 0:
                continue
            pct = 100.0 * m.failures / m.requests
            if pct > limit:
                where = f"at concurrency {m.concurrency}: " if m.concurrency is not None else ""
                self.reason(
                    "errors",
                    f"{where}{_pct(pct)} % of {_count(m.requests)} requests failed (limit {limit:g} %)",
                )

    def _capacity(self) -> None:
        """The capacity profile: capacity.json's checks, the search's outcome and the driver's own share."""
        try:
            c = cap.read_run(self.run_dir, self._given_client_dirs())
        except cap.CapacityError as exc:
            self.reason("results", str(exc))
            return
        if c.error and not c.steps:
            self.failed.append(f"the driver stopped before any step: {c.error}")
            return
        self.capacity = c
        for msg in c.problems:
            self.reason("results", msg)
        if c.error:
            self.reason("results", f"the driver stopped with an error after {len(c.steps)} steps: {c.error}")
        slo, slo_err = c.slo_p99_ms, c.slo_error_pct
        objective = (
            f"p99 <= {slo:g} ms, errors <= {slo_err:g} %" if slo is not None and slo_err is not None else "?"
        )
        if c.status == "none" and c.steps:
            low = min(c.steps, key=lambda s: s.rate)
            self.reason(
                "results",
                f"no rate tried met the objective ({objective}): the lowest tried, {low.rate:g}/s, had p99 "
                f"{low.p99} ms and {low.error_pct:.3g} % errors ({low.why})",
            )
        elif c.status == "censored":
            self.warn(
                "capacity",
                f"every rate tried met the objective, up to max_rate {c.capacity:g}/s: the capacity is at least "
                "that (censored; raise max_rate to measure it)",
            )
        if c.inconsistent_failures:
            self.warn(
                "capacity",
                f"rates below the capacity {c.capacity:g}/s failed ({', '.join(f'{r:g}/s' for r in c.inconsistent_failures)}): "
                "the search rests on noisy steps",
            )
        miss = self.thresholds["driver_rate_miss_pct"]
        step = c.capacity_step
        if step is not None:
            self.rate = c.capacity
            off = step.rate_miss_pct()
            if off is not None and off > miss:
                self.client_bound_reasons.append(
                    f"at the capacity step the driver sent {step.achieved_rate:g}/s of the {step.rate:g}/s "
                    f"asked ({off:.1f} % off, limit {miss:g} %): it could not hold the rate"
                )
        check = c.driver_check
        if c.capacity is not None and check is None:
            who = f" ({', '.join(c.missing_check)})" if c.clients and c.missing_check else ""
            self.client_bound_reasons.append(
                f"no driver check{who}: the driver alone against nginx's /whiskey/ping at {c.capacity:g}/s was not "
                "measured, so what it adds itself is unknown"
            )
        elif check is not None:
            fraction = self.thresholds["driver_p99_fraction"]
            if slo is not None and check.p99 is not None and check.p99 > fraction * slo:
                self.client_bound_reasons.append(
                    f"the driver itself adds p99 {check.p99:g} ms at {check.rate:g}/s against nginx's ping, over "
                    f"{'a tenth' if fraction == 0.1 else f'{fraction:g}'} of the objective ({fraction * slo:g} ms)"
                )
            off = check.rate_miss_pct()
            if off is not None and off > miss:
                self.client_bound_reasons.append(
                    f"against nginx's ping the driver sent {check.achieved_rate:g}/s of the {check.rate:g}/s "
                    f"asked ({off:.1f} % off, limit {miss:g} %): it cannot deliver the capacity's rate"
                )
            elif off is None:
                self.warn(
                    "client", "the driver check has no achieved rate: whether it held the rate is unknown"
                )
        cross = c.cross_check
        if cross is not None and cross.get("agree") is False:
            # A closed loop at the same throughput should see the same median below the knee; when it does not,
            # one of the two drivers measures something else (evidence, not a rule: the models differ by nature).
            self.warn("cross-check", f"wrk disagrees with the open-model driver: {cross.get('why')}")
        # The driver's CPU is evidence, as in the seed profile: the open model's rate is what it promised.
        for msg in self._driver_cpu():
            self.warn("client", msg)
        for msg in self.client_bound_reasons:
            self.reason("client", msg)

    def _capacity_fields(self) -> dict:
        c = self.capacity
        if c is None:
            return {"rate_rps": None, "error_pct": None, "requests": None, "failures": None, "window_s": None}
        step = c.capacity_step
        loads = [_num(doc.get("measured_wall_s")) for _, doc in self._driver_docs]
        loads = [x for x in loads if x is not None]
        if not loads:
            loads = [
                sum(s.seconds or 0.0 for s in c.steps)
                + ((c.driver_check.seconds or 0.0) if c.driver_check else 0)
            ]
        check = c.driver_check
        return {
            "rate_rps": c.capacity,
            "error_pct": None if step is None else round(step.error_pct, 4),
            "requests": None if step is None else step.planned,
            "failures": None if step is None else step.errors + step.unanswered,
            "window_s": None
            if step is None or step.start_epoch is None or step.end_epoch is None
            else round(step.end_epoch - step.start_epoch, 3),
            "load_s": round(max(loads), 3),
            "capacity": {
                "capacity": c.capacity,
                "lower": c.lower,
                "upper": c.upper,
                "status": c.status,
                "text": c.text,
                "slo_p99_ms": c.slo_p99_ms,
                "slo_error_pct": c.slo_error_pct,
                "max_rate": c.max_rate,
                "clients": len(c.clients) or 1,
                "steps": len(c.steps),
                "latency_ms": step.latency_ms if step else None,
                "window": None
                if step is None
                else {"start_epoch": step.start_epoch, "end_epoch": step.end_epoch},
                "driver_check": None
                if check is None
                else {"rate": check.rate, "achieved_rate": check.achieved_rate, "p99_ms": check.p99},
                "cross_check": c.cross_check,
            },
        }

    def _calibrations(self) -> dict[str, dict]:
        cal = self.ctx.get("calibration")
        if not isinstance(cal, dict):
            return {}
        clients = self._strings("clients")
        out = {k: v for k, v in cal.items() if isinstance(v, dict)}
        if clients and any(c in out for c in clients):
            out = {k: v for k, v in out.items() if k in clients}
        return out

    @staticmethod
    def _calibration_noise(entries: list[tuple[str, dict]]) -> float:
        """3 standard errors of the calibrations' summed rate, from their request counts and seconds (0 unknown)."""
        total = 0.0
        for _, c in entries:
            requests, seconds = _num(c.get("requests")), _num(c.get("seconds"))
            if requests is None or not seconds:
                return 0.0
            total += requests / seconds**2
        return 3.0 * math.sqrt(total)

    def _client_seed(self) -> None:
        m = self.measurements[0]
        entries = [
            (host, c)
            for host, c in self._calibrations().items()
            if c.get("mode") == "seed" and _num(c.get("p50_ms")) is not None
        ]
        if not entries:
            errors = [
                f"{host}: {_line(c['error'])}" for host, c in self._calibrations().items() if c.get("error")
            ]
            self.warn(
                "client",
                "no seed calibration (the clients' own latency at this load against /whiskey/ping"
                + (f"; it failed: {'; '.join(errors)}" if errors else "")
                + "): whether the client distorted the run was not checked",
            )
        else:
            own = max(_num(c["p50_ms"]) for _, c in entries)
            limit = self.thresholds["client_overhead_pct"]
            if m.p50 is None or m.p50 <= 0:
                self.warn("client", "the run has no median latency: the client's overhead was not compared")
            else:
                share = 100.0 * own / m.p50
                if share > limit:
                    self.client_bound_reasons.append(
                        f"client adds {own:.1f} ms of the {m.p50:.1f} ms median measured "
                        f"({share:.0f} %, limit {limit:g} %)"
                    )
            rates = [_num(c.get("rps")) for _, c in entries]
            ratio = self.thresholds["client_min_rate_ratio"]
            if all(r is not None for r in rates) and m.rps > 0:
                cal_rate = sum(rates)
                # A short calibration counts few requests: its rate is short only beyond 3 standard errors of
                # that count (Poisson; think-time arrivals are more regular, so this errs on the side of valid).
                noise = self._calibration_noise(entries)
                if cal_rate + noise < ratio * m.rps:
                    users = sum(int(_num(c.get("users")) or 0) for _, c in entries)
                    margin = f" (± {noise:.1f})" if noise else ""
                    self.client_bound_reasons.append(
                        f"the client reached only {cal_rate:.1f}{margin} req/s against /whiskey/ping with the same "
                        f"{users} users, below {ratio:g} × the run's {m.rps:.1f} req/s: it could not deliver "
                        "the load"
                    )
            users = sum(int(_num(c.get("users")) or 0) for _, c in entries)
            if users and self.max_users and int(self.max_users) != users:
                self.warn(
                    "client",
                    f"the seed calibration ran {users} users, the run {int(self.max_users)}: "
                    "its overhead is not the run's",
                )
        # The driver's CPU is evidence, not a rule, in the seed profile (the users' pace sets the load).
        for msg in self._driver_cpu():
            self.warn("client", msg)
        for msg in self.client_bound_reasons:
            self.reason("client", msg)

    def _client_throughput(self) -> None:
        ratio = self.thresholds["client_bound_ratio"]
        rate = self.rate or 0.0
        cal = self._calibrations()
        ceiling = sum(_num(c.get("rps")) or 0.0 for c in cal.values())
        if ceiling <= 0:
            errors = [f"{host}: {_line(c['error'])}" for host, c in cal.items() if c.get("error")]
            self.warn(
                "client",
                "no calibrated ceiling for the clients"
                + (f" (the calibration failed: {'; '.join(errors)})" if errors else "")
                + ": the run's rate was not compared with what they can do",
            )
        elif rate > ratio * ceiling:
            self.client_bound_reasons.append(
                f"rate {rate:.0f} req/s is {rate / ceiling:.0%} of the clients' calibrated ceiling "
                f"{ceiling:.0f} req/s (limit {ratio:.0%})"
            )
        self.client_bound_reasons += self._driver_cpu()
        for msg in self.client_bound_reasons:
            self.reason("client", msg)

    def _driver_json(self) -> None:
        for folder in self.client_dirs:
            p = folder / "driver.json"
            if not p.is_file():
                continue
            try:
                doc = _read_json(p)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                where = p.relative_to(self.run_dir) if p.is_relative_to(self.run_dir) else p
                self.warn("results", f"unreadable {where}: {exc}")
                continue
            self._driver_docs.append((folder, doc))
            for r in doc.get("runs") or []:
                if isinstance(r, dict) and r.get("recorded") and isinstance(r.get("exit_code"), int):
                    self.exit_codes.append(r["exit_code"])

    def _driver_cpu(self) -> list[str]:
        """whiskey_load.assess's CPU evidence: driver.json's cpu_per_process and client telemetry."""
        out = []
        limit = self.thresholds["client_bound_cpu"]
        for folder, doc in self._driver_docs:
            per_process = _num(doc.get("cpu_per_process")) or 0.0
            if per_process >= limit:
                who = folder.name if folder.parent.name == "clients" else "client"
                out.append(
                    f"{who}: load driver used {per_process:.2f} of a core per process "
                    f"({doc.get('processes')} processes, limit {limit:.2f})"
                )
        cores_by_host = self.ctx.get("client_cores") if isinstance(self.ctx.get("client_cores"), dict) else {}
        cal = self._calibrations()
        for telemetry in sorted(self.run_dir.glob("telemetry-client-*.json")):
            host = telemetry.name[len("telemetry-client-") : -len(".json")]
            used = telemetry_driver_cores(telemetry, _num(cores_by_host.get(host)))
            procs = max(1, int(_num((cal.get(host) or {}).get("processes")) or 1))
            if used is not None and used / procs >= limit:
                out.append(
                    f"{host}: telemetry shows the load driver at {used / procs:.2f} of a core per "
                    f"process (limit {limit:.2f})"
                )
        return out

    def _telemetry(self) -> None:
        p = self.run_dir / "telemetry-server.json"
        if not p.exists():
            self.warn("telemetry", NO_SERVER_TELEMETRY)
            return
        try:
            tel = read_telemetry(p, "server")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            self.warn("telemetry", f"unreadable telemetry-server.json: {exc}")
            return
        if not tel.times:
            self.warn("telemetry", "telemetry-server.json holds no samples")
            return
        self.telemetry_ok = not self._strings("telemetry_errors")

    # ------------------------------------------------------------ probes

    def _probe(self, when: str) -> dict | None:
        p = self.run_dir / f"probe-{when}.json"
        if not p.exists():
            self.warn(
                "probe",
                f"no probe-{when}.json: the backends, the app's answers and the server's processes were not "
                f"checked {when} the run",
            )
            return None
        try:
            doc = _read_json(p)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            self.reason("results", f"unreadable probe-{when}.json: {exc}")
            self.probes[when] = {"error": f"unreadable: {exc}"}
            return None
        self.probes[when] = probe_summary(doc)
        return doc

    def _probes(self, before: dict | None, after: dict | None) -> None:
        for when, doc in (("before", before), ("after", after)):
            if doc is None:
                continue
            for kind, section, problem in probe_checks(doc):
                if problem == "":
                    what = "the backend was" if kind == "backend" else "the app's answers were"
                    self.warn("probe", f"probe-{when}.json has no {section} section: {what} not checked")
                elif problem:
                    self.reason(kind, f"{when} the run: {problem}")
        reasons, warns = process_problems(before, after)
        for msg in reasons:
            self.reason("processes", msg)
        for msg in warns:
            self.warn("probe", msg)
        for when, doc in (("before", before), ("after", after)):
            if doc is not None and _section(doc, "program") is None and _pids(doc) is None:
                self.warn("probe", f"probe-{when}.json has no program or processes: they were not checked")

    # ------------------------------------------------------------ the document

    def document(self) -> dict:
        ctx = self.ctx
        verdict = "failed" if self.failed else ("invalid" if self.reasons else "valid")
        reasons = [{"kind": "failed", "message": e} for e in self.failed] if self.failed else self.reasons
        m = self.measurements
        requests = sum(x.requests for x in m) if m else None
        failures = sum(x.failures for x in m) if m else None
        error_pct = None
        if m:
            # The worst level's (throughput) or the window's (seed) share of failed requests.
            shares = [100.0 * x.failures / x.requests for x in m if x.requests > 0]
            error_pct = round(max(shares), 4) if shares else None
        fingerprint = ctx.get("fingerprint")
        doc = {
            "status": verdict,
            "verdict": verdict,
            "reasons": reasons,
            "warnings": self.warnings,
        }
        for key in RUN_ATTRIBUTES:
            doc[key] = self._from_path(key) if key in ("workers", "scenario", "repeat") else ctx.get(key)
        doc["profile"] = self.profile
        if doc["clients"] is None:
            doc["clients"] = []
        doc.update(
            {
                "stats_reset": bool(ctx.get("stats_reset")),
                "concurrency": ctx.get("concurrency"),
                "level_time_s": ctx.get("level_time_s"),
                "client_bound": bool(self.client_bound_reasons),
                "client_bound_reasons": self.client_bound_reasons,
                "rate_rps": None if self.rate is None else round(self.rate, 3),
                "error_pct": error_pct,
                "requests": requests,
                "failures": failures,
                "window_s": round(sum(x.window_s for x in m), 3) if m else None,
                "percentiles_estimated": any(x.percentiles_estimated for x in m) if m else None,
                "driver_exit_codes": self.exit_codes,
                # Locust exits 1 when requests failed: recorded, the errors check decides.
                "driver_reported_failures": any(code == 1 for code in self.exit_codes),
                "telemetry_ok": self.telemetry_ok,
                "telemetry_errors": self._strings("telemetry_errors"),
                "error": "; ".join(self.failed) if self.failed else None,
                "fingerprint": fingerprint if isinstance(fingerprint, dict) else None,
                "probe": self.probes,
                "thresholds": self.thresholds,
                "judged_by": f"whiskey-report {__version__}",
            }
        )
        if self.profile == "capacity":
            fields = self._capacity_fields()
            fields["percentiles_estimated"] = False if self.capacity else None
            doc.update(fields)
        return doc


def telemetry_driver_cores(path: Path, host_cores: float | None) -> float | None:
    """Mean CPU of the load driver's processes while they ran, in cores, from a client telemetry file (None when
    the file has no per-process data, as with cmonitor_collector's own format). As whiskey_load.py's."""
    try:
        doc = _read_json(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    procs = [
        s["whiskey_processes"]
        for s in doc.get("samples") or []
        if isinstance(s, dict) and isinstance(s.get("whiskey_processes"), dict)
    ]
    active = [p for p in procs if p.get("count")]
    if not active:
        return None
    if all(_num(p.get("cpu_cores")) is not None for p in active):
        return sum(_num(p["cpu_cores"]) for p in active) / len(active)
    if not host_cores:
        return None
    # results-format.md: CPU fields are percent of all CPUs the host sees.
    return sum(_num(p.get("cpu_percent")) or 0.0 for p in active) / len(active) / 100.0 * host_cores


def _section(doc: dict | None, key: str) -> dict | None:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else None


def _line(text, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


def backend_checks(doc: dict) -> list[tuple[str, str | None]]:
    """(backend, problem) of every backend a probe document covers: the names of its "backends" list (the app's
    backends, each a section under its name; none for an app without backends), else (a probe of an older
    whiskey) its "elasticsearch" section. problem: None healthy, "" not checked (no section), else what was
    wrong."""
    names = doc.get("backends")
    names = [str(n) for n in names] if isinstance(names, list) else ["elasticsearch"]
    return [(name, _backend_problem(name, _section(doc, name))) for name in names]


def _backend_problem(name: str, section: dict | None) -> str | None:
    if section is None:
        return ""
    status, error = section.get("status"), section.get("error")
    if "ok" in section:
        healthy = section["ok"] is True
    else:  # a hand-written section: Elasticsearch's cluster health, or an http backend's status
        healthy = not error and (str(status).lower() in HEALTHY_ES or _is_2xx(status))
    if healthy:
        return None
    if name == "elasticsearch":  # the quote server's Elasticsearch
        if error:
            return f"Elasticsearch was not healthy ({_line(error)})"
        return f"Elasticsearch's cluster health was {status!r} (healthy: {' or '.join(HEALTHY_ES)})"
    return f"backend {name} was not healthy ({_line(error or f'status {status!r}')})"


def backend_problem(doc: dict) -> str | None:
    """None: every backend healthy (also for an app without backends); "": not checked (a section is missing);
    else what was wrong."""
    found = backend_checks(doc)
    bad = [problem for _, problem in found if problem]
    if bad:
        return "; ".join(bad)
    return "" if any(problem == "" for _, problem in found) else None


def _is_2xx(code) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and 200 <= code < 300


def _answer_problem(what: str, check: dict, wanted: str, good, but: str) -> str:
    """One line for a failed check of `what`: no answer, a status other than `wanted`, or a good status that
    failed the check (`but`)."""
    code, error = check.get("status"), check.get("error")
    if code is None:
        return f"{what} got no answer ({_line(error or 'no error given', 160)})"
    if not good(code):
        return f"{what} answered {code}, not {wanted}" + (f" ({_line(error, 160)})" if error else "")
    return f"{what} answered {code} but {but} ({_line(error or 'no error given', 160)})"


def health_problem(doc: dict) -> str | None:
    """None: the app's health path answered 200, or was not probed (null or no section: the probe was not given
    one, or is older); else what failed."""
    health = _section(doc, "health")
    if health is None or health.get("ok") is True:
        return None
    what = f"the health path {health.get('path') or '?'}"
    return _answer_problem(what, health, "200", lambda code: code == 200, "its answer could not be read")


def request_problem(doc: dict) -> str | None:
    """None: every answer check passed; "": not checked (no request section); else what failed. A check with a
    "path" (--check: the app's request answers 2xx) is named by its path; one with an "id" (--verify quotes: the
    quote server answers 200 with the quote Elasticsearch holds) by /quotes/byId?id=N. No check at all is a
    problem: nothing then tells that the app answers."""
    req = _section(doc, "request")
    if req is None:
        return ""
    checks = [c for c in req.get("checks") or [] if isinstance(c, dict)]
    if not checks:
        return "the probe checked none of the app's answers (no check in its request section)"
    bad = []
    for c in checks:
        if c.get("ok") is True:
            continue
        if "path" in c:
            bad.append(_answer_problem(str(c["path"]), c, "2xx", _is_2xx, "its answer could not be read"))
        else:
            what = f"/quotes/byId?id={c.get('id')}"
            bad.append(_answer_problem(what, c, "200", lambda code: code == 200, "not with its quote"))
    if not bad and req.get("ok") is False:
        bad.append("the probe's request check failed")
    return "; ".join(bad) if bad else None


def probe_checks(doc: dict) -> list[tuple[str, str, str | None]]:
    """(reason kind, section, problem) of every check of one probe document, in order: each backend, the app's
    health path, its answer checks. problem: None fine, "" not checked (no section), else the message."""
    out: list[tuple[str, str, str | None]] = [("backend", name, p) for name, p in backend_checks(doc)]
    return [*out, ("request", "health", health_problem(doc)), ("request", "request", request_problem(doc))]


def _pids(doc: dict | None) -> set[int] | None:
    procs = doc.get("processes") if isinstance(doc, dict) else None
    if isinstance(procs, dict):
        procs = procs.get("pids")
    if not isinstance(procs, list):
        return None
    out = set()
    for p in procs:
        pid = p.get("pid") if isinstance(p, dict) else p
        if isinstance(pid, int) and not isinstance(pid, bool):
            out.add(pid)
        elif isinstance(pid, str) and pid.isdigit():
            out.add(int(pid))
    return out


def process_problems(before: dict | None, after: dict | None) -> tuple[list[str], list[str]]:
    """(reasons, warnings) from the supervisor program and the process lists of the two probes."""
    reasons, warns = [], []
    pb_, pa_ = _section(before, "program"), _section(after, "program")
    name = (pa_ or pb_ or {}).get("name") or "the scenario's program"
    for when, prog in (("before", pb_), ("after", pa_)):
        if prog is None:
            continue
        state = prog.get("state")
        if state is None:
            warns.append(
                f"{when} the run supervisor could not tell {name}'s state ({_line(prog.get('error') or '?')})"
            )
        elif str(state).upper() != "RUNNING":
            reasons.append(f"supervisor says {name} was {state} {when} the run, not RUNNING")
    pid_b = (pb_ or {}).get("pid")
    pid_a = (pa_ or {}).get("pid")
    before_pids, after_pids = _pids(before), _pids(after)
    counts = ""
    if before_pids is not None and after_pids is not None:
        counts = f"; {len(before_pids)} processes before, {len(after_pids)} after"
    restarted = bool(pid_b and pid_a and pid_b != pid_a)
    if restarted:
        reasons.append(f"{name} restarted during the run (supervisor pid {pid_b} -> {pid_a}{counts})")
    if before_pids and after_pids is not None and not restarted:
        died = sorted(before_pids - after_pids)
        new = sorted(after_pids - before_pids)
        if died:
            shown = ", ".join(str(p) for p in died[:8]) + (", ..." if len(died) > 8 else "")
            reasons.append(
                f"{len(died)} of {len(before_pids)} server processes died during the run (pids {shown}); "
                f"{len(new)} new ones replaced them"
            )
    return reasons, warns


def probe_summary(doc: dict) -> dict:
    es = _section(doc, "elasticsearch") or {}
    prog = _section(doc, "program") or {}
    req = _section(doc, "request") or {}
    pids = _pids(doc)
    es_problem = _backend_problem("elasticsearch", _section(doc, "elasticsearch"))
    request = request_problem(doc)
    return {
        "at": doc.get("at"),
        "elasticsearch": es.get("status") if es else None,
        "elasticsearch_ok": None if es_problem == "" else es_problem is None,
        "backends": {name: None if p == "" else p is None for name, p in backend_checks(doc)},
        "health_ok": None if _section(doc, "health") is None else health_problem(doc) is None,
        "request_ok": None if request == "" else request is None,
        "request_status": [c.get("status") for c in req.get("checks") or [] if isinstance(c, dict)],
        "program_state": prog.get("state"),
        "program_pid": prog.get("pid"),
        "processes": None if pids is None else len(pids),
    }


def judge(run_dir: Path, context: dict) -> dict:
    """The complete status.json document of RUN_DIR, given the loop's context (see the module docstring)."""
    j = _Judgement(Path(run_dir), context)
    try:
        j.run()
    except Exception as exc:
        # Never a traceback for the loop: whatever could not be read or judged is a reason.
        j.reason("results", f"the results could not be judged: {type(exc).__name__}: {exc}")
    return j.document()


def read_context(path: Path | str) -> tuple[dict, str | None]:
    """CONTEXT.json ('-': standard input) -> (context, problem); an unreadable one is ({}, why)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return {}, f"cannot read the context {path}: {exc}"
    if not isinstance(doc, dict):
        return {}, f"the context {path} is not a JSON object"
    return doc, None


def write_inputs(run_dir: Path, context: dict) -> dict:
    """Keep what the loop handed over in RUN_DIR: probe-<when>.json of context["probes"], and context.json (the
    context without its probes). Returns the context without its probes."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # a run that failed before anything was fetched
    probes = context.get("probes") if isinstance(context.get("probes"), dict) else {}
    for when in ("before", "after"):
        if isinstance(probes.get(when), dict):
            (run_dir / f"probe-{when}.json").write_text(
                json.dumps(probes[when], indent=1) + "\n", encoding="utf-8"
            )
    rest = {k: v for k, v in context.items() if k != "probes"}
    (run_dir / "context.json").write_text(json.dumps(rest, indent=1) + "\n", encoding="utf-8")
    return rest


def write_status(run_dir: Path, doc: dict) -> Path:
    """Write RUN_DIR/status.json atomically: a temporary file in RUN_DIR, then a rename over the old one."""
    run_dir = Path(run_dir)
    fd, tmp = tempfile.mkstemp(prefix=".status.", suffix=".json.tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(doc) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, run_dir / "status.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return run_dir / "status.json"


def dumps(doc: dict) -> str:
    """JSON text of a status document (NaN and infinities, which JSON has not, become null)."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(doc), indent=1, default=str)
