"""Statistics over seeds: mean ± std, a 95 % bootstrap confidence interval, and tests.

The bootstrap is SciPy's (``scipy.stats.bootstrap``, percentile method, a fixed
random state so reports are reproducible); the two-sample test is the
Mann-Whitney U test (``scipy.stats.mannwhitneyu``, exact for small samples).
With few seeds both are coarse: with 3 seeds a side, the smallest two-sided
Mann-Whitney p-value is 0.1, so no difference can be called significant at 5 %;
:func:`min_p_value` says so, and reports print it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 2000
RANDOM_STATE = 0


@dataclass
class Summary:
    """Mean, std (ddof=1), bootstrap CI of the mean, and the count of finite values."""

    n: int
    mean: float
    std: float
    ci_lo: float
    ci_hi: float


def finite(values: Sequence[Optional[float]]) -> np.ndarray:
    x = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return x[np.isfinite(x)]


def bootstrap_ci(values: Sequence[float], confidence: float = CONFIDENCE,
                 n_resamples: int = N_RESAMPLES, random_state: int = RANDOM_STATE):
    """Percentile bootstrap CI of the mean; (nan, nan) with fewer than 2 values."""
    from scipy.stats import bootstrap

    x = finite(values)
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                    method="percentile", random_state=np.random.default_rng(random_state),
                    vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(values: Sequence[Optional[float]]) -> Summary:
    x = finite(values)
    if x.size == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    lo, hi = bootstrap_ci(x)
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return Summary(int(x.size), float(x.mean()), std, lo, hi)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; nan when a side has no finite value."""
    from scipy.stats import mannwhitneyu

    x, y = finite(a), finite(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    if np.all(x == x[0]) and np.all(y == y[0]):
        return 1.0 if x[0] == y[0] else min_p_value(x.size, y.size)
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def min_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value attainable with these sample sizes."""
    if n_a == 0 or n_b == 0:
        return math.nan
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES, random_state: int = RANDOM_STATE):
    """Percentile bootstrap CI of mean(b) − mean(a), resampling each side independently."""
    from scipy.stats import bootstrap

    x, y = finite(a), finite(b)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]) and np.all(y == y[0]):
        d = float(y[0] - x[0])
        return d, d
    res = bootstrap((x, y), lambda u, v, axis=-1: np.mean(v, axis=axis) - np.mean(u, axis=axis),
                    confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    random_state=np.random.default_rng(random_state), vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def significance_mark(p: float) -> str:
    """'**' for p < 0.01, '*' for p < 0.05, '' otherwise."""
    if p is None or not math.isfinite(p):
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""
