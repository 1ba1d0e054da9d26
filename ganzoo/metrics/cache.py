"""Where the metrics keep what they compute once: trained extractors, reference statistics.

``$GANZOO_CACHE`` if set, else ``$XDG_CACHE_HOME/ganzoo`` (``~/.cache/ganzoo``):

- ``extractors/<name>-<recipe>.pt``: a trained feature extractor (weights, SHA-256,
  held-out accuracy, how it was trained); ``<recipe>`` hashes the training recipe and
  the training data, so a change to either trains a new one;
- ``fidelity/``: torch-fidelity's own cache (features and FID statistics of the real
  reference sets), entries named by dataset, split, sample count and extractor fingerprint.
  torch.load does not notice flipped bytes inside a tensor, so each entry ganzoo uses gets
  a ``<entry>.sha256`` seal when it is written, and an entry whose bytes no longer match
  its seal (or that has none) is deleted and computed again (:func:`drop_unsealed`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ganzoo.files import atomic_write
from ganzoo.paths import user_dir


def cache_dir(cache: Optional[str | os.PathLike] = None) -> Path:
    """``cache`` if given, else ``$GANZOO_CACHE``, else ``~/.cache/ganzoo``."""
    return user_dir(cache, "GANZOO_CACHE", "ganzoo")


def fidelity_cache_dir(cache=None) -> Path:
    """The directory handed to torch-fidelity as ``cache_root``."""
    return cache_dir(cache) / "fidelity"


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and raw values (in name order).

    Independent of how the file was serialised, so the same weights always give the
    same fingerprint.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def tensor_sha256(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (for keying data)."""
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def json_sha256(obj: Any) -> str:
    """The cache key of a recipe. Not ganzoo.files.json_hash: cached extractors were keyed with
    json.dumps' default separators, and a new key would retrain (and re-fingerprint) them."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def atomic_torch_save(obj: Any, path: Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename (no torn files)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, read now."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _seal_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def seal(paths) -> None:
    """Record each file's SHA-256 beside it (``<file>.sha256``), unless already sealed."""
    for path in map(Path, paths):
        seal_file = _seal_path(path)
        if path.is_file() and not seal_file.is_file():
            digest = file_digest(path)
            atomic_write(seal_file, lambda tmp: Path(tmp).write_text(digest + "\n"))


def drop_unsealed(paths) -> list:
    """Delete every file among ``paths`` whose bytes do not match its seal, or that has no
    seal (it was not written by ganzoo's own call, or the call died before sealing it), so
    that it is computed again instead of read wrong. Returns the files deleted."""
    dropped = []
    for path in map(Path, paths):
        seal_file = _seal_path(path)
        try:
            ok = seal_file.is_file() and seal_file.read_text().strip() == file_digest(path)
        except OSError:
            ok = False
        if not ok:
            path.unlink(missing_ok=True)
            seal_file.unlink(missing_ok=True)
            dropped.append(path)
    return dropped
