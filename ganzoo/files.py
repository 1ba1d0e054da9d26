"""Writing files that are never torn, and the one canonical JSON form that ganzoo hashes.

- :func:`atomic_write`: write beside the target, then rename over it. A reader sees the old
  file or the new one, never part of one; a kill or a full disk mid-way leaves the old file
  and no temporary behind. Checkpoints, samples, cached extractors, statistics seals use it.
- :func:`canonical_json` / :func:`json_hash`: sorted keys, no spaces, ``str()`` for what JSON
  lacks. Run ids, setup ids and cache keys are hashes of this form.
- :func:`clean_json`: JSON has no NaN or Infinity; a non-finite float becomes None and a
  numpy scalar a plain number (the run store's records).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ganzoo import faults


def atomic_write(path, write: Callable[[str], None], *, fault_point: str = "") -> Path:
    """``write(tmp)`` fills a temporary file beside ``path``, which then replaces ``path``.

    ``fault_point``: a :mod:`ganzoo.faults` point armed by tests (kill after a partial write).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        if fault_point and faults.armed(fault_point):
            faults.truncate_then_die(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_bytes_synced(data: bytes) -> Callable[[str], None]:
    """A writer for :func:`atomic_write` that writes ``data`` and fsyncs it before the rename."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return write


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def json_hash(obj: Any) -> str:
    """SHA-256 (hex) of ``obj``'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def clean_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as None and numpy scalars as plain numbers."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
