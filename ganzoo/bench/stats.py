"""Statistics over seeds: intervals of the mean, tests between variants, and ranks across
datasets. All of it is SciPy's; this module only chooses and names the methods.

- **Interval of the mean**: Student's t interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n). Its coverage is
  exact for normal seeds at any n ≥ 2, where the percentile bootstrap of a mean over 3 seeds
  is the seed range [min, max] and covers far less than 95 % (a test simulates both).
- **Two variants on one dataset**: Welch's t test (``scipy.stats.ttest_ind``, unequal
  variances), Holm-corrected across the comparisons of one table; effect size Hedges' g.
  The Mann-Whitney U test stays for ``ganzoo compare`` beside it, with :func:`min_p_value`
  saying when its sample can never reach 5 %.
- **Across variants and datasets**: the Friedman test over blocks (dataset, seed) of the
  variants' ranks, then the Nemenyi critical difference (Demšar 2006, JMLR 7:1-30; q from
  ``scipy.stats.studentized_range``): two variants differ when their mean ranks differ by
  more than CD.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 2000
RANDOM_STATE = 0


INTERVAL = "95 % t-interval of the mean"


@dataclass
class Summary:
    """Mean, std (ddof=1), 95 % t-interval of the mean, and the count of finite values."""

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


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE):
    """Student's t interval of the mean; (nan, nan) with fewer than 2 values."""
    from scipy.stats import t

    x = finite(values)
    if x.size < 2:
        return math.nan, math.nan
    half = float(t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    m = float(x.mean())
    return m - half, m + half


def summarize(values: Sequence[Optional[float]]) -> Summary:
    x = finite(values)
    if x.size == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    lo, hi = t_interval(x)
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


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value; nan with fewer than 2 values a side or no spread on both."""
    from scipy.stats import ttest_ind

    x, y = finite(a), finite(b)
    if x.size < 2 or y.size < 2:
        return math.nan
    if x.std() == 0 and y.std() == 0:  # no spread: the exact permutation p of two separated samples
        return 1.0 if x[0] == y[0] else min_p_value(x.size, y.size)
    with warnings.catch_warnings():  # nearly equal seeds: SciPy warns of precision loss, the p stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(x, y, equal_var=False).pvalue)


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Standardised mean difference (mean(b) − mean(a)) / pooled std, small-sample corrected."""
    x, y = finite(a), finite(b)
    if x.size < 2 or y.size < 2:
        return math.nan
    pooled = math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))
    if pooled == 0:
        return math.nan
    j = 1 - 3 / (4 * (x.size + y.size) - 9)
    return float(j * (y.mean() - x.mean()) / pooled)


def holm(pvalues: Sequence[float]) -> list:
    """Holm-adjusted p-values (nan stays nan), in the order given."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and math.isfinite(p)]
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (len(idx) - rank) * pvalues[i]))
        out[i] = running
    return out


@dataclass
class RankTest:
    """Friedman test and Nemenyi critical difference over ``blocks`` (rows) × variants (columns)."""

    names: list
    mean_ranks: list  # 1 = best
    blocks: int
    friedman_p: float
    cd: float  # Nemenyi critical difference of mean ranks at ``alpha``
    alpha: float

    def different(self, i: int, j: int) -> bool:
        return self.friedman_p < self.alpha and abs(self.mean_ranks[i] - self.mean_ranks[j]) > self.cd


def friedman_nemenyi(scores: np.ndarray, names: Sequence[str], higher_better: bool = True,
                     alpha: float = 0.05) -> Optional[RankTest]:
    """Rank the variants within each block (row of ``scores``; ties share their mean rank),
    then the Friedman test and the Nemenyi CD. None with fewer than 2 blocks or 3 variants."""
    from scipy.stats import friedmanchisquare, rankdata, studentized_range

    scores = np.asarray(scores, dtype=np.float64)
    n, k = scores.shape
    if n < 2 or k < 3:
        return None
    ranks = np.vstack([rankdata(-row if higher_better else row) for row in scores])
    p = float(friedmanchisquare(*scores.T).pvalue) if np.ptp(ranks, axis=1).any() else 1.0
    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    cd = q * math.sqrt(k * (k + 1) / (6.0 * n))
    return RankTest(list(names), [float(r) for r in ranks.mean(axis=0)], n, p, cd, alpha)
