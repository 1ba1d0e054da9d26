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

The papers' rule was made for trained generators whose samples sit in clusters: a
diffuse cloud over the data's square leaves one sample within 3σ of most modes and
"captures" them (ganzoo's quick report ranked a uniform cloud first on grid25). Two
measures that a cloud cannot game, read together with the papers' own:

- ``covered_modes``: modes holding more high-quality samples than a uniform cloud over
  the data's bounding box (the modes ± 3σ) would put there by chance: a count ``c`` with
  P(Poisson(λ) ≥ c) < 0.001, λ = n · π(3σ)² / area of the box (ring8: c = 8 of 2,500
  samples; grid25: c = 10). A mode counts when the generator has learned to put mass there.
- ``overlap``: 1 − total variation between the generated and the real mixture, both
  binned into the K discs of radius 3σ and the rest of the plane (a real Gaussian puts
  1 − e^{-4.5} = 98.9 % of its mass inside its disc). 1 for the data itself; a perfect
  one-mode collapse gets 1/K; a cloud about its high-quality share. It charges for
  off-mode mass, missing modes and unequal modes at once, so it ranks the 2D headline.

Two more counts, for the failure classes (``ganzoo.bench.failures``), at the scale of the
mixture's geometry rather than of σ (at 1,000 steps clusters are far wider than 3σ):

- ``clustered_modes``: modes where samples gather: at least 10 samples within r = a quarter
  of the smallest distance between two modes, at a density over 4 times that of the ring
  r..2r around it. A uniform sheet gives a ratio of about 1 and a curve through the mode
  (a ring, a line) about 3; a cluster centred near the mode, even 10σ wide, far more.
- ``nearest_modes``: modes whose Voronoi cell (the samples nearest to them) holds at least a
  quarter of its fair share n/K: where the mass is, whatever its shape.

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
CLOUD_P = 1e-3  # a mode is covered when a uniform cloud would leave that many samples there with p < CLOUD_P


def cloud_count(n: int, modes: Tensor, std: float, threshold: float = HQ_SIGMAS, p: float = CLOUD_P) -> int:
    """The fewest high-quality samples at one mode that a uniform cloud of ``n`` samples over
    the mixture's bounding box (modes ± ``threshold``·σ) reaches with probability below ``p``."""
    from scipy.stats import poisson

    m = modes.detach().double().cpu()
    r = threshold * std
    side = (m.max(dim=0).values - m.min(dim=0).values + 2 * r).prod().item()
    lam = n * np.pi * r * r / side
    return int(poisson.isf(p, lam)) + 1


CLUSTER_DENSITY = 4.0  # density within r over density in r..2r: a sheet gives 1, a curve 3
CLUSTER_MIN = 10


def geometry_counts(samples: Tensor, modes: Tensor) -> Dict[str, int]:
    """``clustered_modes`` and ``nearest_modes`` (see the module's docstring)."""
    x, m = samples.double(), modes.detach().double().cpu()
    k = len(m)
    if k < 2:
        return {}
    d_modes = torch.cdist(m, m) + torch.eye(k, dtype=torch.float64) * 1e9
    r = float(d_modes.min()) / 4
    dist = torch.cdist(x, m)
    inner = (dist < r).sum(dim=0).double()
    ring = ((dist >= r) & (dist < 2 * r)).sum(dim=0).double()
    clustered = (inner >= CLUSTER_MIN) & (inner > CLUSTER_DENSITY * ring / 3.0)  # the ring's area is 3 πr²
    nearest = torch.bincount(dist.argmin(dim=1), minlength=k)
    return {"clustered_modes": int(clustered.sum()), "nearest_modes": int((nearest >= len(x) / (4 * k)).sum())}


def overlap(counts: Tensor, n: int, threshold: float = HQ_SIGMAS) -> float:
    """1 − total variation between samples binned by mode (``counts`` high-quality samples per
    mode, the other ``n − sum`` anywhere else) and the real mixture binned the same way."""
    k = len(counts)
    inside = 1.0 - float(np.exp(-threshold ** 2 / 2))  # a 2D Gaussian's mass within threshold·σ
    share = counts.double() / n
    off = 1.0 - float(share.sum())
    return float(torch.minimum(share, torch.full_like(share, inside / k)).sum()) + min(off, 1.0 - inside)


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
    and ``mode_std``. Returns ``modes``, ``hq_fraction``, ``reverse_kl``, ``covered_modes``,
    ``overlap``, ``top_mode_share`` (the fullest mode's part of the high-quality samples),
    ``num_modes`` (the mixture's), ``n`` and ``counts`` (high-quality samples per mode).
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
    n = len(samples)
    total = int(counts.sum())
    return {"modes": int((counts >= min_count).sum()), "hq_fraction": float(hq.double().mean()),
            "reverse_kl": kl_to_uniform(counts, k),
            "covered_modes": int((counts >= cloud_count(n, data.modes, float(data.mode_std), threshold)).sum()),
            "overlap": overlap(counts, n, threshold),
            "top_mode_share": float(counts.max()) / total if total else float("nan"),
            **geometry_counts(samples.cpu()[finite], data.modes),
            "num_modes": k, "n": n, "counts": counts.tolist()}


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
            "top_class_share": float(counts.max()) / max(1, len(predicted)),
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
