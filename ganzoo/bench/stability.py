"""Stability figures of one run, from its History and its metric curve.

- best / final / fall-back-from-best of the quality curve (how much was lost after the
  best point, in the metric's "worse" direction);
- divergence: a non-finite loss (the trainer stops there), a non-finite metric, or a
  logistic discriminator saturated for good (D(x) > 1 - ε on real and D(G(z)) < ε on
  fake at every logged step from some point to the end, for at least the last quarter
  of the run): the vanishing-gradient failure of Goodfellow et al. 2014 (section 3)
  and Arjovsky & Bottou 2017 (arXiv:1701.04862);
- oscillation: the rolling standard deviation of each loss over the second half of
  training (a steady game has a small one);
- gradient norms of D and G (median and maximum over training).

Saturation only means something for a D whose outputs are logits of the logistic
(cross-entropy) loss; :func:`logistic_discriminator` recognises one by probing the
variant's own ``d_loss``, so no variant is named here.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ganzoo.errors import ConfigError

# A logit beyond ±SATURATION_LOGIT means D's probability is within 1e-3 of 0 or 1.
SATURATION_LOGIT = math.log(999.0)
SATURATION_MIN_SHARE = 0.25  # saturated over at least this share of the run, to its end
OSCILLATION_WINDOW = 50

# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER_PREFIXES = ("fid", "kid", "frechet", "fd", "reverse_kl", "kl", "w1", "mmd", "swd")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller ``metric`` is better (FID, KID, Fréchet and KL distances)."""
    m = metric.lower()
    if m.endswith("_std"):
        return True
    return m.startswith(LOWER_IS_BETTER_PREFIXES)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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


def logistic_discriminator(variant) -> bool:
    """Whether the variant trains D with the logistic loss on logits (so D's outputs can saturate).

    The variant's declared ``d_output`` says so ("logits"); a plugin that does not declare
    it is probed: ``variant.d_loss`` against −log σ(r) − log(1 − σ(f)) at a few points.
    """
    declared = getattr(variant, "d_output", "")
    if declared:
        return declared == "logits"
    import torch
    import torch.nn.functional as F

    probes = [(-2.0, 3.0), (0.5, -1.5), (4.0, 1.0), (0.0, 0.0)]
    try:
        for r, f in probes:
            dr, df = torch.tensor([r]), torch.tensor([f])
            got = float(variant.d_loss(dr, df))
            want = float(F.softplus(-dr).mean() + F.softplus(df).mean())
            if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
                return False
    except Exception:
        return False
    return True


def saturated_from(d_real: Sequence[float], d_fake: Sequence[float],
                   logit: float = SATURATION_LOGIT,
                   min_share: float = SATURATION_MIN_SHARE) -> Optional[int]:
    """Index (0-based step) from which D stays saturated to the end, or None.

    Saturated: mean logit on real > ``logit`` and on fake < −``logit`` at every step
    of a final stretch that covers at least ``min_share`` of the steps.
    """
    r = np.asarray(d_real, dtype=np.float64)
    f = np.asarray(d_fake, dtype=np.float64)
    n = min(r.size, f.size)
    if n == 0:
        return None
    sat = (r[:n] > logit) & (f[:n] < -logit)
    if not sat[-1]:
        return None
    unsat = np.flatnonzero(~sat)
    start = int(unsat[-1]) + 1 if unsat.size else 0
    return start if (n - start) >= max(1, math.ceil(min_share * n)) else None


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
    status, at, reason = history.status, history.diverged_at, None
    if status == "diverged":
        reason = "non-finite loss"
    elif logistic and "d_real" in vals and "d_fake" in vals:
        start = saturated_from(vals["d_real"], vals["d_fake"])
        if start is not None:
            status, at, reason = "diverged", start + 1, "D saturated"
    if status == "ok" and metric and curve:
        if metric not in curve[-1]:
            raise ConfigError(f"the evaluation produced no metric {metric!r} (the suite's `metric`); "
                           f"it produced: {', '.join(k for k in curve[-1] if k not in ('step', 'train_s'))}")
        last = curve[-1][metric]
        if last is None or not _finite(last):
            status, at, reason = "diverged", int(curve[-1]["step"]), "non-finite metric"
    out.update(diverged_at=at, divergence=reason)
    return {"stability": out, "status": status}
