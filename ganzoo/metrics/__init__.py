"""Sample-quality metrics, offline, with their protocol.

- :func:`evaluate` (and :func:`evaluate_trainer`, :func:`make_evaluator` for
  ``Trainer.fit(evaluate=...)``): every metric that applies to a generator's dataset.
- :func:`fidelity_metrics`: FID / KID / precision-recall / density-coverage / IS through
  torch-fidelity (:mod:`ganzoo.metrics.quality`), in one of ganzoo's offline feature spaces
  (:mod:`ganzoo.metrics.extractors`) or one of torch-fidelity's pretrained ones from a
  weights file: Inception-v3, DINOv2, CLIP, VGG-16 (:func:`pretrained_space`,
  :mod:`ganzoo.metrics.pretrained`); :func:`density_coverage` (:mod:`ganzoo.metrics.density`).
- :func:`mode_stats` (2D mixtures, VEEGAN/PacGAN), :func:`stacked_mode_stats`,
  :func:`frechet_distance` (:mod:`ganzoo.metrics.modes`).
- :func:`label_accuracy`, :func:`intra_fid` for conditional generators
  (:mod:`ganzoo.metrics.conditional`).

Names are imported on first use, so ``import ganzoo.commands.evaluate`` (the ``eval``
command's parser) stays light.
"""
import importlib
from typing import Any

_EXPORTS = {
    "evaluate": "evaluation", "evaluate_trainer": "evaluation", "make_evaluator": "evaluation",
    "feature_spaces": "evaluation",
    "mode_stats": "modes", "frechet_distance": "modes", "stacked_mode_stats": "modes",
    "label_accuracy": "conditional", "intra_fid": "conditional",
    "fidelity_metrics": "quality", "FeatureSpace": "quality", "domain_space": "quality",
    "inception_space": "pretrained", "InceptionWeightsMissing": "pretrained", "INCEPTION_FILE": "pretrained",
    "pretrained_space": "pretrained", "WeightsMissing": "pretrained", "density_coverage": "density",
    "ExtractorError": "extractors", "extractor_for": "extractors", "get_extractor": "extractors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"ganzoo.metrics.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ganzoo.metrics' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
