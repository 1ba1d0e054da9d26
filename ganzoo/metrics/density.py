"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML, arXiv:2002.09797): the fidelity/diversity pair that, unlike
improved precision and recall, does not let one outlier among the real samples blow up a
k-NN ball and count everything near it.

With real features ``X_1..X_N``, generated ``Y_1..Y_M`` and ``r_i`` the distance from
``X_i`` to its k-th nearest other real sample:

- density  = 1/(k M) · Σ_j #{i : |Y_j − X_i| < r_i}  — how many real balls hold a sample,
  on average, over k; about 1 when both sets come from one distribution, above 1 when the
  samples crowd into dense real regions, so it is good near 1, not "higher is better";
- coverage = 1/N · #{i : some Y_j has |Y_j − X_i| < r_i}  — the share of real balls that
  hold at least one sample (in [0, 1]; higher is better).

Computed here on the features torch-fidelity has already extracted for FID/KID/precision-
recall (:func:`ganzoo.metrics.quality.fidelity_metrics`), with the same rules as the
authors' reference implementation (the ``prdc`` package, clovaai/generative-evaluation-prdc):
Euclidean distances, strict ``<``, the sample itself not counted among its neighbours,
k = 5 as the paper recommends. Not through ``prdc`` itself: it holds three N×M distance
matrices in float64 NumPy at once (2.4 GB at 10,000 samples a side); this runs in row
blocks with torch, so memory stays at one block of distances.
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

NEIGHBORHOOD = 5  # k: the paper's choice (its section 4: k = 5 with 10,000 samples a side)
BLOCK = 4096  # rows of the distance matrix held at once


def _rows(a: Tensor, b: Tensor, block: int):
    """Yield (start, distances of rows a[start:start+block] to every row of b)."""
    for start in range(0, len(a), block):
        yield start, torch.cdist(a[start:start + block], b)


def knn_radii(real: Tensor, k: int = NEIGHBORHOOD, block: int = BLOCK) -> Tensor:
    """Each real sample's distance to its k-th nearest other real sample ([N])."""
    if not 0 < k < len(real):
        raise ValueError(f"density/coverage need k between 1 and {len(real) - 1} (the real samples "
                         f"less one), got k = {k}")
    return torch.cat([d.kthvalue(k + 1, dim=1).values for _, d in _rows(real, real, block)])  # +1: itself


@torch.no_grad()
def density_coverage(real: Tensor, fake: Tensor, k: int = NEIGHBORHOOD,
                     block: int = BLOCK) -> Dict[str, float]:
    """``{"density": ..., "coverage": ...}`` of ``fake`` against ``real`` (features ``[N, D]``,
    ``[M, D]``, compared in float64 on the CPU)."""
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected features [N, D] and [M, D], got {list(real.shape)} and {list(fake.shape)}")
    if len(fake) == 0:
        raise ValueError("density/coverage need at least one generated sample")
    radii = knn_radii(real, k, block)
    inside = torch.zeros(len(real), dtype=torch.float64)  # per real ball: samples inside it
    for start, d in _rows(real, fake, block):  # [rows of real, M]
        inside[start:start + len(d)] = (d < radii[start:start + len(d), None]).sum(dim=1).double()
    return {"density": float(inside.sum() / (k * len(fake))),
            "coverage": float((inside > 0).double().mean())}
