"""CIFAR-10 through torchvision: 32x32 colour images, 10 classes.

torchvision reads ``<root>/cifar-10-batches-py`` (the python pickle batches) and
checks the MD5 of all six batches, so both splits must be there even to load one.
"""
from __future__ import annotations

import torch

from ganzoo.data.base import TensorData, default_data_root
from ganzoo.data.common import dataset, resolve_split, torchvision_dataset, uint8_to_unit

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


@dataset("cifar10")
def cifar10(*, split=None, data_root=None, download=False) -> TensorData:
    """CIFAR-10, 32x32 colour images in 10 classes (torchvision; --download to fetch)."""
    import torchvision.datasets as tvd

    split = resolve_split("cifar10", split)
    root = default_data_root(data_root)
    folder = root / CIFAR10_DIR
    tv = torchvision_dataset(tvd.CIFAR10, root, train=split == "train", download=download,
                             title="CIFAR-10", needed=[folder / f for f in CIFAR10_FILES], name="cifar10")
    x = uint8_to_unit(torch.from_numpy(tv.data).permute(0, 3, 1, 2).contiguous())  # NHWC -> NCHW
    return TensorData(name="cifar10", x=x, y=torch.as_tensor(tv.targets, dtype=torch.int64),
                      num_classes=10, kind="image", split=split,
                      source=f"CIFAR-10 {split} split via torchvision from {folder}",
                      info={"classes": list(tv.classes)})
