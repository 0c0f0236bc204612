"""Small statistics: mean with a Student-t 95 % confidence interval, and Welch's t-test."""

import math
from dataclasses import dataclass

from scipy import stats as _st


@dataclass(frozen=True)
class MeanCI:
    """Mean of n values and the half-width of its 95 % confidence interval (None when n < 2)."""

    n: int
    mean: float | None
    half_width: float | None
    sd: float | None

    @property
    def low(self) -> float | None:
        return None if self.mean is None or self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.mean is None or self.half_width is None else self.mean + self.half_width


def mean_ci(values, confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval: mean ± t(1-(1-c)/2, n-1) · s / √n, s the sample SD."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return MeanCI(0, None, None, None)
    mean = sum(vals) / n
    if n < 2:
        return MeanCI(1, mean, None, None)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    t = float(_st.t.ppf(1 - (1 - confidence) / 2, n - 1))
    return MeanCI(n, mean, t * sd / math.sqrt(n), sd)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of two samples; p is None when it cannot be computed."""

    t: float | None
    p: float | None
    significant: bool | None
    reason: str


def welch(a, b, alpha: float = 0.05) -> Welch:
    """Two-sided Welch's t-test of the means of a and b (each needs >= 2 values)."""
    a = [float(v) for v in a if v is not None]
    b = [float(v) for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return Welch(None, None, None, "needs >= 2 repeats on both sides")
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    if max(a) == min(a) and max(b) == min(b):
        # No spread at all: the difference is exact (or there is none).
        return Welch(None, 0.0 if ma != mb else 1.0, ma != mb, "no variance in either sample")
    res = _st.ttest_ind(a, b, equal_var=False)
    p = float(res.pvalue)
    return Welch(float(res.statistic), p, p < alpha, f"Welch's t-test p={p:.3g}")


def cis_overlap(x: MeanCI, y: MeanCI) -> bool | None:
    """Whether two confidence intervals overlap (None when either has no interval)."""
    if x.low is None or y.low is None:
        return None
    return not (x.high < y.low or y.high < x.low)
