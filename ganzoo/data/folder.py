"""A directory of the user's own images, resized and center-cropped to size x size.

Options: ``path`` (required), ``size`` (default 64), ``channels`` (3 for RGB, 1 for
grey). Images are found recursively. When every image sits in a first-level
subfolder and there are at least two of them, the subfolder names (sorted) are the
classes, as in torchvision's ``ImageFolder``; otherwise the set is unlabelled.
The preprocessing is the usual one for GANs (DCGAN on CelebA): resize the shorter
side to ``size`` (bilinear, antialiased), then crop the centre square.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ganzoo.data.base import DataError, TensorData
from ganzoo.data.common import dataset, int_option, resolve_split, uint8_to_unit

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def image_files(root: Path) -> List[Path]:
    """Image files under ``root`` (recursively, hidden ones skipped), sorted."""
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _load_image(path: Path, size: int, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    try:
        with Image.open(path) as img:
            img = img.convert(mode)
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"cannot read image {path}: {err}") from err
    img = F.center_crop(F.resize(img, size, interpolation=InterpolationMode.BILINEAR, antialias=True), size)
    return np.asarray(img, dtype=np.uint8).reshape(size, size, -1)


@dataset("folder")
def folder(*, split=None, path, size=64, channels=3) -> TensorData:
    """Your own directory of images (option path=DIR; size, channels), resized and cropped."""
    split = resolve_split("folder", split, valid=("train",))
    size = int_option("folder", "size", size)
    channels = int_option("folder", "channels", channels, choices=(1, 3))
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset 'folder': {root} is not a directory (option path)")
    files = image_files(root)
    if not files:
        raise DataError(f"dataset 'folder': no images in {root} "
                        f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively)")

    mode = "RGB" if channels == 3 else "L"
    pixels = np.stack([_load_image(f, size, mode) for f in files])  # decoding is per file anyway
    x = uint8_to_unit(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())

    classes: Optional[List[str]] = None
    parents = [f.relative_to(root).parts for f in files]
    if all(len(p) == 2 for p in parents) and len({p[0] for p in parents}) >= 2:
        classes = sorted({p[0] for p in parents})
    y = None if classes is None else torch.tensor([classes.index(p[0]) for p in parents])
    labels = f"{len(classes)} classes from subfolders" if classes else "unlabelled"
    return TensorData(name="folder", x=x, y=y, num_classes=len(classes or ()), kind="image",
                      split=split,
                      source=f"{len(files)} images from {root}, resized and center-cropped to "
                             f"{size}x{size} {mode} ({labels})",
                      info={"path": str(root), "classes": classes or []})
