"""The failure class of a run: ok, diverged, failed, collapsed or did not start.

One function decides it, :func:`failure_class`, from what the run stored (its status and
final metrics), so every table, rate and bold mark of a report reads the same verdict. A
measure a run did not store (a store from before it existed) sets no class: such a run is
ok unless another rule applies.
A run's ``status`` says whether training finished (ok / diverged / failed); the class
also says whether what it learned is a generator at all:

- **diverged**: a non-finite loss or metric, or a logistic D saturated for good
  (``bench.stability``); **failed**: an error or a time-out.
- **2D mixtures** (``metrics.modes``, 2,500 samples; K modes). At 1,000 steps clusters are
  far wider than the papers' 3σ, so the classes read the mixture's geometry as well:
  ``clustered_modes`` (modes where samples gather, at a quarter of the modes' spacing),
  ``nearest_modes`` (modes whose region holds a quarter of its fair share of samples) and
  ``covered_modes`` (modes with more samples within 3σ than a uniform cloud would leave).
  The rules are applied in this order:
  1. *did not start*: no mode has a cluster and none is covered: the generator is stuck at
     the origin or in a blob between modes, or draws a disc or a cloud.
  2. *collapsed*: the mass sits in the regions of at most a quarter of the modes (ring8: 1
     or 2 of 8; grid25: up to 6 of 25) and touches a mode: one blob on a mode, a line or
     band through a few of them.
  3. *did not start*: the mass is spread over the modes' regions but clusters at no more
     than a quarter of them (a sheet or a ring over the modes, not yet at them).
    "Fewer than k modes with most samples in them" (PacGAN's reading of mode collapse),
    with k = K/4 so that the rule means the same on 8 and 25 modes.
  - *ok*: clusters at more than a quarter of the modes, wide or off-centre ones included:
    the headline's overlap, not the class, says how good they are.
- **Images** (in the dataset's own classifier features, 1,000 samples):
  - *collapsed*: ``duplicates`` over 0.8 (more than 80 % of the generated samples have a
    near-copy among the others: closer than half the median nearest-neighbour distance of
    real images; two halves of the real data score 0.04 on digits and 0.08 on MNIST), or one class
    holding more than half of the samples (five times its fair share of 1/10). One image
    repeated, or one per class (a conditional generator that ignores its noise).
  - *did not start*: precision below 0.01: almost no sample lands among the real images
    (noise).

The thresholds were read off the quick suite's pictures (``figures/*_samples.png``): grids of
one repeated image, or one per label (cgan and acgan on digits), have duplicates of 0.96-1.0;
varied grids 0.0-0.3; wgan's blurred but varied digits 0.58-0.65 (blur brings samples
close in feature space), which is why the bar is 0.8 and not 0.5.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

OK, DIVERGED, FAILED = "ok", "diverged", "failed"
COLLAPSED, NOT_STARTED = "collapsed", "did not start"
CLASSES = (OK, COLLAPSED, NOT_STARTED, DIVERGED, FAILED)

COLLAPSE_MODE_SHARE = 0.25  # mass in the regions of at most this share of the modes: collapsed
TOP_CLASS_SHARE = 0.5  # one class holding more than this share of the samples: collapsed
MAX_DUPLICATES = 0.8
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


def _class_2d(row: Mapping[str, Any], covered: float) -> str:
    k = _value(row, "num_modes")
    few = COLLAPSE_MODE_SHARE * k if math.isfinite(k) else 0.0
    clustered, nearest = _value(row, "q.clustered_modes"), _value(row, "q.nearest_modes")
    if clustered == 0 and covered == 0:
        return NOT_STARTED
    if nearest <= few:
        return COLLAPSED
    return NOT_STARTED if clustered <= few else OK


def failure_class(row: Mapping[str, Any]) -> str:
    """The class of one run from its runs-frame row (``status``, ``num_modes``, ``q.*``)."""
    status = row.get("status")
    if status in (DIVERGED, FAILED):
        return status
    covered = _value(row, "q.covered_modes")
    if math.isfinite(covered):  # a 2D mixture, evaluated by this ganzoo (all three counts stored)
        return _class_2d(row, covered)
    duplicates, top = _value(row, "q.duplicates"), _value(row, "q.top_class_share")
    if duplicates > MAX_DUPLICATES or top > TOP_CLASS_SHARE:  # NaN (not measured) compares False
        return COLLAPSED
    if _first(row, "precision") < MIN_PRECISION:
        return NOT_STARTED
    return OK
