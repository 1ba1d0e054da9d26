"""What every dataset loader shares: registration with strict options, splits,
pixel scaling, and the "torchvision dataset or a clear error" helper.
"""
from __future__ import annotations

import functools
import inspect
import operator
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch
from torch import Tensor

from ganzoo.data.base import DataError, TensorData
from ganzoo.registry import DATASETS

# Arguments every loader is called with (by ganzoo.data.load); the rest are its options.
COMMON_ARGS = ("split", "data_root", "download")
REQUIRED = inspect.Parameter.empty
# Fetches that failed in this process (ganzoo.data.fetch records them): dataset -> why, and
# how to supply it. A loader that then finds no files says this first, so that a suite's
# note on the skipped dataset (its first line) carries it.
FETCH_FAILURES: Dict[str, str] = {}


def dataset(name: str) -> Callable:
    """Register a loader in ``DATASETS`` under ``name``, with strict options.

    The loader is a function of keyword-only arguments: any of ``split``,
    ``data_root``, ``download`` it needs, then its options with their defaults
    (no default = required). The registered wrapper accepts all three common
    arguments, rejects an unknown or missing option with a :class:`DataError`
    naming the valid ones, and records the options used in ``data.info["options"]``.
    The wrapper's ``options`` attribute maps option name -> default (``REQUIRED``
    for a required option), e.g. for ``ganzoo list``.
    """

    def decorate(fn: Callable[..., TensorData]) -> Callable[..., TensorData]:
        params = inspect.signature(fn).parameters
        takes = [a for a in COMMON_ARGS if a in params]
        options: Dict[str, Any] = {p.name: p.default for p in params.values()
                                   if p.kind is p.KEYWORD_ONLY and p.name not in COMMON_ARGS}

        @functools.wraps(fn)
        def loader(*, split: Optional[str] = None, data_root=None, download: bool = False,
                   **given) -> TensorData:
            valid = ", ".join(options) or "(none)"
            unknown = sorted(set(given) - set(options))
            if unknown:
                raise DataError(f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; "
                                f"valid options: {valid}")
            missing = [k for k, v in options.items() if v is REQUIRED and k not in given]
            if missing:
                raise DataError(f"dataset {name!r} needs option {', '.join(map(repr, missing))} "
                                f"(valid options: {valid})")
            common = dict(split=split, data_root=data_root, download=download)
            data = fn(**{a: common[a] for a in takes}, **given)
            used = {**{k: v for k, v in options.items() if v is not REQUIRED}, **given}
            data.info.setdefault("options", {k: _plain(v) for k, v in used.items()})
            return data

        loader.options = options
        DATASETS.register(name, loader)
        return loader

    return decorate


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, os.PathLike) else value


def resolve_split(name: str, split: Optional[str], valid: Sequence[str] = ("train", "test"),
                  default: str = "train") -> str:
    """``split``, or ``default`` when None; an unknown split names the valid ones."""
    if split is None:
        return default
    if split not in valid:
        raise DataError(f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(valid)}")
    return split


def int_option(name: str, key: str, value: Any, *, minimum: int = 1,
               choices: Optional[Iterable[int]] = None) -> int:
    """An integer option; a string of digits (from a command line) is accepted."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = int(value) if isinstance(value, str) else operator.index(value)
    except (TypeError, ValueError):
        raise DataError(f"dataset {name!r}: option {key} must be an integer, got {value!r}") from None
    if choices is not None and number not in set(choices):
        raise DataError(f"dataset {name!r}: option {key} must be one of "
                        f"{', '.join(map(str, choices))}, got {number}")
    if number < minimum:
        raise DataError(f"dataset {name!r}: option {key} must be >= {minimum}, got {number}")
    return number


def uint8_to_unit(x: Tensor) -> Tensor:
    """uint8 pixels (0..255) -> float32 in [-1, 1]."""
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def how_to_get(fetch_into: Path) -> str:
    """The standard advice for missing files (offline, nothing is fetched unasked)."""
    return (f"To get them: pass --download (download=True) to fetch them with torchvision into "
            f"{fetch_into}, or point --data-root (or $GANZOO_DATA) at a directory that holds them.")


def torchvision_dataset(cls: Callable, root: Path, *, train: bool, download: bool, title: str,
                        needed: Sequence[Path] = (), name: str = ""):
    """Build the torchvision dataset ``cls(root, train=..., download=...)``, or raise a
    :class:`DataError` that names the missing files and how to get them.

    ``needed``: the files torchvision will look for; without ``download`` they are
    checked first so the error can name them (torchvision only says "not found"). ``name``:
    the dataset's, whose failed fetch (``FETCH_FAILURES``) the error then names first.
    """
    if not download:
        missing: Dict[Path, List[str]] = {}
        for p in needed:
            if not p.is_file():
                missing.setdefault(p.parent, []).append(p.name)
        if missing:
            where = "; ".join(f"{', '.join(names)} in {d}" for d, names in missing.items())
            failed = [FETCH_FAILURES[name]] if name in FETCH_FAILURES else []
            raise DataError("\n".join([*failed, f"{title} not found: missing {where}.", how_to_get(root)]))
    try:
        return cls(str(root), train=train, download=download)
    except (RuntimeError, OSError, ValueError) as err:  # urllib's URLError is an OSError
        if download:
            raise DataError(f"could not download {title} into {root}: {err}\n"
                            f"Offline, copy the files there yourself (or point --data-root / "
                            f"$GANZOO_DATA at a directory that holds them).") from err
        raise DataError(f"{title} files in {root} are corrupt or incomplete (torchvision: {err}).\n"
                        f"Delete them and pass --download (download=True) to fetch them again.") from err
