"""The CI and significance math on numbers worked out by hand."""

import math

import pytest

from whiskey_report.stats import cis_overlap, mean_ci, welch


def test_mean_ci_three_values():
    ci = mean_ci([10.0, 12.0, 14.0])
    # mean 12, sample SD 2, t(0.975, df=2) = 4.302653, half-width = 4.302653 * 2 / sqrt(3)
    assert ci.n == 3
    assert ci.mean == pytest.approx(12.0)
    assert ci.sd == pytest.approx(2.0)
    assert ci.half_width == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
    assert (ci.low, ci.high) == pytest.approx((12.0 - 4.968275, 12.0 + 4.968275), rel=1e-6)


def test_mean_ci_two_values_uses_t_with_one_df():
    ci = mean_ci([100.0, 110.0])
    # t(0.975, 1) = 12.7062; SD = 7.0711; half-width = 12.7062 * 7.0711 / sqrt(2) = 63.531
    assert ci.half_width == pytest.approx(63.531, rel=1e-4)


def test_mean_ci_single_and_empty():
    one = mean_ci([5.0])
    assert one.mean == 5.0 and one.half_width is None and one.low is None
    assert mean_ci([]).mean is None
    assert mean_ci([None, 4.0, float("nan"), 6.0]).mean == 5.0


def test_welch_known_values():
    # means 2.5 and 4.5, both variances 5/3, n=4: t = -2 / sqrt(2 * (5/3) / 4) = -2.19089, df = 6
    w = welch([1, 2, 3, 4], [3, 4, 5, 6])
    assert w.t == pytest.approx(-2.190890, rel=1e-5)
    assert w.p == pytest.approx(0.07095, abs=2e-4)
    assert w.significant is False


def test_welch_significant_and_untestable():
    assert welch([10, 11, 10.5], [20, 21, 20.5]).significant is True
    assert welch([10], [20, 21]).significant is None
    exact = welch([3, 3], [4, 4])
    assert exact.significant is True and exact.p == 0.0


def test_ci_overlap():
    assert cis_overlap(mean_ci([10, 12, 14]), mean_ci([13, 15, 17])) is True
    assert cis_overlap(mean_ci([10, 10.1, 9.9]), mean_ci([20, 20.1, 19.9])) is False
    assert cis_overlap(mean_ci([10]), mean_ci([20, 21])) is None
