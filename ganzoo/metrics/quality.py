"""Image quality through torch-fidelity: FID, KID, precision/recall, Inception Score.

All arithmetic is torch-fidelity's (``torch_fidelity.calculate_metrics``); this module
only hands it the inputs -- generated and real images as ``Dataset``s of uint8
``[C, H, W]`` tensors -- and a feature space:

- one of ganzoo's offline extractors (:mod:`ganzoo.metrics.extractors`), at the
  dataset's own size; metrics are named after it, e.g. ``FID[ganzoo-mnist]``;
- or torch-fidelity's ``inception-v3-compat`` (the standard FID of Heusel et al. 2017,
  arXiv:1706.08500) from a local weights file (``--inception-weights PATH`` or
  ``$GANZOO_INCEPTION_WEIGHTS``); grey images are repeated to three channels.

Conditional generators are handed over as datasets of their samples (torch-fidelity
0.4's own conditional sampling uses ``np.int``, gone from NumPy >= 1.24).

The metrics: FID (Heusel et al. 2017), KID (Binkowski et al. 2018, arXiv:1801.01401),
improved precision and recall (Kynkaanniemi et al. 2019, arXiv:1904.06991), Inception
Score (Salimans et al. 2016, arXiv:1606.03498). Real-image features and FID statistics
are cached by torch-fidelity under a name built from (dataset, split, sample count,
extractor fingerprint, content hash), so they are recomputed whenever one changes.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganzoo.errors import MissingFileError
from ganzoo.metrics.cache import drop_unsealed, fidelity_cache_dir, file_digest, seal, tensor_sha256
from ganzoo.paths import locked

INCEPTION = "inception-v3-compat"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "GANZOO_INCEPTION_WEIGHTS"
INCEPTION_ALIASES = ("inception", INCEPTION)


class InceptionWeightsMissing(MissingFileError):
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

    name: str  # torch-fidelity's name; also the label in metric keys ("FID[<name>]")
    weights_path: Optional[str]
    sha256: str
    channels: Optional[int] = None  # input channels it needs (None: the data's own)
    has_logits: bool = True  # whether an Inception Score is meaningful
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return self.sha256[:12]

    def protocol(self) -> Dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, **self.info}


def domain_space(name: str, data_root=None, cache=None) -> FeatureSpace:
    """One of ganzoo's own extractors (trained now if it is not cached yet)."""
    from ganzoo.metrics.extractors import get_extractor

    ext = get_extractor(name, data_root=data_root, cache=cache)
    return FeatureSpace(name=name, weights_path=str(ext.path), sha256=ext.sha256,
                        info=ext.protocol())


_FILE_HASHES: Dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = file_digest(path)
    return _FILE_HASHES[key]


def hub_inception_path() -> Path:
    """Where torch-fidelity's own download would put the Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def missing_inception_message(detail: str = "") -> str:
    return (f"Inception FID needs torch-fidelity's Inception-v3 weights, the file {INCEPTION_FILE}"
            f"{detail}. Supply it with --inception-weights PATH or by setting ${INCEPTION_ENV}=PATH "
            f"(or pass --allow-download to let torch-fidelity fetch it into {hub_inception_path().parent}).")


def resolve_inception_weights(path=None, allow_download: bool = False) -> Path:
    """The Inception weights file: ``path``, else ``$GANZOO_INCEPTION_WEIGHTS``, else one
    already in torch's hub cache, else (only with ``allow_download``) downloaded there.

    Raises :class:`InceptionWeightsMissing` naming the file and both ways to supply it.
    """
    for given, how in ((path, "--inception-weights"), (os.environ.get(INCEPTION_ENV), f"${INCEPTION_ENV}")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise InceptionWeightsMissing(missing_inception_message(f" ({how} points at {p}, which does not exist)"))
            return p
    hub = hub_inception_path()
    if hub.is_file():
        return hub
    if not allow_download:
        raise InceptionWeightsMissing(missing_inception_message(" (not found)"))
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    hub.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(URL_INCEPTION_V3, str(hub), progress=False)
    return hub


INCEPTION_SHA256_PREFIX = INCEPTION_FILE.rsplit("-", 1)[1].split(".")[0]  # torch hub's naming rule


def inception_space(weights=None, allow_download: bool = False) -> FeatureSpace:
    """torch-fidelity's ``inception-v3-compat`` from a local weights file, checked to be that
    file: torch hub names a file after the first hex digits of its SHA-256."""
    path = resolve_inception_weights(weights, allow_download)
    _check_inception_layers(path)
    sha = file_sha256(path)
    official = sha.startswith(INCEPTION_SHA256_PREFIX)
    if not official:
        warnings.warn(f"{path} holds Inception-v3 layers but is not torch-fidelity's published weights "
                      f"file (its SHA-256 begins {sha[:8]}, the published one's {INCEPTION_SHA256_PREFIX}): "
                      f"its FIDs are not comparable with published Inception FIDs", RuntimeWarning, stacklevel=2)
    return FeatureSpace(name=INCEPTION, weights_path=str(path), sha256=sha, channels=3,
                        info={"sha256": sha, "weights": str(path), "official_weights": official,
                              "resize": "299x299 (torch-fidelity)"})


INCEPTION_FIRST_LAYER = "Conv2d_1a_3x3.conv.weight"


def _check_inception_layers(path: Path) -> None:
    """A clear error for a file that is not Inception-v3 weights at all (before torch-fidelity
    fails on it with a traceback): it must be a torch file holding Inception's first layer."""
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # an older, non-zip torch file cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InceptionWeightsMissing(missing_inception_message(
            f" ({path} is not a torch weights file: {type(err).__name__}: {str(err)[:120]})")) from None
    if not isinstance(state, dict) or INCEPTION_FIRST_LAYER not in state:
        raise InceptionWeightsMissing(missing_inception_message(
            f" ({path} is a torch file without Inception-v3's layers, e.g. {INCEPTION_FIRST_LAYER})"))


def inception_configured(weights=None) -> bool:
    """Whether Inception weights were pointed at (argument or environment)."""
    return bool(weights or os.environ.get(INCEPTION_ENV))


# ---- the metrics ----------------------------------------------------------------------
METRIC_KEYS = {  # torch-fidelity key -> ganzoo's name (formatted with the extractor name)
    "frechet_inception_distance": "FID[{}]",
    "kernel_inception_distance_mean": "KID[{}]",
    "kernel_inception_distance_std": "KID[{}]_std",
    "precision": "precision[{}]",
    "recall": "recall[{}]",
    "inception_score_mean": "IS[{}]",
    "inception_score_std": "IS[{}]_std",
}


def reference_cache_name(dataset: str, split: str, images: Tensor, space: FeatureSpace,
                         tag: str = "") -> str:
    """torch-fidelity's cache name for a real reference set (no path separators)."""
    content = tensor_sha256(images)[:8]
    tag = f"-{tag}" if tag else ""
    return f"ganzoo-{dataset}-{split}{tag}-n{len(images)}-{space.fingerprint}-{content}".replace(os.sep, "_")


def fidelity_kwargs(space: FeatureSpace, n_generated: int, n_reference: int, *, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, prc_neighborhood: int = 3, isc_splits: int = 10,
                    batch_size: int = 500, cuda: bool = False, seed: int = 2020) -> Dict[str, Any]:
    """The keyword arguments ganzoo passes to ``torch_fidelity.calculate_metrics``."""
    return dict(feature_extractor=space.name, feature_extractor_weights_path=space.weights_path,
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


def fidelity_metrics(generated: Tensor, reference: Tensor, space: FeatureSpace, *, fid: bool = True,
                     kid: bool = True, prc: bool = True, isc: bool = False,
                     reference_name: Optional[str] = None, cache=None, **options) -> Dict[str, float]:
    """FID / KID / precision-recall / IS of ``generated`` against ``reference`` in ``space``.

    Both are images in [-1, 1] (or uint8), ``[N, C, H, W]``. ``reference_name``: a
    cache name for the reference set (see :func:`reference_cache_name`); None: no cache.
    ``options``: see :func:`fidelity_kwargs`. Returns ganzoo's metric names, e.g.
    ``{"FID[ganzoo-mnist]": ..., "KID[ganzoo-mnist]": ..., "KID[ganzoo-mnist]_std": ...}``.
    """
    import torch_fidelity

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
    if isc:
        kwargs["isc_splits"] = max(1, min(kwargs["isc_splits"], len(gen)))
    cache_root = fidelity_cache_dir(cache)
    with _reference_cache(cache_root, reference_name):
        raw = torch_fidelity.calculate_metrics(
            input1=ImageTensorDataset(gen), input2=ImageTensorDataset(ref),
            fid=fid, kid=kid, prc=prc, isc=isc,
            cache=reference_name is not None, cache_root=str(cache_root),
            input2_cache_name=reference_name, **kwargs)
    return {METRIC_KEYS[k].format(space.name): float(v) for k, v in raw.items() if k in METRIC_KEYS}
