"""Quality of conditional generators: do samples obey the label they were asked for?

- ``label_accuracy``: the share of samples generated for label ``c`` that the dataset's
  classifier assigns to ``c`` (the "classification accuracy" of conditional GANs, e.g.
  Odena et al. 2017, arXiv:1610.09585, with a classifier trained on real data). For the
  2D mixtures, where labels are mixture components, the classifier is the nearest mode:
  a sample obeys its label when the mode of that label is the nearest one. How close it
  lands is the business of ``hq_fraction``; counting only high-quality samples here would
  make the two numbers the same for a generator that does obey.
- ``intra_fid``: the mean over classes of the FID between generated and real samples of
  that class (intra-FID, Miyato & Koyama 2018, arXiv:1802.05637), through torch-fidelity.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor

from ganzoo.metrics.modes import assign_modes
from ganzoo.metrics.quality import FeatureSpace, fidelity_metrics, reference_cache_name


def label_accuracy(samples: Tensor, labels: Tensor, extractor) -> float:
    """Share of ``samples`` the extractor's classifier puts in the class in ``labels``."""
    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    return float((extractor.predict(samples) == labels.cpu().long()).double().mean())


def mode_label_accuracy(samples: Tensor, labels: Tensor, modes: Tensor, std: float) -> float:
    """2D mixtures: share of samples whose nearest mode is the mode of their label
    (non-finite samples count as wrong)."""
    finite = torch.isfinite(samples).all(dim=1).cpu()
    idx, _ = assign_modes(torch.nan_to_num(samples.cpu(), 1e9, 1e9, -1e9), modes, std)
    return float((finite & (idx == labels.cpu().long())).double().mean())


def intra_fid(samples: Tensor, labels: Tensor, ref_x: Tensor, ref_y: Tensor, space: FeatureSpace, *,
              dataset: str, split: str, cache=None, min_per_class: int = 2,
              **options) -> Dict[str, Any]:
    """Mean per-class FID (``value``) with the per-class values (``per_class``).

    Classes with fewer than ``min_per_class`` samples on either side are skipped.
    """
    labels, ref_y = labels.cpu().long(), ref_y.cpu().long()
    per_class: Dict[int, float] = {}
    key = space.key("frechet_inception_distance")
    for c in sorted(set(labels.tolist()) & set(ref_y.tolist())):
        gen_c, ref_c = samples[labels == c], ref_x[ref_y == c]
        if len(gen_c) < min_per_class or len(ref_c) < min_per_class:
            continue
        name = reference_cache_name(dataset, split, _u8(ref_c, space), space, tag=f"class{c}")
        per_class[c] = fidelity_metrics(gen_c, ref_c, space, fid=True, kid=False, prc=False,
                                        reference_name=name, cache=cache, **options)[key]
    value = sum(per_class.values()) / len(per_class) if per_class else float("nan")
    return {"value": value, "per_class": per_class}


def _u8(x: Tensor, space: Optional[FeatureSpace]) -> Tensor:
    from ganzoo.metrics.quality import to_uint8

    return to_uint8(x, space.channels if space else None)
