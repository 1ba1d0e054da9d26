"""The failure class of a run: ok, diverged, failed, collapsed or did not start.

One function decides it, :func:`failure_class`, from what the run stored (its status and
final metrics), so every table, rate and bold mark of a report reads the same verdict.
A run's ``status`` says whether training finished (ok / diverged / failed); the class
also says whether what it learned is a generator at all:

- **diverged**: a non-finite loss or metric, or a logistic D saturated for good
  (``bench.stability``); **failed**: an error or a time-out.
- **2D mixtures** (from the mode measures of ``metrics.modes``, 2,500 samples):
  - *did not start*: no mode is covered, i.e. no mode holds more high-quality samples
    than a uniform cloud over the data would put there (p < 0.001). A generator stuck
    at the origin, a cloud or a filled disc: it has not learned any mode yet.
  - *collapsed*: some mode is covered, but at most a quarter of them (ring8: 1 or 2 of 8,
    grid25: up to 6 of 25), or one mode holds more than half of the high-quality samples.
    "Fewer than k modes with most samples in one" (PacGAN's reading of mode collapse),
    with k = K/4 so that the rule means the same on 8 and 25 modes.
- **Images** (in the dataset's own classifier features):
  - *collapsed*: ``diversity`` below 0.2 (the generated samples' mean pairwise feature
    distance is under a fifth of the real images'), or one class holding more than half of
    the samples (five times its fair share of 1/10). One image repeated, a handful of
    near-copies, or one digit drawn again and again.
  - *did not start*: precision below 0.01: almost no sample lands among the real images
    (noise).

The thresholds were read off the quick suite's pictures (``figures/*_samples.png``): every
grid of one repeated image has diversity below 0.1; varied grids are above 0.4.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

OK, DIVERGED, FAILED = "ok", "diverged", "failed"
COLLAPSED, NOT_STARTED = "collapsed", "did not start"
CLASSES = (OK, COLLAPSED, NOT_STARTED, DIVERGED, FAILED)

COLLAPSE_MODE_SHARE = 0.25  # at most this share of the modes covered: collapsed
TOP_SHARE = 0.5  # one mode (2D) or one class (images) holding more than this: collapsed
MIN_DIVERSITY = 0.2
MIN_PRECISION = 0.01


def _value(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _first(row: Mapping[str, Any], prefix: str) -> float:
    """The first finite ``q.<prefix>...`` value (image metrics carry their feature space's name)."""
    for k in row.keys():
        if isinstance(k, str) and k.startswith(f"q.{prefix}[") and math.isfinite(_value(row, k)):
            return _value(row, k)
    return math.nan


def failure_class(row: Mapping[str, Any]) -> str:
    """The class of one run from its runs-frame row (``status``, ``num_modes``, ``q.*``)."""
    status = row.get("status")
    if status in (DIVERGED, FAILED):
        return status
    covered = _value(row, "q.covered_modes")
    if math.isfinite(covered):  # a 2D mixture
        k = _value(row, "num_modes")
        if covered == 0:
            return NOT_STARTED
        top = _value(row, "q.top_mode_share")
        if (math.isfinite(k) and covered <= COLLAPSE_MODE_SHARE * k) or (math.isfinite(top) and top > TOP_SHARE):
            return COLLAPSED
        return OK
    diversity, top = _value(row, "q.diversity"), _value(row, "q.top_class_share")
    if (math.isfinite(diversity) and diversity < MIN_DIVERSITY) or (math.isfinite(top) and top > TOP_SHARE):
        return COLLAPSED
    precision = _first(row, "precision")
    if math.isfinite(precision) and precision < MIN_PRECISION:
        return NOT_STARTED
    return OK
