"""Checkpoints: what a trainer writes and reads back, in one place.

A full checkpoint (``ganzoo train``'s, and the bench's partial one) holds everything that
makes training resume exactly: nets, optimizers, variant state, the whole history and the RNG
states. A compact one (what ``ganzoo bench`` keeps per finished run) holds G and D and the
history's scalars: enough to sample and evaluate, not to train on. Writes are atomic (a
temporary file, then a rename); :func:`read_checkpoint` says what a bad file is not.
"""
from __future__ import annotations

import random
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch
from torch import Tensor

from ganzoo import optimizers
from ganzoo.errors import GanzooError, MissingFileError
from ganzoo.files import atomic_write


class CheckpointError(GanzooError, ValueError):
    """A checkpoint cannot serve what was asked of it (e.g. resuming from a compact one)."""


CHECKPOINT_FORMAT = 1  # raise when the layout changes; read_checkpoint refuses other formats
CHECKPOINT_KEYS = ("variant", "arch", "config", "dataset", "step", "G", "D")


def read_checkpoint(path) -> Dict[str, Any]:
    """A checkpoint's contents, or a :class:`CheckpointError` that says what the file is not
    (missing, not a torch file, truncated, or a torch file that is not a ganzoo checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # pickle, zip and EOF errors all mean: not a readable checkpoint
        raise CheckpointError(
            f"{path} is not a readable ganzoo checkpoint ({type(err).__name__}: {err}); "
            f"a checkpoint is written by `ganzoo train` (DIR/checkpoint.pt) or kept by "
            f"`ganzoo bench` (RESULTS/checkpoints/<run_id>.pt)") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is a torch file but not a ganzoo checkpoint: it lacks "
                              f"{', '.join(missing)}")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a ganzoo checkpoint in format {state.get('format')!r}, written "
                              f"by another ganzoo version; this one ({ganzoo_version()}) reads format "
                              f"{CHECKPOINT_FORMAT}: use the ganzoo that wrote it, or train the run again")
    return state


def ganzoo_version() -> str:
    import ganzoo

    return ganzoo.__version__


def state_of(trainer, optimizer: bool = True) -> Dict[str, Any]:
    """What rebuilds this trainer: variant, arch, config (hyperparameters included),
    dataset, data shape, classes, step, and the nets' weights.

    ``optimizer=True`` (a full checkpoint, what ``ganzoo train`` writes): also both
    optimizers, the whole history and the RNG states, so that training resumes exactly.
    ``optimizer=False`` (a compact checkpoint, what ``ganzoo bench`` keeps per run): G
    and D only, with the history's scalars (status, step counts, times) and none of its
    per-step values; enough to sample and evaluate, not to train on.
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "variant": trainer.variant.name, "arch": trainer.arch,
        "config": asdict(trainer.config), "dataset": trainer.dataset_spec,
        "data_shape": list(trainer.data.shape), "num_classes": trainer.data.num_classes,
        "step": trainer.step, "history": trainer.history.to_dict(),
        "G": trainer.G.state_dict(), "D": trainer.D.state_dict(),
        "variant_state": {k: v.detach().cpu() for k, v in trainer.variant.state.items()},
    }
    if trainer.g_average is not None:
        state["G_ema"] = trainer.g_average.module.state_dict()
    if trainer.scaler is not None:
        state["grad_scaler"] = trainer.scaler.state_dict()
    if not optimizer:
        state["contents"] = "nets"  # compact: see CheckpointError in fit()
        state["history"] = {k: v for k, v in state["history"].items()
                            if not isinstance(v, (list, dict))}
        return state
    state["contents"] = "full"
    state.update(
        opt_g=trainer.opt_g.state_dict(), opt_d=trainer.opt_d.state_dict(),
        rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None})
    return state

def save(trainer, path, optimizer: bool = True) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename).

    ``optimizer=False`` writes a compact one (see :func:`state_of`).
    """
    path = Path(path)
    if trainer.dist and not trainer.dist.is_main:  # one checkpoint per run: rank 0's
        return path
    def write(tmp: str) -> None:
        try:
            torch.save(state_of(trainer, optimizer=optimizer), tmp)
        except RuntimeError as err:  # torch's writer says "file write failed" for a full disk
            raise OSError(f"cannot write checkpoint {path}: {err}") from err

    return atomic_write(path, write, fault_point="checkpoint-write")

def load_into(trainer, state: Dict[str, Any]) -> None:
    """Load a full checkpoint (training resumes exactly) or a compact one (nets only:
    the trainer then samples and evaluates but refuses to ``fit``)."""
    trainer.G.load_state_dict(state["G"])
    trainer.D.load_state_dict(state["D"])
    _load_variant_state(trainer, state.get("variant_state", {}))
    if trainer.g_average is not None:
        if "G_ema" not in state:
            raise CheckpointError(f"this run keeps an EMA of G (g_ema={trainer.config.g_ema}) but the "
                                  f"checkpoint holds none: it was trained without one")
        trainer.g_average.module.load_state_dict(state["G_ema"])
    if trainer.scaler is not None and "grad_scaler" in state:
        trainer.scaler.load_state_dict(state["grad_scaler"])
    trainer.step = state["step"]
    trainer.runner = None  # a captured graph holds the replaced state: capture again
    if "opt_g" not in state:  # compact: no optimizer, RNG or per-step history
        trainer.resumable = False
        History = type(trainer.history)
        trainer.history = History(**{k: v for k, v in state.get("history", {}).items()
                                     if k in {f.name for f in fields(History)}})
        return
    trainer.resumable = True
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    for opt in (trainer.opt_g, trainer.opt_d):  # the saved flags may be another device's or mode's
        optimizers.apply_optimizer_options(opt, trainer._opt_options)
    trainer.history = type(trainer.history).from_dict(state["history"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if trainer.dist:  # the saved RNG is rank 0's (CUDA included): each rank restarts its own stream
        trainer.seed_rank(trainer.step)
    elif rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])

def _load_variant_state(trainer, saved: Dict[str, Tensor]) -> None:
    """Copy a checkpoint's variant state into ``variant.state``, in place."""
    mine = trainer.variant.state
    if set(saved) != set(mine):
        raise CheckpointError(f"the checkpoint's state of variant {trainer.variant.name!r} holds "
                              f"{sorted(saved) or 'nothing'}, this version's {sorted(mine) or 'nothing'}")
    with torch.no_grad():
        for k, v in saved.items():
            mine[k].copy_(v)
