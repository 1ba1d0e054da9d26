"""MNIST and Fashion-MNIST: from IDX files on disk, or downloaded by torchvision.

Offline, the loaders read the four IDX files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
each gzipped or not) with :mod:`ganzoo.data.idx`. A directory may hold only one
split (e.g. the 10k test set); with ``split=None`` the loader then uses that split
and ``source`` says so. Directories searched, in order, under the data root:

- mnist: the root itself, ``MNIST/raw`` (torchvision's layout), ``mnist``;
- fashion-mnist: ``FashionMNIST/raw`` (torchvision's layout), ``fashion-mnist``.
  Not the root itself: the file names are MNIST's, and one must not pass for the other.

With ``download=True`` a split that is not on disk is fetched by torchvision into
``<root>/MNIST/raw`` (or ``FashionMNIST/raw``); ``split=None`` then means train.
Images are [N, 1, 28, 28] in [-1, 1]; labels 0..9.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

import ganzoo
from ganzoo.data.base import DataError, TensorData, default_data_root
from ganzoo.data.common import FETCH_FAILURES, dataset, how_to_get, resolve_split, torchvision_dataset, uint8_to_unit
from ganzoo.data.idx import read_images_and_labels

FILE_PREFIX = {"train": "train", "test": "t10k"}


@dataclass(frozen=True)
class IdxSet:
    """An MNIST-like dataset: its name, torchvision class and where its files may lie."""

    name: str
    title: str
    torchvision_class: str  # also torchvision's folder name under the root
    search_root: bool  # whether the data root itself is searched
    classes: Tuple[str, ...]

    def search_dirs(self, root: Path) -> List[Path]:
        dirs = [root] if self.search_root else []
        return dirs + [root / self.torchvision_class / "raw", root / self.name]


MNIST = IdxSet("mnist", "MNIST", "MNIST", True, tuple(str(d) for d in range(10)))
FASHION_MNIST = IdxSet("fashion-mnist", "Fashion-MNIST", "FashionMNIST", False,
                       ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"))


def split_files(split: str) -> Tuple[str, str]:
    """The (images, labels) base names of a split, without .gz."""
    p = FILE_PREFIX[split]
    return f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte"


def _find_file(directory: Path, base: str) -> Optional[Path]:
    # Also accept the "train-images.idx3-ubyte" spelling some mirrors use.
    for stem in (base, base.replace("-idx", ".idx")):
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def locate_split(dirs: List[Path], split: str) -> Optional[Tuple[Path, Path]]:
    """(images, labels) of ``split`` from the first directory that holds both."""
    for d in dirs:
        images, labels = (_find_file(d, base) for base in split_files(split))
        if images and labels:
            return images, labels
    return None


def find_shared_mnist() -> Optional[Path]:
    """The directory of MNIST IDX files shared beside this checkout, or None.

    ``$GANZOO_MNIST_DIR`` if set, else ``<checkout>/../shared/data/mnist-t10k`` (the
    test split only). Pass it as ``data_root``; the loaders never look there by themselves.
    """
    env = os.environ.get("GANZOO_MNIST_DIR")
    repo = Path(ganzoo.__file__).resolve().parents[1]
    path = Path(env).expanduser() if env else repo.parent / "shared" / "data" / "mnist-t10k"
    return path if path.is_dir() else None


def load_idx_set(spec: IdxSet, split: Optional[str], data_root, download: bool) -> TensorData:
    """The loader shared by mnist and fashion-mnist: IDX files on disk, else torchvision
    download when allowed, else a DataError naming the missing files and how to get them."""
    root = default_data_root(data_root)
    dirs = spec.search_dirs(root)
    found: Dict[str, Optional[Tuple[Path, Path]]] = {s: locate_split(dirs, s) for s in FILE_PREFIX}
    wanted = resolve_split(spec.name, split)
    if split is None and not found["train"] and found["test"] and not download:
        wanted = "test"  # the only split on disk

    if found[wanted]:
        images, labels = found[wanted]
        x, y = read_images_and_labels(images, labels)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        source = f"{spec.title} {wanted} split ({FILE_PREFIX[wanted]}) from IDX files in {images.parent}"
        if split is None and wanted == "test":
            source += "; the train split is absent"
        files = [str(images), str(labels)]
    elif download:
        import torchvision.datasets as tvd

        tv = torchvision_dataset(getattr(tvd, spec.torchvision_class), root, train=wanted == "train",
                                 download=True, title=spec.title)
        x, y = tv.data, tv.targets
        raw = root / spec.torchvision_class / "raw"
        source = f"{spec.title} {wanted} split ({FILE_PREFIX[wanted]}) via torchvision from {raw}"
        files = [str(raw / base) for base in split_files(wanted)]
    else:
        raise DataError(_missing_message(spec, split, wanted, dirs, found, root))

    if len(y) and int(y.max()) >= len(spec.classes):
        raise DataError(f"{spec.title} {wanted} labels go up to {int(y.max())}, expected 0..9 "
                        f"({files[1]} is not a {spec.title} label file?)")
    return TensorData(name=spec.name, x=uint8_to_unit(x).unsqueeze(1), y=y.to(torch.int64),
                      num_classes=len(spec.classes), kind="image", split=wanted, source=source,
                      info={"files": files, "classes": list(spec.classes)})


def _missing_message(spec: IdxSet, requested: Optional[str], split: str, dirs: List[Path],
                     found, root: Path) -> str:
    def present(base: str) -> bool:
        return any(_find_file(d, base) for d in dirs)

    if requested is None:
        head = (f"{spec.title} not found: neither split is present (the train split needs "
                f"{' and '.join(b + '[.gz]' for b in split_files('train'))}; the test split "
                f"{' and '.join(b + '[.gz]' for b in split_files('test'))}).")
    else:
        missing = [b for b in split_files(split) if not present(b)]
        head = (f"{spec.title} {split} split not found: missing "
                f"{' and '.join(b + '[.gz]' for b in missing)}." if missing else
                f"{spec.title} {split} split not found: {' and '.join(split_files(split))} must be in the "
                f"same directory.")
    lines = [head, f"Searched: {', '.join(str(d) for d in dirs)}."]
    if spec.name in FETCH_FAILURES:  # first: a suite's note on the skipped dataset is the first line
        lines.insert(0, FETCH_FAILURES[spec.name])
    other = "test" if split == "train" else "train"
    if requested is not None and found[other]:
        lines.append(f"The {other} split is there, in {found[other][0].parent}: "
                     f"ask for split {other!r} to use it.")
    lines.append(how_to_get(root / spec.torchvision_class / "raw"))
    shared = find_shared_mnist() if spec is MNIST else None
    if shared and shared.resolve() not in {d.resolve() for d in dirs}:
        lines.append(f"A copy of MNIST's test split lies in {shared} (--data-root {shared}).")
    return "\n".join(lines)


@dataset("mnist")
def mnist(*, split=None, data_root=None, download=False) -> TensorData:
    """MNIST handwritten digits, 28x28 grey (IDX files on disk, or torchvision download)."""
    return load_idx_set(MNIST, split, data_root, download)


@dataset("fashion-mnist")
def fashion_mnist(*, split=None, data_root=None, download=False) -> TensorData:
    """Fashion-MNIST clothing images, 28x28 grey (IDX files on disk, or torchvision download)."""
    return load_idx_set(FASHION_MNIST, split, data_root, download)
