"""A run's status, decided in one place: :func:`run_status`.

The trainer records facts (the first step with a non-finite loss, the losses and D's
outputs, the evaluations, an exception); :func:`run_status` reads them and says how the run
ended. The trainer calls it when ``fit`` ends or raises, and a bench run's record
(:func:`ganzoo.bench.stability.summarize`) calls it again with the suite's metric, so the
record, ``summary.json`` and a checkpoint's history say the same thing:

- **failed**: the variant's step (or a perf mode) raised; a bench run that times out is
  failed too (its worker is ended, so nothing is left to read);
- **diverged**, with the step and the reason: a non-finite loss (the trainer stops there), a
  logistic discriminator saturated for good (D(x) > 1 - ε on real and D(G(z)) < ε on fake at
  every logged step from some point to the end, for at least the last quarter of the run:
  the vanishing-gradient failure of Goodfellow et al. 2014, section 3, and Arjovsky & Bottou
  2017, arXiv:1701.04862), or a non-finite value of the run's headline metric at the end;
- **ok** otherwise, once training reached its steps (**running** before).

Saturation only means something for a D whose outputs are logits of the logistic
(cross-entropy) loss; :func:`logistic_discriminator` recognises one by probing the
variant's own ``d_loss``, so no variant is named here. Whether an ok run learned a
generator at all (collapsed, did not start) is the report's failure class
(:mod:`ganzoo.bench.failures`), read from the stored metrics so that its thresholds can
change without training again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ganzoo.errors import ConfigError

RUNNING, OK, DIVERGED, FAILED = "running", "ok", "diverged", "failed"
NON_FINITE_LOSS, SATURATED, NON_FINITE_METRIC = "non-finite loss", "D saturated", "non-finite metric"

# A logit beyond ±SATURATION_LOGIT means D's probability is within 1e-3 of 0 or 1.
SATURATION_LOGIT = math.log(999.0)
SATURATION_MIN_SHARE = 0.25  # saturated over at least this share of the run, to its end


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``status``, and for a diverged run the step and the reason."""

    status: str
    at: Optional[int] = None
    reason: Optional[str] = None


def run_status(history, *, finished: bool = True, logistic: bool = False, metric: Optional[str] = None,
               error: Optional[BaseException] = None) -> Outcome:
    """The status of the run that left ``history`` (a :class:`ganzoo.trainer.History`).

    ``finished``: training reached its steps (else it is still running, unless it diverged or
    raised); ``logistic``: D's outputs are logistic logits (saturation is checked); ``metric``:
    the headline metric, whose last evaluation must be finite; ``error``: what training raised.
    """
    if error is not None:
        return Outcome(FAILED, reason=f"{type(error).__name__}: {error}")
    if history.diverged_at is not None:  # the trainer stopped there (under torchrun: the first rank's)
        return Outcome(DIVERGED, history.diverged_at, NON_FINITE_LOSS)
    if not finished:
        return Outcome(RUNNING)
    values = history.values
    if logistic and "d_real" in values and "d_fake" in values:
        start = saturated_from(values["d_real"], values["d_fake"])
        if start is not None:
            return Outcome(DIVERGED, start + 1, SATURATED)
    if metric and history.evals:
        last = history.evals[-1]
        if metric not in last:
            raise ConfigError(f"the evaluation produced no metric {metric!r} (the suite's `metric`); "
                              f"it produced: {', '.join(k for k in last if k not in ('step', 'train_s'))}")
        value = last[metric]
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
            return Outcome(DIVERGED, int(last["step"]), NON_FINITE_METRIC)
    return Outcome(OK)


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
