"""Training speed from counts and seconds: the one place img/s, s/kimg, G steps/s and ms/step
are computed. A run's record (:func:`ganzoo.bench.record.throughput`, which ``ganzoo train``'s
summary.json shows too) and :func:`ganzoo.throughput.measure_throughput` read their rates
from :func:`rates`.

- ``img_per_s``: real images shown to D per second of training (n_critic × batch per G step,
  the StyleGAN convention); ``s_per_kimg``: seconds per thousand of them;
- ``g_steps_per_s`` and ``ms_per_step``: per G step (one iteration, its D steps included).

A rate that cannot be computed (no time, no steps) is None.
"""
from __future__ import annotations

from typing import Dict, Optional

RATES = ("img_per_s", "s_per_kimg", "g_steps_per_s", "ms_per_step")


def rates(images: int, g_steps: int, seconds: float) -> Dict[str, Optional[float]]:
    """The rates of ``g_steps`` G steps that showed D ``images`` real images in ``seconds``."""
    img_per_s = images / seconds if seconds > 0 else None
    return {"img_per_s": img_per_s,
            "s_per_kimg": 1000.0 / img_per_s if img_per_s else None,
            "g_steps_per_s": g_steps / seconds if seconds > 0 else None,
            "ms_per_step": 1e3 * seconds / g_steps if g_steps else None}
