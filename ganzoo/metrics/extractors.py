"""ganzoo's offline feature extractors, registered in ``ganzoo.registry.EXTRACTORS`` and
in torch-fidelity (``torch_fidelity.register_feature_extractor``) under the same name.

One per labelled image dataset -- ``ganzoo-digits`` (8x8 grey), ``ganzoo-mnist`` and
``ganzoo-fashion-mnist`` (28x28 grey), ``ganzoo-cifar10`` (32x32 colour) -- plus
``ganzoo-stacked-mnist``, the MNIST classifier applied to each channel of a Stacked
MNIST image (VEEGAN, arXiv:1705.07761). Each is a small classifier
(:mod:`ganzoo.metrics.classifiers`) trained the first time it is needed:

- on the dataset's ``train`` split, held-out accuracy on its ``test`` split, when both
  load; else (a directory with one split, e.g. MNIST's 10k test set here) on a fixed
  random part of that split (seed 0) with ``recipe.holdout`` images held out
  (MNIST: 8,000 train / 2,000 held out);
- cached under :func:`ganzoo.metrics.cache.cache_dir` ``/extractors`` and identified by
  its fingerprint, the SHA-256 of its weights (the first 12 hex digits are shown), with
  its held-out accuracy and what it was trained on.

Features: the penultimate layer (``"features"``, for FID / KID / precision-recall);
``"logits"`` for the Inception Score. Inputs are torch-fidelity's: uint8 ``[B, C, H, W]``
at the dataset's own size (no resize to 299).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.data.base import DataError
from ganzoo.metrics.cache import atomic_torch_save, cache_dir, json_sha256, state_dict_sha256, tensor_sha256
from ganzoo.metrics.classifiers import NetSpec, TrainRecipe, accuracy, train_classifier
from ganzoo.registry import EXTRACTORS

FORMAT = 1
FEATURES = ("features", "logits")


class ExtractorError(DataError):
    """A feature extractor could not be trained or loaded; the message says why."""


# ---- loaded extractors ---------------------------------------------------------------
class Extractor(nn.Module):
    """A trained extractor: float images in [-1, 1] -> (features, logits).

    ``sha256`` identifies the weights; ``fingerprint`` is its first 12 hex digits;
    ``accuracy`` the held-out accuracy; ``path`` the weights file; ``info`` the training record.
    """

    name: str
    sha256: str
    accuracy: float
    path: Path
    info: Dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return self.sha256[:12]

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    def protocol(self) -> Dict[str, Any]:
        """What a report must say about this extractor."""
        return {"name": self.name, "fingerprint": self.fingerprint, "sha256": self.sha256,
                "heldout_accuracy": self.accuracy, "trained_on": self.info.get("trained_on"),
                "weights": str(self.path)}

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 2000) -> Tensor:
        """Class indices of float images in [-1, 1] (on the extractor's device)."""
        dev = next(self.parameters()).device
        out = [self(x[i:i + batch_size].to(dev).float())[1].argmax(1).cpu()
               for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


class ClassifierExtractor(Extractor):
    """One classifier net: features = its penultimate layer, logits = its output."""

    def __init__(self, name: str, net: nn.Module, record: Dict[str, Any], path: Path):
        super().__init__()
        self.name, self.net, self.path = name, net, Path(path)
        self.sha256, self.accuracy = record["sha256"], float(record["accuracy"])
        self.info = {k: v for k, v in record.items() if k != "state_dict"}

    @property
    def input_shape(self):
        s = self.net.spec
        return (s.in_channels, s.size, s.size)

    @property
    def num_classes(self) -> int:
        return self.net.spec.num_classes

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        return self.net.features_and_logits(x)


class StackedExtractor(Extractor):
    """A classifier applied to each channel: features concatenated, logits of the joint
    label ``sum_c digit_c * 10**(C-1-c)`` as the sum of per-channel log-probabilities."""

    def __init__(self, name: str, base: ClassifierExtractor, channels: int):
        super().__init__()
        self.name, self.base, self.channels = name, base, channels
        self.sha256, self.accuracy, self.path = base.sha256, base.accuracy, base.path
        self.info = dict(base.info, stacked_from=base.name, channels=channels)

    @property
    def input_shape(self):
        _, h, w = self.base.input_shape
        return (self.channels, h, w)

    @property
    def num_classes(self) -> int:
        return self.base.num_classes ** self.channels

    def protocol(self) -> Dict[str, Any]:
        return dict(super().protocol(), per_channel=self.base.name)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        b, c = x.shape[:2]
        feats, logits = self.base(x.reshape(b * c, 1, *x.shape[2:]))
        logp = F.log_softmax(logits.float(), dim=1).reshape(b, c, -1)
        joint = logp[:, 0]
        for i in range(1, c):  # outer sum: [b, k^i] x [b, k] -> [b, k^(i+1)], first channel most significant
            joint = (joint[:, :, None] + logp[:, i][:, None, :]).reshape(b, -1)
        return feats.reshape(b, -1), joint

    def digits(self, x: Tensor, batch_size: int = 2000) -> Tensor:
        """Per-channel class indices ``[N, C]`` of float images in [-1, 1]."""
        b, c = x.shape[:2]
        return self.base.predict(x.reshape(b * c, 1, *x.shape[2:]), batch_size).reshape(b, c)


# ---- specs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtractorSpec:
    """A classifier trained on ``dataset`` and the default extractor for ``serves``."""

    name: str
    dataset: str
    net: NetSpec
    recipe: TrainRecipe
    description: str
    serves: Tuple[str, ...] = ()

    def __post_init__(self):
        if not self.serves:
            object.__setattr__(self, "serves", (self.dataset,))
        object.__setattr__(self, "__doc__", self.description)  # for `EXTRACTORS.describe()`

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """The images it reads, known without loading it."""
        return (self.net.in_channels, self.net.size, self.net.size)

    def load(self, data_root=None, cache=None) -> Extractor:
        return load_or_train(self, data_root=data_root, cache=cache)

    def from_file(self, path) -> Extractor:
        record = read_record(path, self.name)
        net = NetSpec(**{**record["net"], "convs": tuple(map(tuple, record["net"]["convs"]))}).build()
        net.load_state_dict(record["state_dict"])
        net.eval().requires_grad_(False)
        return ClassifierExtractor(self.name, net, record, Path(path))


@dataclass(frozen=True)
class StackedSpec:
    """The classifier ``base`` applied to each of ``channels`` stacked images."""

    name: str
    base: str
    channels: int
    description: str
    serves: Tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "__doc__", self.description)

    @property
    def dataset(self) -> str:
        return EXTRACTORS.get(self.base).dataset

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        _, h, w = EXTRACTORS.get(self.base).input_shape
        return (self.channels, h, w)

    def load(self, data_root=None, cache=None) -> Extractor:
        return StackedExtractor(self.name, EXTRACTORS.get(self.base).load(data_root, cache), self.channels)

    def from_file(self, path) -> Extractor:
        return StackedExtractor(self.name, EXTRACTORS.get(self.base).from_file(path), self.channels)


def register_extractor(spec) -> Any:
    """Register ``spec`` in ganzoo's EXTRACTORS and in torch-fidelity under ``spec.name``."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    EXTRACTORS.register(spec.name, spec)
    if spec.name not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(spec.name, FidelityExtractor)
    return spec


def extractor_for(dataset: str) -> Optional[str]:
    """The name of ganzoo's default extractor for ``dataset``, or None."""
    for name, spec in EXTRACTORS.items():
        if dataset in spec.serves:
            return name
    return None


# ---- training and the cache ----------------------------------------------------------
_LOADED: Dict[Tuple[str, str, str], Extractor] = {}


def training_data(spec: ExtractorSpec, data_root=None):
    """(x_train, y_train, x_held, y_held, description) for ``spec`` (see the module doc)."""
    from ganzoo.data import load

    try:
        train = load(spec.dataset, split="train", data_root=data_root)
        held = load(spec.dataset, split="test", data_root=data_root)
        return (train.x, train.y, held.x, held.y,
                {"train": f"{spec.dataset} train split ({len(train)} images; {train.source})",
                 "heldout": f"{spec.dataset} test split ({len(held)} images)"})
    except DataError:
        pass
    try:
        data = load(spec.dataset, split=None, data_root=data_root)
    except DataError as err:
        raise ExtractorError(
            f"feature extractor {spec.name!r} is trained on dataset {spec.dataset!r} the first "
            f"time it is needed, and {spec.dataset!r} could not be loaded: {err}") from err
    if data.y is None:
        raise ExtractorError(f"feature extractor {spec.name!r} needs labels; {spec.dataset!r} has none")
    hold = spec.recipe.holdout
    if not 0 < hold < len(data):
        raise ExtractorError(f"{spec.dataset!r} {data.split} split has {len(data)} images, too few to "
                             f"hold out {hold} for {spec.name!r}")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(spec.recipe.seed))
    tr, ho = perm[hold:], perm[:hold]
    return (data.x[tr], data.y[tr], data.x[ho], data.y[ho],
            {"train": f"{spec.dataset} {data.split} split, {len(tr)} of {len(data)} images "
                      f"(a fixed random part, seed {spec.recipe.seed}; {data.source})",
             "heldout": f"the other {len(ho)} images of that split"})


def load_or_train(spec: ExtractorSpec, data_root=None, cache=None, *, retrain: bool = False) -> Extractor:
    """The extractor of ``spec``: from the cache, else trained now and cached."""
    key = (spec.name, str(data_root), str(cache_dir(cache)))
    if key in _LOADED and not retrain:
        return _LOADED[key]
    x, y, xh, yh, trained_on = training_data(spec, data_root)
    recipe_key = json_sha256({"format": FORMAT, "net": asdict(spec.net), "recipe": spec.recipe.to_dict(),
                              "x": tensor_sha256(x), "y": tensor_sha256(y),
                              "xh": tensor_sha256(xh), "yh": tensor_sha256(yh)})[:12]
    path = cache_dir(cache) / "extractors" / f"{spec.name}-{recipe_key}.pt"
    if path.is_file() and not retrain:
        try:
            ext = spec.from_file(path)
        except ExtractorError:
            ext = None  # a damaged cache entry is trained again
        if ext is not None:
            _LOADED[key] = ext
            return ext
    t0 = time.perf_counter()
    net = train_classifier(spec.net, x, y, spec.recipe)
    train_s = time.perf_counter() - t0
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    record = {"format": FORMAT, "name": spec.name, "state_dict": state,
              "sha256": state_dict_sha256(state), "accuracy": accuracy(net, xh, yh),
              "n_train": len(x), "n_heldout": len(xh), "trained_on": trained_on,
              "net": asdict(spec.net), "recipe": spec.recipe.to_dict(), "train_s": train_s,
              "torch": str(torch.__version__)}
    atomic_torch_save(record, path)
    ext = spec.from_file(path)
    _LOADED[key] = ext
    return ext


def read_record(path, name: str) -> Dict[str, Any]:
    """A weights file written by :func:`load_or_train`, checked against its own SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise ExtractorError(f"no weights file for feature extractor {name!r} at {path}")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ExtractorError(f"{path} is not a readable ganzoo extractor file: {err}") from err
    if not isinstance(record, dict) or record.get("format") != FORMAT or "state_dict" not in record:
        raise ExtractorError(f"{path} is not a ganzoo extractor file (format {FORMAT})")
    if record.get("name") != name:
        raise ExtractorError(f"{path} holds extractor {record.get('name')!r}, not {name!r}")
    if state_dict_sha256(record["state_dict"]) != record.get("sha256"):
        raise ExtractorError(f"{path} is damaged: its weights do not match their recorded SHA-256")
    return record


def get_extractor(name: str, data_root=None, cache=None) -> Extractor:
    """The extractor registered as ``name``, trained if needed."""
    return EXTRACTORS.get(name).load(data_root=data_root, cache=cache)


# ---- torch-fidelity's side -------------------------------------------------------------
def _fidelity_base():
    from torch_fidelity import FeatureExtractorBase

    return FeatureExtractorBase


class FidelityExtractor(_fidelity_base()):
    """torch-fidelity's view of a ganzoo extractor (``feature_extractor=<name>``).

    ``feature_extractor_weights_path``: the extractor's weights file (ganzoo always
    passes it); without it the extractor is loaded (or trained) from the default cache
    and data root. Input: uint8 ``[B, C, H, W]`` of the extractor's own size.
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        spec = EXTRACTORS.get(name)
        self.model = (spec.from_file(feature_extractor_weights_path) if feature_extractor_weights_path
                      else spec.load())
        self.model.eval().requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return FEATURES

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        raise NotImplementedError("ganzoo extractors are not compiled")

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8):
            raise ValueError(f"extractor {self.name!r} expects uint8 images, got "
                             f"{getattr(x, 'dtype', type(x))}")
        want = tuple(self.model.input_shape)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"extractor {self.name!r} expects uint8 images [B, {', '.join(map(str, want))}] "
                             f"(its dataset's own size), got {list(x.shape)}")
        feats, logits = self.model(x.float().div(127.5).sub(1.0))
        out = {"features": feats.float(), "logits": logits.float()}
        return tuple(out[f] for f in self.features_list)


# ---- the built-in extractors -------------------------------------------------------------
# LeNet-5 (LeCun et al. 1998): 6 and 16 5x5 filters, 120 hidden units. 1,200 steps of 100
# (15 epochs of MNIST's 8,000-image train part here): 98.75% held out, 10-20 s on one core.
# digits: 1,000 steps of 50 on its 1,500 train images: 97.0% on its 297 test images, ~3 s.
LENET5 = NetSpec(in_channels=1, size=28, convs=((6, 5, 2), (16, 5, 0)), hidden=120)
register_extractor(ExtractorSpec(
    "ganzoo-mnist", "mnist", LENET5, TrainRecipe(steps=1200, holdout=2000),
    "LeNet-5 trained on MNIST (features: 120-d penultimate layer)"))
register_extractor(ExtractorSpec(
    "ganzoo-fashion-mnist", "fashion-mnist", LENET5, TrainRecipe(steps=1200, holdout=2000),
    "LeNet-5 trained on Fashion-MNIST (features: 120-d penultimate layer)"))
register_extractor(ExtractorSpec(
    "ganzoo-digits", "digits",
    NetSpec(in_channels=1, size=8, convs=((32, 3, 1), (64, 3, 1)), hidden=128),
    TrainRecipe(steps=1000, batch_size=50, lr=1e-2, shift=1, holdout=300),
    "two-block CNN trained on scikit-learn's 8x8 digits (features: 128-d)"))
register_extractor(ExtractorSpec(
    "ganzoo-cifar10", "cifar10",
    NetSpec(in_channels=3, size=32, convs=((32, 3, 1), (64, 3, 1), (128, 3, 1)), hidden=256),
    TrainRecipe(steps=6000, batch_size=100, lr=2e-3, shift=2, holdout=5000),
    "three-block CNN trained on CIFAR-10 (features: 256-d; trained on the CPU, minutes)"))
register_extractor(StackedSpec(
    "ganzoo-stacked-mnist", "ganzoo-mnist", 3,
    "ganzoo-mnist on each channel of Stacked MNIST (features: 3x120-d; logits: 1000 triples)",
    serves=("stacked-mnist",)))
