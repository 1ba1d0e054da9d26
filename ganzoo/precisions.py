"""The numeric precisions a run can train at (``--precision NAME``): one entry each, here.

An entry says what autocast computes products in, whether CUDA's fp32 work outside
autocast may use TF32, whether losses are scaled (a gradient scaler, for formats whose
small gradients underflow), how far a CUDA-graph replay may drift from the eager step
before the fast path refuses it, and the dtype of the matmul peak that MFU divides by.
The trainer, the fast path (ganzoo.perf), the throughput probes, the suites and the CLI
all read these entries; adding a precision is one ``register_precision`` call. What a
precision sets while a run trains lives here too: the CUDA flags (:func:`precision_mode`,
TF32 and cuDNN autotuning, put back afterwards) and the autocast context of a step
(:func:`autocast_factory`).

- ``fp32``: true fp32 everywhere (TF32 off).
- ``tf32``: fp32 tensors, CUDA matmuls and convolutions in TF32.
- ``bf16``: bf16 autocast (Micikevicius et al. 2018 for mixed precision; bf16 keeps fp32's
  range, so no loss scaling), TF32 for the fp32 work left outside autocast.
- ``fp16``: fp16 autocast with dynamic loss scaling (Micikevicius et al. 2018): losses are
  scaled in ``ctx.backward`` and a step with non-finite gradients is skipped in
  ``ctx.step`` (torch.amp.GradScaler). The scaler reads found-inf on the host, so the
  CUDA-graph fast path is not used under it.

On a device other than CUDA, TF32 does not exist and autocast runs on that device's own
kernels (bf16 on a CPU is slow on most CPUs: for parity checks, not speed).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple

import torch

from ganzoo.registry import Registry


@dataclass(frozen=True)
class PrecisionMode:
    """One precision (see the module docstring)."""

    description: str
    autocast_dtype: Optional[torch.dtype] = None  # products inside ctx.autocast(); None: no autocast
    tf32: bool = False  # CUDA fp32 matmuls / convolutions outside autocast in TF32
    grad_scaler: bool = False  # scale losses (torch.amp.GradScaler) in ctx.backward / ctx.step
    replay_tolerance: float = 2e-3  # a CUDA-graph replay's logs may differ from eager by this much
    peak_dtype: torch.dtype = torch.float32  # the matmul peak MFU is measured against


PRECISIONS: Registry = Registry("precision")


def register_precision(name: str, mode: PrecisionMode) -> PrecisionMode:
    return PRECISIONS.register(name, mode)


def get(name: str) -> PrecisionMode:
    return PRECISIONS.get(name)


register_precision("fp32", PrecisionMode("true fp32 (TF32 off)"))
register_precision("tf32", PrecisionMode("fp32 tensors; CUDA matmuls and convolutions in TF32", tf32=True))
register_precision("bf16", PrecisionMode("bf16 autocast; TF32 for the fp32 work outside it",
                                         autocast_dtype=torch.bfloat16, tf32=True, replay_tolerance=5e-2,
                                         peak_dtype=torch.bfloat16))
register_precision("fp16", PrecisionMode("fp16 autocast with dynamic loss scaling (Micikevicius et al. 2018)",
                                         autocast_dtype=torch.float16, tf32=True, grad_scaler=True,
                                         replay_tolerance=5e-2, peak_dtype=torch.float16))


# ---- settings while a run trains -------------------------------------------------
class PrecisionFlags:
    """The CUDA flags of one precision, set while entered and put back on exit: TF32 for
    matmuls and convolutions under a precision with ``tf32`` (the fp32 work left outside
    autocast), true fp32 otherwise; cuDNN autotuning on. Nothing changes on other devices.

    ``paused()`` puts the outer flags back for a while, e.g. for evaluation inside a
    training run (the metrics' own nets run at default precision, the same for every run).
    """

    def __init__(self, precision: str, device: torch.device):
        self.precision, self.device = precision, device
        self._saved: Optional[Tuple[str, bool, bool]] = None

    def __enter__(self) -> "PrecisionFlags":
        if self.device.type == "cuda":
            tf32 = get(self.precision).tf32
            self._saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32,
                           torch.backends.cudnn.benchmark)
            torch.set_float32_matmul_precision("high" if tf32 else "highest")
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cudnn.benchmark = True
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            matmul, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = self._saved
            torch.set_float32_matmul_precision(matmul)
            self._saved = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The flags from before ``__enter__`` inside the block, this precision's again after it."""
        self.__exit__(None, None, None)
        try:
            yield
        finally:
            self.__enter__()


def precision_mode(precision: str, device: torch.device) -> PrecisionFlags:
    """``with precision_mode(name, device):`` runs its block under that precision's CUDA flags."""
    return PrecisionFlags(precision, device)


def autocast_factory(precision: str, device: torch.device, cache: bool = True) -> Callable[[], Any]:
    """``ctx.autocast``: autocast to the precision's dtype (bf16 under ``bf16``), nothing where
    it has none. CUDA graphs need ``cache=False`` (the autocast weight cache would hold
    tensors across capture)."""
    dtype = get(precision).autocast_dtype
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=cache)
