"""Mode coverage: the 2D mixtures (ring8, grid25), Stacked MNIST, and the Fréchet
distance of two sample matrices.

2D mixtures, as VEEGAN (Srivastava et al. 2017, arXiv:1705.07761) defines them and
PacGAN (Lin et al. 2018, arXiv:1712.04086) reuses them, on 2,500 generated samples:

- a sample is *high quality* when it lies within 3 standard deviations of its nearest
  mode (``hq_fraction`` = their share);
- a mode is *captured* when it is the nearest mode of at least one high-quality sample
  (``modes``). This is VEEGAN's wording and what the PacGAN authors' code does
  (``mode coverage`` = number of modes with a non-zero high-quality count); ``min_count``
  raises the bar for stricter variants of the rule;
- ``reverse_kl`` = KL(p || uniform), p the histogram of high-quality samples over the
  modes (PacGAN's "reverse KL": generated distribution first); NaN when no sample is
  of high quality.

Stacked MNIST (VEEGAN; PacGAN): each channel is classified by the MNIST classifier,
the triple of digits is the sample's mode (1,000 in all); ``modes`` = distinct triples
among 26,000 samples, ``reverse_kl`` = KL(p || uniform over 1,000), as in the PacGAN
authors' code.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import Tensor

from ganzoo.errors import ConfigError

TOY_SAMPLES = 2500  # VEEGAN/PacGAN: 2,500 samples per evaluation of a 2D mixture
HQ_SIGMAS = 3.0


def kl_to_uniform(counts: Tensor, k: Optional[int] = None) -> float:
    """KL(p || uniform over ``k`` bins) of the histogram ``counts`` (NaN when empty)."""
    counts = counts.double()
    k = k or len(counts)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts[counts > 0] / total
    return float((p * (p * k).log()).sum())


def assign_modes(samples: Tensor, modes: Tensor, std: float):
    """(nearest mode index, distance to it in units of ``std``) for every sample."""
    samples = samples.detach().reshape(len(samples), -1).double().cpu()
    modes = modes.detach().double().cpu()
    dist = torch.cdist(samples, modes)
    best, idx = dist.min(dim=1)
    return idx, best / std


def mode_stats(samples: Tensor, dataset: Union[str, Any], *, threshold: float = HQ_SIGMAS,
               min_count: int = 1) -> Dict[str, Any]:
    """Modes captured, high-quality share and reverse KL of 2D ``samples`` ``[N, 2]``.

    ``dataset``: a name (``"ring8"``, ``"grid25"``) or a loaded dataset with ``modes``
    and ``mode_std``. Returns ``modes``, ``hq_fraction``, ``reverse_kl``, ``num_modes``
    (the mixture's), ``n`` and ``counts`` (high-quality samples per mode).
    Non-finite samples count as low quality.
    """
    data = _mixture(dataset)
    samples = torch.as_tensor(samples)
    if samples.dim() != 2 or samples.shape[1] != data.modes.shape[1]:
        raise ValueError(f"mode_stats takes samples [N, {data.modes.shape[1]}] for {data.name!r}, "
                         f"got {list(samples.shape)}")
    if len(samples) == 0:
        raise ValueError("mode_stats needs at least one sample")
    finite = torch.isfinite(samples).all(dim=1).cpu()
    idx, sigmas = assign_modes(torch.where(finite[:, None], samples.cpu(), torch.zeros_like(samples.cpu())),
                               data.modes, float(data.mode_std))
    hq = (sigmas < threshold) & finite
    k = data.modes.shape[0]
    counts = torch.bincount(idx[hq], minlength=k)
    return {"modes": int((counts >= min_count).sum()), "hq_fraction": float(hq.double().mean()),
            "reverse_kl": kl_to_uniform(counts, k), "num_modes": k, "n": len(samples),
            "counts": counts.tolist()}


def _mixture(dataset):
    if isinstance(dataset, str):
        from ganzoo.data import load

        dataset = load(dataset)
    if getattr(dataset, "modes", None) is None or getattr(dataset, "mode_std", None) is None:
        raise ConfigError(f"dataset {getattr(dataset, 'name', dataset)!r} is not a mixture with known "
                         f"modes; mode_stats applies to ring8, grid25 and other sets with modes")
    return dataset


def frechet_distance(x, y) -> float:
    """Fréchet distance between Gaussians fitted to two sample matrices ``[N, D]``:
    ``|mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2))`` (Dowson & Landau 1982; the
    formula of FID, Heusel et al. 2017). Statistics and distance are torch-fidelity's
    (``fid_features_to_statistics``, ``fid_statistics_to_metric``), in float64.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    x = torch.as_tensor(x).detach().cpu().double()
    y = torch.as_tensor(y).detach().cpu().double()
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance takes two matrices [N, D] with the same D, got "
                         f"{list(x.shape)} and {list(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"frechet_distance needs at least 2 samples on each side, got {len(x)} and {len(y)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return float("nan")
    sx, sy = fid_features_to_statistics(x), fid_features_to_statistics(y)
    if x.shape[1] == 1:  # np.cov returns a 0-d array for one dimension
        for s in (sx, sy):
            s["sigma"] = np.atleast_2d(s["sigma"])
    return float(fid_statistics_to_metric(sx, sy, False)[KEY_METRIC_FID])


def class_mode_stats(predicted: Tensor, num_classes: int) -> Dict[str, Any]:
    """Modes (distinct predicted classes) and KL(p || uniform) of classifier predictions."""
    counts = torch.bincount(predicted.long().cpu(), minlength=num_classes)
    return {"modes": int((counts > 0).sum()), "reverse_kl": kl_to_uniform(counts, num_classes),
            "num_modes": num_classes, "n": int(len(predicted))}


def stacked_mode_stats(samples: Tensor, extractor) -> Dict[str, Any]:
    """Stacked-MNIST modes and KL: each channel classified by ``extractor``'s per-channel
    classifier (a :class:`~ganzoo.metrics.extractors.StackedExtractor`)."""
    digits = extractor.digits(samples)
    k = extractor.base.num_classes
    index = torch.zeros(len(digits), dtype=torch.long)
    for c in range(digits.shape[1]):
        index = index * k + digits[:, c]
    return class_mode_stats(index, k ** digits.shape[1])
