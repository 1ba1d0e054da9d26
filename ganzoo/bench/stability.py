"""Stability figures of one run, from its History and its metric curve.

- best / final / fall-back-from-best of the quality curve (how much was lost after the
  best point, in the metric's "worse" direction);
- the run's status and where and why it diverged, from :func:`ganzoo.outcome.run_status`,
  the one function that decides it;
- oscillation: the rolling standard deviation of each loss over the second half of
  training (a steady game has a small one);
- gradient norms of D and G (median and maximum over training).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ganzoo.outcome import run_status

OSCILLATION_WINDOW = 50

# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER_PREFIXES = ("fid", "kid", "frechet", "fd", "reverse_kl", "kl", "w1", "mmd", "swd")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller ``metric`` is better (FID, KID, Fréchet and KL distances)."""
    m = metric.lower()
    if m.endswith("_std"):
        return True
    return m.startswith(LOWER_IS_BETTER_PREFIXES)


def curve_points(curve: Sequence[Dict[str, Any]], metric: str) -> List[Tuple[int, float, float]]:
    """(step, train_s, value) of every curve point that has ``metric``."""
    return [(int(p["step"]), float(p.get("train_s", math.nan)), float(p[metric]))
            for p in curve if metric in p and p[metric] is not None]


def curve_summary(curve: Sequence[Dict[str, Any]], metric: str) -> Dict[str, Any]:
    """best, best_step, final, fall_back (>= 0: how much worse the end is than the best)."""
    pts = [(s, t, v) for s, t, v in curve_points(curve, metric) if math.isfinite(v)]
    if not pts:
        return {"best": None, "best_step": None, "final": None, "fall_back": None}
    sign = 1.0 if lower_is_better(metric) else -1.0
    best = min(pts, key=lambda p: sign * p[2])
    final = pts[-1][2]
    return {"best": best[2], "best_step": best[0], "final": final,
            "fall_back": sign * (final - best[2])}


def time_to_quality(curve: Sequence[Dict[str, Any]], metric: str,
                    threshold: Optional[float]) -> Tuple[Optional[float], Optional[int]]:
    """(training seconds, step) when the curve first reaches ``threshold``; (None, None) if never."""
    if threshold is None:
        return None, None
    low = lower_is_better(metric)
    for step, train_s, v in curve_points(curve, metric):
        if math.isfinite(v) and (v <= threshold if low else v >= threshold):
            return train_s, step
    return None, None


def rolling_std(values: Sequence[float], window: int = OSCILLATION_WINDOW) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return np.zeros(0)
    w = max(2, min(window, x.size))
    win = np.lib.stride_tricks.sliding_window_view(x, w)
    return win.std(axis=1)


def oscillation(values: Sequence[float], window: int = OSCILLATION_WINDOW) -> Optional[float]:
    """Mean rolling std (window ``window`` steps) over the second half of the run."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    half = x[x.size // 2:]
    r = rolling_std(half, window)
    return float(r.mean()) if r.size else None


def grad_stats(values: Sequence[float]) -> Dict[str, Optional[float]]:
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return {"median": None, "max": None}
    return {"median": float(np.median(x)), "max": float(x.max())}


def loss_trace(values: Dict[str, List[float]], log_steps: List[int], points: int = 60) -> Dict[str, Any]:
    """Each logged value averaged over about ``points`` equal stretches (for plots)."""
    n = max((len(v) for v in values.values()), default=0)
    if n == 0:
        return {"step": []}
    edges = np.unique(np.linspace(0, n, min(points, n) + 1).astype(int))
    out: Dict[str, Any] = {"step": [int(e) for e in edges[1:]]}
    for k, v in values.items():
        x = np.asarray(v, dtype=np.float64)
        out[k] = [float(np.nanmean(x[a:b])) if b > a and np.isfinite(x[a:b]).any() else None
                  for a, b in zip(edges[:-1], edges[1:])]
    return out


def summarize(history, curve: Sequence[Dict[str, Any]], metric: Optional[str],
              threshold: Optional[float], logistic: bool) -> Dict[str, Any]:
    """The stability block of a run record, and (status, diverged_at, reason)."""
    out: Dict[str, Any] = {"metric": metric}
    if metric:
        out.update(curve_summary(curve, metric))
        ttq_s, ttq_step = time_to_quality(curve, metric, threshold)
        out.update(threshold=threshold, time_to_quality_s=ttq_s, time_to_quality_step=ttq_step,
                   reached_threshold=None if threshold is None else ttq_s is not None)
    vals = history.values
    for k in ("d_loss", "g_loss"):
        if k in vals:
            out[f"osc_{k}"] = oscillation(vals[k])
    for k in ("grad_norm_d", "grad_norm_g"):
        if k in vals:
            g = grad_stats(vals[k])
            out[f"{k}_median"], out[f"{k}_max"] = g["median"], g["max"]
    outcome = run_status(history, logistic=logistic, metric=metric if curve else None)
    out.update(diverged_at=outcome.at, divergence=outcome.reason)
    return {"stability": out, "status": outcome.status}
