# isort: skip_file  (mnist registers before stacked, which builds on it)
"""Datasets as tensors on the training device.

``import ganzoo.data`` registers the built-in datasets in ``ganzoo.registry.DATASETS``:
ring8 and grid25 (2D mixtures, VEEGAN/PacGAN), digits (scikit-learn 8x8), mnist and
fashion-mnist (IDX files or torchvision), cifar10 (torchvision), folder (your images), stacked-mnist (VEEGAN/PacGAN).
Load one with :func:`load`; nothing is downloaded unless ``download=True``.
"""
from ganzoo.data import (  # noqa: F401  (register the datasets)
    cifar,
    digits,
    folder,
    mnist,
    stacked,  # noqa: F401  (registers stacked-mnist; after mnist, which it builds on)
    toy,
)
from ganzoo.data.base import DataError, TensorData, default_data_root, load
from ganzoo.data.idx import read_idx
from ganzoo.data.mnist import find_shared_mnist

__all__ = ["DataError", "TensorData", "default_data_root", "find_shared_mnist", "load", "read_idx"]
