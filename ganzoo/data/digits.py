"""scikit-learn's 8x8 handwritten digits: a tiny image set that needs no download.

``sklearn.datasets.load_digits`` ships with scikit-learn (1,797 images, a copy of
the test set of the UCI optical recognition of handwritten digits data, grey
levels 0..16). Splits are fixed by position: the first 1,500 images are "train",
the remaining 297 "test", "all" is everything (no shuffling, so the split cannot
drift with a random number generator).
"""
from __future__ import annotations

import torch

from ganzoo.data.base import TensorData
from ganzoo.data.common import dataset, resolve_split

TRAIN_SIZE = 1500
SPLITS = {"train": slice(0, TRAIN_SIZE), "test": slice(TRAIN_SIZE, None), "all": slice(None)}


@dataset("digits")
def digits(*, split=None) -> TensorData:
    """scikit-learn 8x8 handwritten digits, 1797 images, 10 classes (no download)."""
    from sklearn.datasets import load_digits

    split = resolve_split("digits", split, valid=tuple(SPLITS))
    bunch = load_digits()
    part = SPLITS[split]
    x = torch.from_numpy(bunch.images[part]).to(torch.float32).div_(8.0).sub_(1.0)  # 0..16 -> [-1, 1]
    y = torch.from_numpy(bunch.target[part]).to(torch.int64)
    rows = range(len(bunch.images))[part]
    return TensorData(name="digits", x=x.unsqueeze(1), y=y, num_classes=10, kind="image",
                      split=split,
                      source=f"scikit-learn load_digits, images {rows.start}..{rows.stop - 1} ({split})",
                      info={"classes": [str(d) for d in range(10)]})
