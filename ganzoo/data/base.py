"""The dataset contract: tensors already on the training device.

Every dataset loader returns a :class:`TensorData`: all samples as one float
tensor scaled to [-1, 1] (images) or in the paper's coordinates (2D toys), the
labels when they exist, and what the metrics need to know about it. Batches are
gathered by index on the device, so the training loop never touches the host.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from ganzoo.errors import GanzooError
from ganzoo.paths import user_dir
from ganzoo.registry import DATASETS


class DataError(GanzooError, RuntimeError):
    """A dataset could not be loaded; the message says which files and how to get them."""


@dataclass
class TensorData:
    """A whole dataset resident on one device.

    x: ``[N, *shape]`` float32; images in [-1, 1], channels first.
    y: ``[N]`` int64 labels, or None for unlabelled data.
    kind: ``"points"`` (2D toy sets) or ``"image"``.
    modes / mode_std: for toy mixtures, the mixture's centres ``[K, 2]`` and its σ.
    split: which split this is ("train", "test", ...); source: where it came from.
    held_out: real data kept apart from training, the evaluation's reference (``holdout``).
    """

    name: str
    x: Tensor
    y: Optional[Tensor] = None
    num_classes: int = 0
    kind: str = "image"
    split: str = "train"
    source: str = ""
    modes: Optional[Tensor] = None
    mode_std: Optional[float] = None
    info: Dict[str, Any] = field(default_factory=dict)
    held_out: Optional["TensorData"] = None

    def __post_init__(self):
        if self.x.ndim < 2 or self.x.shape[0] == 0:
            raise DataError(f"dataset {self.name!r} has no samples (x shape {tuple(self.x.shape)})")
        if self.y is not None and self.y.shape[0] != self.x.shape[0]:
            raise DataError(f"dataset {self.name!r}: {self.x.shape[0]} samples but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> Tuple[int, ...]:
        """The shape of one sample, e.g. (2,) or (1, 28, 28)."""
        return tuple(self.x.shape[1:])

    @property
    def labelled(self) -> bool:
        return self.y is not None and self.num_classes > 0

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device) -> "TensorData":
        device = torch.device(device)
        return replace(self, x=self.x.to(device), y=None if self.y is None else self.y.to(device),
                       modes=None if self.modes is None else self.modes.to(device))

    def batch(self, batch_size: int, generator: Optional[torch.Generator] = None):
        """A random batch (x, y) drawn with replacement, gathered on the device.

        No host synchronisation: indices are drawn on the data's device.
        """
        idx = torch.randint(len(self), (batch_size,), device=self.x.device, generator=generator)
        return self.x[idx], (None if self.y is None else self.y[idx])

    def shard(self, rank: int, world_size: int) -> "TensorData":
        """Samples ``rank, rank + world_size, ...``: one process's part under torch.distributed."""
        return replace(self, x=self.x[rank::world_size], y=None if self.y is None else self.y[rank::world_size])


def default_data_root(data_root: Optional[str | os.PathLike] = None) -> Path:
    """``--data-root`` if given, else ``$GANZOO_DATA``, else ``~/.cache/ganzoo/data``."""
    return user_dir(data_root, "GANZOO_DATA", "ganzoo", "data")


def load(name: str, *, split: Optional[str] = None, data_root=None, download: bool = False,
         device="cpu", holdout: int = 0, **options) -> TensorData:
    """Load the dataset registered as ``name`` onto ``device``.

    split: "train" / "test" / None (the loader's default; for a directory holding only
    one split, that split). data_root: see :func:`default_data_root`. download: allow
    torchvision to fetch missing files. Extra ``options`` go to the loader (e.g. ``size``
    for ``folder``, ``n`` for toy sets); an unknown option is an error.
    holdout: keep real images apart from training as the evaluation's reference (Lucic et
    al. 2018 score against the test split): the test split when the train split is used and
    the test split is on disk too, else ``holdout`` images of the split at hand drawn at
    random (seed 0: the same on every machine), which training then never sees. At random,
    not the first ones: MNIST's t10k holds the SD-3 writers first and the SD-1 ones after.
    """
    loader = DATASETS.get(name)  # the first lookup imports ganzoo.data's loaders (registry.on_lookup)
    data = loader(split=split, data_root=data_root, download=download, **options)
    if holdout:
        data = hold_out(data, int(holdout), lambda s: loader(split=s, data_root=data_root, download=False,
                                                               **options))
    return data.to(device)


HOLDOUT_SEED = 0


def hold_out(data: TensorData, n: int, load_split) -> TensorData:
    """``data`` with a disjoint reference set in ``held_out`` (see :func:`load`)."""
    if not 0 < n < len(data):
        raise DataError(f"dataset {data.name!r}: holdout must be between 1 and {len(data) - 1} (the "
                        f"{data.split} split has {len(data)} images), got {n}")
    if data.split == "train":
        try:
            test = load_split("test")
        except GanzooError:
            test = None
        if test is not None:
            test.info["held_out"] = f"the whole test split ({len(test)} images); training uses the train split"
            return replace(data, held_out=test)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(HOLDOUT_SEED)).to(data.x.device)
    held, kept = order[:n], order[n:].sort().values
    pick = lambda idx: dict(x=data.x[idx], y=None if data.y is None else data.y[idx])  # noqa: E731
    ref = replace(data, **pick(held), info={**data.info, "held_out": f"{n} images of the {data.split} split drawn "
                                                                      f"at random (seed {HOLDOUT_SEED}), never trained on"})
    return replace(data, **pick(kept), held_out=ref,
                   info={**data.info, "trained_on": f"the other {len(data) - n} images of the {data.split} split"})
