"""Diversity of generated images, read in a classifier's features: the measures behind the
"collapsed" class (``ganzoo.bench.failures``) and the memorisation check.

Each function takes feature matrices ``[N, D]`` (:func:`features`), so an evaluation
computes the features of its samples once and reads all three from them:

- :func:`duplicate_share`: the share of generated samples that have a near-copy among the
  others. "One image repeated", or one image per label, measured directly.
- :func:`diversity`: mean pairwise distance of generated samples over that of real ones
  (within each label for a conditional generator).
- :func:`nn_ratio`: the nearest-neighbour memorisation test of Meehan et al. 2020
  (arXiv:2004.05675) as a plain ratio of medians.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

SAMPLES = 1000  # generated and real samples each measure reads


@torch.no_grad()
def features(clf, x: Tensor, batch_size: int = 1000) -> Tensor:
    """The classifier's penultimate features of float images ``x`` (float64, on the CPU)."""
    dev = next(clf.parameters()).device
    return torch.cat([clf(x[i:i + batch_size].to(dev).float())[0].double().cpu()
                      for i in range(0, len(x), batch_size)])


def _nearest(a: Tensor, b: Optional[Tensor] = None) -> Tensor:
    """Each row of ``a``'s distance to its nearest row of ``b`` (of ``a`` itself, not counting
    the row, when ``b`` is None)."""
    if b is None:
        return (torch.cdist(a, a) + torch.eye(len(a), dtype=a.dtype) * 1e30).min(dim=1).values
    return torch.cdist(a, b).min(dim=1).values


def duplicate_share(gen: Tensor, real: Tensor) -> Optional[float]:
    """The share of generated samples with another generated sample closer than half the median
    nearest-neighbour distance among the real ones. One image repeated, or one per label,
    gives about 1; see ``bench.failures`` for what real and varied samples give."""
    if len(gen) < 2 or len(real) < 2:
        return None
    return float((_nearest(gen) < 0.5 * _nearest(real).median()).double().mean())


def diversity(gen: Tensor, real: Tensor, labels: Optional[Tensor] = None,
              real_labels: Optional[Tensor] = None) -> Optional[float]:
    """Mean pairwise distance of generated samples over that of real ones: about 0 for one image
    repeated, about 1 for a generator as varied as the data. With ``labels`` (a conditional
    generator), within each label, then averaged over the labels."""
    if labels is None or real_labels is None:
        if len(gen) < 2 or len(real) < 2:
            return None
        return float(torch.pdist(gen).mean() / torch.pdist(real).mean())
    ratios = []
    for c in torch.unique(labels):
        g, r = gen[labels == c], real[real_labels == c]
        if len(g) >= 2 and len(r) >= 2:
            ratios.append(float(torch.pdist(g).mean() / torch.pdist(r).mean()))
    return sum(ratios) / len(ratios) if ratios else None


def nn_ratio(gen: Tensor, held_out: Tensor, train: Tensor) -> Optional[float]:
    """Median distance from a generated sample to its nearest training image, over the same from
    a held-out real image. Below 1 the samples sit closer to the training images than new real
    images do: a sign of memorisation. Meaningful for generators that are not collapsed."""
    d_held = _nearest(held_out, train).median()
    return float(_nearest(gen, train).median() / d_held) if d_held > 0 else None
