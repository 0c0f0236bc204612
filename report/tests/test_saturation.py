"""A closed loop the server throttled is named: when more than a tenth of the users wait for an answer at any
moment (Little's law on the summary's own numbers), each setup faced a different load and the ranking by average
latency is queueing. Real runs: fixture-a (Locust, 20 users, one or two workers behind a slow backend), lab-w6 (the
lab at 500 users, an early run whose servers were overloaded), fixture-t (the throughput profile)."""

import json
import shutil
from pathlib import Path

import pytest

from whiskey_report.findings import SATURATED_WAITING, waiting_share
from whiskey_report.report import analyse

DATA = Path(__file__).parent / "data" / "runs"


def _saturation(report) -> list[str]:
    return [w for w in report.warnings if w.startswith("saturated closed loop")]


def _headlines(report) -> list[str]:
    return [f.text for f in report.findings if f.kind == "headline"]


def test_a_throttled_loop_is_named_with_each_setups_share_and_the_headline_says_so(run_a):
    report = analyse(run_a)
    users = report.runset.meta["variables"]["users"]
    shares = {r.label: waiting_share(r, users) for r in report.rows}
    # Little's law on the rows themselves: requests/s x average latency (s) / users
    for row in report.rows:
        assert shares[row.label] == pytest.approx(row.value("rps") * row.value("avg") / 1000 / users)
    assert all(s > SATURATED_WAITING for s in shares.values()), shares
    [warning] = _saturation(report)
    assert "(every setup:" in warning and f"of the {users} users" in warning
    for row in report.rows:
        assert f"{row.label} {100 * shares[row.label]:.0f} % waiting" in warning
    assert "load_profile=capacity" in warning
    heads = _headlines(report)
    assert heads and all("Every setup saturated the server" in h for h in heads), heads


def test_the_same_runs_with_enough_users_are_not_throttled(run_a, tmp_path):
    """The threshold is on the share, not on the latency: the same numbers over 100 times as many users (each
    waiting share under 1 %) are an unthrottled loop — no warning, a plain headline."""
    root = tmp_path / "fixture-a"
    shutil.copytree(run_a, root)
    meta = json.loads((root / "run.json").read_text())
    meta["variables"]["users"] = 2000
    (root / "run.json").write_text(json.dumps(meta))
    report = analyse(root)
    assert all(waiting_share(r, 2000) < 0.01 for r in report.rows)
    assert _saturation(report) == []
    assert not any("saturated" in h for h in _headlines(report))


def test_only_the_throttled_setups_are_named_and_the_headline_stays_plain():
    report = analyse(DATA / "lab-w6")
    users = report.runset.meta["variables"]["users"]
    over = [r for r in report.rows if waiting_share(r, users) > SATURATED_WAITING]
    under = [r for r in report.rows if waiting_share(r, users) <= SATURATED_WAITING]
    assert over and under  # this run has both
    [warning] = _saturation(report)
    assert f"({len(over)} of {len(report.rows)} setups:" in warning

    def named(r) -> bool:  # "werkzeug (workers=6)" is also the tail of "nginx-werkzeug (workers=6)"
        return any(f"{sep}{r.label} " in warning for sep in (": ", ", "))

    assert all(named(r) for r in over)
    assert not any(named(r) for r in under)
    assert not any("saturated" in h for h in _headlines(report))


def test_the_throughput_profile_and_a_run_without_users_are_not_judged(run_t, run_a, tmp_path):
    """wrk's connections have no think time (every one always waits, by design); a run.json without `users`
    cannot be judged: neither gets the warning."""
    assert _saturation(analyse(run_t)) == []
    root = tmp_path / "no-users"
    shutil.copytree(run_a, root)
    meta = json.loads((root / "run.json").read_text())
    del meta["variables"]["users"]
    (root / "run.json").write_text(json.dumps(meta))
    assert _saturation(analyse(root)) == []
