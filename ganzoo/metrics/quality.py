"""Image quality through torch-fidelity: FID, KID, precision/recall, Inception Score, and
density/coverage on the same features.

The arithmetic is torch-fidelity's: this module hands it the inputs -- generated and real
images as ``Dataset``s of uint8 ``[C, H, W]`` tensors -- and a feature space, extracts the
features once per input with torch-fidelity's own functions (real ones cached), and reads
every metric from them with torch-fidelity's metric functions; density and coverage
(:mod:`ganzoo.metrics.density`) read the same features. The feature space is

- one of ganzoo's offline extractors (:mod:`ganzoo.metrics.extractors`), at the
  dataset's own size; metrics are named after it, e.g. ``FID[ganzoo-mnist]``;
- or one of torch-fidelity's pretrained extractors from a weights file
  (:mod:`ganzoo.metrics.pretrained`): ``FID[inception]``, ``FD[dinov2-vit-l-14]``,
  ``FD[clip-vit-b-32]``, ...; grey images are repeated to three channels.

Conditional generators are handed over as datasets of their samples (torch-fidelity
0.4's own conditional sampling uses ``np.int``, gone from NumPy >= 1.24).

The metrics: FID (Heusel et al. 2017, arXiv:1706.08500; "FD" outside Inception's space),
KID (Binkowski et al. 2018, arXiv:1801.01401), improved precision and recall (Kynkaanniemi
et al. 2019, arXiv:1904.06991), density and coverage (Naeem et al. 2020, arXiv:2002.09797),
Inception Score (Salimans et al. 2016, arXiv:1606.03498). Real-image features and FID
statistics are cached by torch-fidelity under a name built from (dataset, split, sample
count, extractor fingerprint, content hash), so they are recomputed whenever one changes.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganzoo.errors import MissingFileError
from ganzoo.metrics.cache import drop_unsealed, fidelity_cache_dir, seal, tensor_sha256
from ganzoo.metrics.density import NEIGHBORHOOD as DC_NEIGHBORHOOD
from ganzoo.metrics.density import density_coverage
from ganzoo.paths import locked


class WeightsMissing(MissingFileError):
    """A pretrained space (:mod:`ganzoo.metrics.pretrained`) was asked for, and its weights
    file is not here, nor could it be fetched."""


class InceptionWeightsMissing(WeightsMissing):
    """Inception FID was asked for, but its weights file is not here (and no download allowed)."""


# ---- inputs ------------------------------------------------------------------------
def to_uint8(x: Tensor, channels: Optional[int] = None) -> Tensor:
    """Images in [-1, 1] (any device) -> uint8 ``[N, C, H, W]`` on the CPU.

    uint8 input is passed through. ``channels=3`` repeats grey images to RGB.
    """
    if x.dtype != torch.uint8:
        x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    else:
        x = x.detach().cpu()
    if x.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {list(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise ValueError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    return x.contiguous()


class ImageTensorDataset(Dataset):
    """uint8 images ``[N, C, H, W]`` as the ``Dataset`` of tensors torch-fidelity takes."""

    def __init__(self, images: Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 images [N, C, H, W], got {images.dtype} {list(images.shape)}")
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


# ---- feature spaces ----------------------------------------------------------------
@dataclass
class FeatureSpace:
    """A torch-fidelity feature extractor as ganzoo uses it, with what identifies it."""

    name: str  # the label in metric keys ("FID[<name>]", "FD[<name>]") and in the protocol
    weights_path: Optional[str]
    sha256: str
    channels: Optional[int] = None  # input channels it needs (None: the data's own)
    has_logits: bool = True  # whether an Inception Score is meaningful
    info: Dict[str, Any] = field(default_factory=dict)
    fidelity_name: Optional[str] = None  # the extractor's name in torch-fidelity (default: name)
    distance: str = "FID"  # the Fréchet distance's name here: FID (Inception, ganzoo's), else FD

    @property
    def fingerprint(self) -> str:
        return self.sha256[:12]

    @property
    def extractor(self) -> str:
        return self.fidelity_name or self.name

    def key(self, metric: str) -> str:
        """ganzoo's name of torch-fidelity's (or ganzoo's) ``metric`` in this space."""
        return METRIC_KEYS[metric].format(self.name, fd=self.distance)

    def protocol(self) -> Dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, **self.info}


def domain_space(name: str, data_root=None, cache=None) -> FeatureSpace:
    """One of ganzoo's own extractors (trained now if it is not cached yet)."""
    from ganzoo.metrics.extractors import get_extractor

    ext = get_extractor(name, data_root=data_root, cache=cache)
    return FeatureSpace(name=name, weights_path=str(ext.path), sha256=ext.sha256,
                        info=ext.protocol())


# ---- the metrics ----------------------------------------------------------------------
METRIC_KEYS = {  # torch-fidelity's key (density/coverage: ganzoo's) -> ganzoo's name in a space
    "frechet_inception_distance": "{fd}[{}]",
    "kernel_inception_distance_mean": "KID[{}]",
    "kernel_inception_distance_std": "KID[{}]_std",
    "precision": "precision[{}]",
    "recall": "recall[{}]",
    "density": "density[{}]",
    "coverage": "coverage[{}]",
    "inception_score_mean": "IS[{}]",
    "inception_score_std": "IS[{}]_std",
}
NEEDS = {"frechet_inception_distance": "fid", "kernel_inception_distance_mean": "kid",
         "kernel_inception_distance_std": "kid", "precision": "prc", "recall": "prc", "density": "dc",
         "coverage": "dc", "inception_score_mean": "isc", "inception_score_std": "isc"}


def metric_names(space: FeatureSpace, *, fid: bool = True, kid: bool = True, prc: bool = True,
                 isc: bool = True, dc: Optional[bool] = None) -> List[str]:
    """The names :func:`fidelity_metrics` returns for these switches (``dc``: as ``prc``)."""
    on = dict(fid=fid, kid=kid, prc=prc, isc=isc and space.has_logits, dc=prc if dc is None else dc)
    return [space.key(k) for k in METRIC_KEYS if on[NEEDS[k]]]


def reference_cache_name(dataset: str, split: str, images: Tensor, space: FeatureSpace,
                         tag: str = "") -> str:
    """torch-fidelity's cache name for a real reference set (no path separators)."""
    content = tensor_sha256(images)[:8]
    tag = f"-{tag}" if tag else ""
    return f"ganzoo-{dataset}-{split}{tag}-n{len(images)}-{space.fingerprint}-{content}".replace(os.sep, "_")


def fidelity_kwargs(space: FeatureSpace, n_generated: int, n_reference: int, *, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, prc_neighborhood: int = 3, isc_splits: int = 10,
                    batch_size: int = 500, cuda: bool = False, seed: int = 2020) -> Dict[str, Any]:
    """The keyword arguments ganzoo passes to torch-fidelity (``calculate_metrics``'s)."""
    return dict(feature_extractor=space.extractor, feature_extractor_weights_path=space.weights_path,
                kid_subsets=kid_subsets,
                kid_subset_size=max(2, min(kid_subset_size, n_generated, n_reference)),
                prc_neighborhood=prc_neighborhood, isc_splits=isc_splits, batch_size=batch_size,
                cuda=cuda, rng_seed=seed, save_cpu_ram=True, verbose=False)


@contextlib.contextmanager
def _reference_cache(cache_root: Path, name: Optional[str]):
    """Around one torch-fidelity call that may read or write the cached statistics of the
    reference set ``name``: entries that fail their SHA-256 seal are dropped first (they
    would be read wrong, or fail), new ones are sealed after; under a lock per name, so
    that parallel workers never see each other's entries half-sealed."""
    if name is None:
        yield
        return
    cache_root.mkdir(parents=True, exist_ok=True)
    with locked(cache_root / f"{name}.lock"):
        dropped = drop_unsealed(cache_root.glob(f"{name}-*.pt"))
        if dropped:
            warnings.warn(f"cached reference statistics {', '.join(p.name for p in dropped)} in {cache_root} "
                          f"did not match the SHA-256 recorded when they were written, or had none (corrupt, "
                          f"or written by an older ganzoo or another program): computed again",
                          RuntimeWarning, stacklevel=3)
        yield
        seal(cache_root.glob(f"{name}-*.pt"))


_LIVE: "OrderedDict[tuple, Any]" = OrderedDict()  # built extractors, the last few kept
KEEP_LIVE = 3


def _feature_extractor(space: FeatureSpace, layers: List[str], kw: Dict[str, Any]):
    """torch-fidelity's ``create_feature_extractor`` for ``space``, built once per process
    (a pretrained net is loaded from its file once, not at every curve point)."""
    from torch_fidelity.utils import create_feature_extractor

    key = (space.extractor, space.sha256, tuple(layers), bool(kw["cuda"]))
    if key not in _LIVE:
        _LIVE[key] = create_feature_extractor(space.extractor, list(layers), **kw)
        while len(_LIVE) > KEEP_LIVE:
            _LIVE.popitem(last=False)
    _LIVE.move_to_end(key)
    return _LIVE[key]


def _from_features(kw: Dict[str, Any], space: FeatureSpace, *, fid: bool, kid: bool, prc: bool, isc: bool,
                   dc: bool) -> Dict[str, float]:
    """torch-fidelity's ``calculate_metrics_one_feature_extractor`` (the same functions, in the
    same order), extracting each input's features once and reading density/coverage from
    precision/recall's layer."""
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics_cached, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_featuresdict_to_metric
    from torch_fidelity.metric_kid import kid_featuresdict_to_metric
    from torch_fidelity.metric_prc import prc_featuresdict_to_metric
    from torch_fidelity.utils import (
        extract_featuresdict_from_input_id_cached,
        get_cacheable_input_name,
        resolve_feature_layer_for_metric,
    )

    wanted = [m for m, on in (("isc", isc), ("fid", fid), ("kid", kid), ("prc", prc or dc)) if on]
    layer = {m: resolve_feature_layer_for_metric(m, **kw) for m in wanted}
    fe = _feature_extractor(space, sorted(set(layer.values())), kw)
    feats1 = extract_featuresdict_from_input_id_cached(1, fe, **kw)
    feats2 = extract_featuresdict_from_input_id_cached(2, fe, **kw)
    raw: Dict[str, Any] = {}
    if isc:
        raw.update(isc_featuresdict_to_metric(feats1, layer["isc"], **kw))
    if fid:
        stats = [fid_featuresdict_to_statistics_cached(f, get_cacheable_input_name(i, **kw), fe, layer["fid"], **kw)
                 for i, f in ((1, feats1), (2, feats2))]
        raw.update(fid_statistics_to_metric(stats[0], stats[1], kw["verbose"]))
    if kid:
        raw.update(kid_featuresdict_to_metric(feats1, feats2, layer["kid"], **kw))
    if prc:
        raw.update(prc_featuresdict_to_metric(feats1, feats2, layer["prc"], **kw))
    if dc:  # input2 is the real set
        raw.update(density_coverage(feats2[layer["prc"]], feats1[layer["prc"]], k=DC_NEIGHBORHOOD))
    return raw


def fidelity_metrics(generated: Tensor, reference: Tensor, space: FeatureSpace, *, fid: bool = True,
                     kid: bool = True, prc: bool = True, isc: bool = False, dc: Optional[bool] = None,
                     reference_name: Optional[str] = None, cache=None, **options) -> Dict[str, float]:
    """FID / KID / precision-recall / density-coverage / IS of ``generated`` against
    ``reference`` in ``space``.

    Both are images in [-1, 1] (or uint8), ``[N, C, H, W]``. ``dc`` (default: as ``prc``):
    density and coverage, k = 5. ``reference_name``: a cache name for the reference set (see
    :func:`reference_cache_name`); None: no cache. ``options``: see :func:`fidelity_kwargs`.
    Returns ganzoo's metric names (:func:`metric_names`), e.g. ``{"FID[ganzoo-mnist]": ...,
    "KID[ganzoo-mnist]": ..., "KID[ganzoo-mnist]_std": ...}``.
    """
    gen = to_uint8(generated, space.channels)
    ref = to_uint8(reference, space.channels)
    if gen.shape[1:] != ref.shape[1:]:
        raise ValueError(f"generated images {list(gen.shape[1:])} and reference images "
                         f"{list(ref.shape[1:])} differ in shape")
    if len(gen) < 2 or len(ref) < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {len(gen)} and {len(ref)}")
    isc = isc and space.has_logits
    kwargs = fidelity_kwargs(space, len(gen), len(ref), **options)
    prc = prc and min(len(gen), len(ref)) > kwargs["prc_neighborhood"]  # k-NN radii need k + 1 points
    dc = (prc if dc is None else dc) and len(ref) > DC_NEIGHBORHOOD
    if isc:
        kwargs["isc_splits"] = max(1, min(kwargs["isc_splits"], len(gen)))
    cache_root = fidelity_cache_dir(cache)
    kw = dict(input1=ImageTensorDataset(gen), input2=ImageTensorDataset(ref), fid=fid, kid=kid, prc=prc,
              isc=isc, cache=reference_name is not None, cache_root=str(cache_root),
              input2_cache_name=reference_name, **kwargs)
    with _reference_cache(cache_root, reference_name):
        raw = _from_features(kw, space, fid=fid, kid=kid, prc=prc, isc=isc, dc=dc)
    return {space.key(k): float(raw[k]) for k in METRIC_KEYS if k in raw}
