"""A machine that drifts between repeats: each capacity relative to its repeat's level (summary.repeat_levels), and
the warning that says the CVs measure the machine (findings.capacity_drift)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from whiskey_report.findings import capacity_drift, capacity_findings
from whiskey_report.stats import cis_overlap, mean_ci
from whiskey_report.summary import CapacityRow, capacity_cells, repeat_levels
from whiskey_report.summary import attach_relative as attach


def row(scenario: str, caps: dict[int, float], workers: int = 6) -> CapacityRow:
    runs = [SimpleNamespace(repeat=r) for r in caps]
    values = list(caps.values())
    return CapacityRow(
        workers, scenario, scenario, "direct", None, runs, len(runs), values, mean_ci(values), False, 100.0,
        0.1, mean_ci([]),
    )  # fmt: skip


def test_a_machine_that_halves_moves_every_setup_and_the_ratio_stays():
    a = row("gunicorn", {1: 400.0, 2: 300.0, 3: 200.0})
    b = row("waitress", {1: 200.0, 2: 150.0, 3: 100.0})
    attach([a, b])
    level = repeat_levels([a, b])[6]
    assert level == {1: pytest.approx(282.84, abs=0.01), 2: pytest.approx(212.13, abs=0.01),
                     3: pytest.approx(141.42, abs=0.01)}  # fmt: skip
    assert a.cv == pytest.approx(1 / 3)  # the raw CV is the machine's
    assert a.relative.mean == pytest.approx(2**0.5) and a.relative_cv == pytest.approx(0.0, abs=1e-12)
    assert b.relative.mean == pytest.approx(2**-0.5)
    assert "1.414 (0.0%)" in capacity_cells(a)
    (warning,) = capacity_drift([a, b])
    assert "workers=6" in warning and "283, 212, 141 req/s in repeats 1, 2, 3" in warning
    assert "-50 %" in warning and "'relative' column" in warning
    assert a.as_dict()["capacity_relative"] == pytest.approx(1.4142, abs=1e-4)


def test_a_steady_machine_is_not_called_drifting():
    rows = attach(
        [row("gunicorn", {1: 400.0, 2: 410.0, 3: 405.0}), row("waitress", {1: 200.0, 2: 198.0, 3: 202.0})]
    )
    assert capacity_drift(rows) == []
    assert rows[0].relative is not None and rows[0].relative_cv < 0.02


def test_only_repeats_every_scenario_has_are_levels():
    a = row("gunicorn", {1: 400.0, 2: 300.0, 3: 200.0})
    b = row("waitress", {1: 200.0, 2: 150.0})  # its repeat 3 was not valid
    attach([a, b])
    assert sorted(repeat_levels([a, b])[6]) == [1, 2]
    assert a.relative.n == 2 and b.relative.n == 2


def test_one_complete_repeat_gives_no_level_and_no_warning():
    a = row("gunicorn", {1: 400.0, 2: 300.0})
    b = row("waitress", {1: 200.0, 3: 100.0})
    attach([a, b])
    assert repeat_levels([a, b]) == {} and capacity_drift([a, b]) == []
    assert a.relative is None and capacity_cells(a)[6] == "-"
    # one scenario alone has no other to be relative to
    assert repeat_levels([row("gunicorn", {1: 400.0, 2: 200.0})]) == {}


def test_after_a_drift_the_sentence_compares_within_each_repeat():
    a = row("gunicorn", {1: 400.0, 2: 300.0, 3: 200.0})
    b = row("waitress", {1: 200.0, 2: 150.0, 3: 100.0})
    attach([a, b])
    assert cis_overlap(a.ci, b.ci)  # by the raw capacities the two are within noise of each other...
    (headline,) = capacity_findings([a, b])
    text = headline.text
    # ...but in every repeat gunicorn served twice what waitress did: by the relative capacities it is not noise
    assert text.startswith("On this hardware (workers=6), gunicorn sustains the most: 300 req/s"), text
    assert "within noise of it: none" in text and "below it: waitress 150 req/s (relative 0.707" in text
    assert "The machine drifted between repeats" in text and "gunicorn 1.414" in text


def test_without_a_drift_the_sentence_compares_the_capacities():
    a = row("gunicorn", {1: 400.0, 2: 410.0, 3: 405.0})
    b = row("waitress", {1: 380.0, 2: 420.0, 3: 370.0})  # levels 390, 415, 387: within 10 %
    attach([a, b])
    assert capacity_drift([a, b]) == []
    (headline,) = capacity_findings([a, b])
    assert "relative" not in headline.text and "drifted" not in headline.text
    assert "within noise of it: waitress 390 req/s (95 % CI" in headline.text
