"""A small reader for IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, a type code, the number of dimensions d, then d
big-endian uint32 sizes, then the values, big-endian, row-major
(http://yann.lecun.com/exdb/mnist/). Files may be gzipped (detected by content,
not by name). Every inconsistency -- bad magic, sizes that do not match the file
length, a broken gzip stream, a checksum that disagrees with an ``MD5SUMS`` file
beside it -- is a :class:`DataError` naming the file.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ganzoo.data.base import DataError

IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x0803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x0801  # unsigned bytes, 1 dimension (N,)
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: broken gzip stream ({err}); the file is truncated or "
                        f"corrupt, fetch it again") from err
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from err


def read_idx(path, *, magic: Optional[int] = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or not), native byte order.

    magic: the expected first four bytes as an int (e.g. 0x0803 for MNIST images);
    None accepts any valid IDX type.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (magic bytes {raw[:4].hex() or 'missing'}); "
                        f"the file is corrupt or of another format")
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise DataError(f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x} "
                        f"(wrong file, e.g. labels given for images?)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes) but the data is "
                        f"{len(raw)} bytes; the file is truncated or corrupt")
    # astype copies: the result is writable and in native byte order.
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_images_and_labels(images: Path, labels: Path) -> Tuple[np.ndarray, np.ndarray]:
    """MNIST-style pair: uint8 images [N, rows, cols] and uint8 labels [N]."""
    check_md5sums(images)
    check_md5sums(labels)
    x = read_idx(images, magic=IMAGES_MAGIC)
    y = read_idx(labels, magic=LABELS_MAGIC)
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    return x, y


def check_md5sums(path: Path) -> None:
    """If an ``MD5SUMS`` file (``md5sum`` output) beside ``path`` lists it, check the digest."""
    sums = path.parent / "MD5SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == path.name:
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            if digest != parts[0].lower():
                raise DataError(f"{path}: MD5 {digest} does not match {parts[0]} listed in {sums}; "
                                f"the file is corrupt, fetch it again")
            return
