"""Training throughput of one configuration: images/s, s/kimg, ms/step, peak memory, MFU.

:func:`measure_throughput` trains a variant for a few steps through ganzoo's trainer
(any ``perf`` mode) and times it; with ``baseline=True`` it also times
:class:`PlainLoop` — a plain eager loop over the same nets, data, batch and losses —
in the same process, so the two numbers compare.

- Images: real samples shown to D per second (n_critic × batch per G step), the
  StyleGAN convention; s/kimg is its inverse per thousand. All rates come from
  :func:`ganzoo.speed.rates`, the one function that computes them.
- Peak memory: :class:`ganzoo.memory.TrainingPeakMemory`, as in a bench run.
- FLOPs per step: counted with :class:`torch.utils.flop_counter.FlopCounterMode` on one
  eager step (matmuls and convolutions, forward and backward, double backward too);
  the state is put back afterwards.
- MFU: achieved FLOP/s over the device's *measured* dense matmul peak at that
  precision (bf16 products for ``bf16``, TF32 for ``tf32``, fp32 for ``fp32``), as in
  PaLM's definition of model FLOPs utilisation (Chowdhery et al. 2022, appendix B).

Data may be a dataset name, a sample shape (synthetic data, uniform in [-1, 1] with
10 labels: throughput does not depend on the pixels), or a :class:`TensorData`.
This module imports no metrics code, so it runs where torch-fidelity is absent.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch

from ganzoo import perf as _perf
from ganzoo import precisions
from ganzoo.data.base import TensorData
from ganzoo.errors import ConfigError
from ganzoo.memory import TrainingPeakMemory
from ganzoo.speed import RATES, rates
from ganzoo.variants.base import d_logits

DataLike = Union[str, Sequence[int], TensorData]


# ---- data ----------------------------------------------------------------------------
def parse_shape(text: Union[str, Sequence[int]]) -> Tuple[int, ...]:
    """``"1x28x28"`` / ``(1, 28, 28)`` / ``"2"`` -> a sample shape."""
    try:
        shape = tuple(int(v) for v in (text.lower().split("x") if isinstance(text, str) else text))
    except (TypeError, ValueError):
        raise ConfigError(f"a sample shape is like '1x28x28', '3x64x64' or '2', got {text!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise ConfigError(f"a sample shape needs positive sizes, got {text!r}")
    return shape


def synthetic_samples(shape: Sequence[int], batch: int = 0) -> int:
    """How many synthetic samples to make: enough rows to gather from (at most 16,384, and
    at most ~256 MB of float32), but never fewer than one ``batch`` — the trainer refuses a
    batch larger than its dataset (the seed MLP at batch 32768 needs 32,768 rows)."""
    size = math.prod(parse_shape(shape))
    return max(256, int(batch), min(16384, 2 ** 26 // size))


def synthetic_data(shape: Sequence[int], n: Optional[int] = None, num_classes: int = 10,
                   device: Union[str, torch.device] = "cpu", seed: int = 0, batch: int = 0) -> TensorData:
    """Random samples of ``shape`` (uniform in [-1, 1]) with ``num_classes`` labels;
    ``n`` of them, else :func:`synthetic_samples` (at least ``batch``)."""
    shape = parse_shape(shape)
    if n is None:
        n = synthetic_samples(shape, batch)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=gen).mul_(2).sub_(1)
    y = torch.randint(num_classes, (n,), generator=gen) if num_classes > 0 else None
    name = "synthetic-" + "x".join(map(str, shape))
    return TensorData(name, x, y, num_classes=num_classes if num_classes > 0 else 0,
                      kind="points" if len(shape) == 1 else "image", source="synthetic").to(device)


def resolve_data(data: DataLike, device: torch.device, batch: int = 0) -> TensorData:
    """A dataset name, a sample shape (synthetic data, at least ``batch`` samples) or a
    :class:`TensorData`, on ``device``."""
    if isinstance(data, TensorData):
        return data.to(device)
    if isinstance(data, str) and not data.replace("x", "").isdigit():
        from ganzoo.data import load

        return load(data, device=device)
    return synthetic_data(data, device=device, batch=batch)


# ---- FLOPs and the device's peak ------------------------------------------------------
class _NoModuleTracking:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks break
    ``autograd.grad`` on leaf inputs (gradient penalties); only the total is needed."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def flops_per_step(trainer) -> int:
    """FLOPs of one training iteration of ``trainer`` (matmuls and convolutions, counted
    by FlopCounterMode on an eager step); every tensor and RNG state is put back."""
    from torch.utils.flop_counter import FlopCounterMode

    runner = _perf.EagerRunner(trainer, _perf.LogRow(trainer.variant.name))
    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _NoModuleTracking()
    snap = runner.snapshot()
    try:
        with precisions.precision_mode(trainer.config.precision, trainer.device), counter:
            runner.step()
    finally:
        snap.restore()
    return int(counter.get_total_flops())


def model_flops_utilisation(flops_per_step: float, steps: int, seconds: float, peak_flops: float) -> float:
    """MFU: the FLOPs a run's steps did per second, over the device's peak rate."""
    return flops_per_step * steps / seconds / peak_flops


_PEAKS: Dict[Tuple[str, str], float] = {}


def matmul_peak(device: Union[str, torch.device], precision: str = "fp32") -> float:
    """Measured dense matmul rate (FLOP/s) of ``device`` at ``precision``, cached per process.

    CUDA: 8192³ products (bf16 under ``bf16``, fp32 with TF32 under ``tf32``, true fp32
    under ``fp32``); CPU: 1024³ (bf16 under ``bf16``). The best of several timed runs.
    """
    device = torch.device(device)
    key = (str(device), precision)
    if key in _PEAKS:
        return _PEAKS[key]
    cuda = device.type == "cuda"
    n = 8192 if cuda else 1024
    dtype = precisions.get(precision).peak_dtype
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    best = math.inf
    with precisions.precision_mode(precision, device):
        for _ in range(3):
            a @ b
        for _ in range(5):
            reps = 10 if cuda else 3
            if cuda:
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            if cuda:
                torch.cuda.synchronize(device)
            best = min(best, (time.perf_counter() - t) / reps)
    _PEAKS[key] = 2.0 * n ** 3 / best
    return _PEAKS[key]


# ---- the plain loop -------------------------------------------------------------------
class PlainLoop:
    """A plain eager GAN loop over the same nets (copies), data, batch and losses as a
    trainer, written as a tutorial would: default optimizers (``fused=True`` on request),
    no logging, no grad norms, no framework. The baseline of the micro-benchmarks.

    Per iteration: n_critic D steps (real batch gathered on the device, fake from G
    under no_grad, the variant's D loss, penalty, auxiliary loss, after-step hook),
    then one G step with D frozen — the variant's math, nothing else. A variant that
    overrides ``train_step``, ``d_step`` or ``g_step`` runs its ``train_step`` bare.
    """

    def __init__(self, trainer, fused: bool = False):
        from ganzoo import optimizers
        from ganzoo.variants.base import Variant

        self.variant = type(trainer.variant)(**trainer.config.hparams)
        self.variant.state = {k: v.clone() for k, v in trainer.variant.state.items()}  # e.g. BEGAN's k_t
        self.G, self.D = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
        hp = self.variant.hp
        extra = {"fused": True} if fused and optimizers.OPTIMIZERS.get(hp["optimizer"]).fusable else {}
        self.opt_g = optimizers.build(self.G.parameters(), hp, hp["lr_g"], **extra)
        self.opt_d = optimizers.build(self.D.parameters(), hp, hp["lr_d"], **extra)
        self.x, self.y = trainer.data.x, trainer.data.y
        self.batch, self.z_dim, self.device = trainer.config.batch_size, trainer.config.z_dim, trainer.device
        self.num_classes = trainer.data.num_classes
        self.precision = trainer.config.precision
        self.autocast = precisions.autocast_factory(self.precision, self.device)
        # A variant that reshapes the update (its own train_step, d_step or g_step, e.g. a
        # relativistic G loss that needs D on real data) runs its own step bare.
        self.custom = any(getattr(type(self.variant), m) is not getattr(Variant, m)
                          for m in ("train_step", "d_step", "g_step"))
        # A scaler of its own (its scale is state): the baseline must not move the trainer's.
        scaler = torch.amp.GradScaler(self.device.type) if trainer.scaler is not None else None
        self.ctx = dataclasses.replace(trainer.context(), G=self.G, D=self.D, opt_g=self.opt_g,
                                       opt_d=self.opt_d, autocast=self.autocast, scaler=scaler)
        self.images_per_step = self.variant.real_images_per_step(self.batch)

    def step(self) -> None:
        v, G, D, B, dev = self.variant, self.G, self.D, self.batch, self.device
        if self.custom:
            v.train_step(self.ctx)
            return
        cond = v.conditional
        for _ in range(v.n_critic):
            idx = torch.randint(self.x.shape[0], (B,), device=dev)
            real, labels = self.x[idx], (self.y[idx] if cond else None)
            fake_labels = torch.randint(self.num_classes, (B,), device=dev) if cond else None
            with torch.no_grad(), self.autocast():
                fake = G(torch.randn(B, self.z_dim, device=dev), fake_labels)
            with self.autocast():
                out_real, out_fake = D(real, labels), D(fake, fake_labels)
            loss = v.d_loss(d_logits(out_real), d_logits(out_fake))
            aux = v.aux_losses(out_real, out_fake, labels, fake_labels)
            if aux is not None:
                loss = loss + aux
            penalty = v.d_penalty(D, real, fake, labels, fake_labels)
            if penalty is not None:
                loss = loss + penalty
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
            v.after_d_step(D)
        fake_labels = torch.randint(self.num_classes, (B,), device=dev) if cond else None
        D.requires_grad_(False)
        with self.autocast():
            out_fake = D(G(torch.randn(B, self.z_dim, device=dev), fake_labels), fake_labels)
        if v.g_loss_sees_real():
            idx = torch.randint(self.x.shape[0], (B,), device=dev)
            with torch.no_grad(), self.autocast():
                out_real = D(self.x[idx], self.y[idx] if cond else None)
            loss = v.g_loss(d_logits(out_fake), d_logits(out_real))
        else:
            loss = v.g_loss(d_logits(out_fake))
        aux = v.g_aux_loss(out_fake, fake_labels)
        if aux is not None:
            loss = loss + aux
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        D.requires_grad_(True)
        self.opt_g.step()

    def run(self, steps: int) -> None:
        with precisions.precision_mode(self.precision, self.device):
            for _ in range(steps):
                self.step()


# ---- measuring ----------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run, steps: int, device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    run(steps)
    _sync(device)
    return time.perf_counter() - t


def _calibrate(run, device: torch.device, seconds: float, probe: int = 5) -> int:
    """Steps that take about ``seconds`` (from a short timed probe, after warm-up)."""
    dt = _timed(run, probe, device)
    return max(probe, int(seconds * probe / max(dt, 1e-9)))


def make_trainer(variant, arch: Optional[str] = None, data: DataLike = "1x28x28", *, batch: int = 64,
                 precision: str = "fp32", perf: str = "auto", device: str = "auto", seed: int = 0,
                 hparams: Optional[Dict[str, Any]] = None, z_dim: int = 100):
    """The trainer :func:`measure_throughput` times: ``data`` resolved on the device
    (synthetic data holds at least one batch), no evaluation, logging once in a long while."""
    from ganzoo.trainer import TrainConfig, Trainer, pick_device

    dev = pick_device(device)
    tensors = resolve_data(data, dev, batch=batch)
    config = TrainConfig(steps=10 ** 9, batch_size=batch, seed=seed, z_dim=z_dim, device=str(dev),
                         precision=precision, perf=perf, log_every=10 ** 6, hparams=dict(hparams or {}))
    return Trainer(variant, tensors, arch=arch, config=config)


def measure_throughput(variant, arch: Optional[str] = None, data: DataLike = "1x28x28",
                       batch: int = 64, precision: str = "fp32", perf: str = "auto",
                       steps: Optional[int] = None, *, seconds: float = 2.0, warmup: int = 6,
                       device: str = "auto", seed: int = 0, hparams: Optional[Dict[str, Any]] = None,
                       z_dim: int = 100, baseline: bool = False, flops: bool = True,
                       peak: bool = True) -> Dict[str, Any]:
    """Train ``variant`` for ``steps`` G steps (after ``warmup``; ``steps=None``: as many
    as fit in about ``seconds``) and return its throughput::

        {variant, arch, data, shape, batch, precision, perf, perf_used, notices, device,
         steps, img_per_s, s_per_kimg, g_steps_per_s, ms_per_step, peak_mem_mib,
         peak_mem_kind, flops_per_img, flops_per_step, flops_error, channels_last, peak_tflops,
         mfu, status, torch, (baseline=True) plain_img_per_s, plain_ms_per_step, speedup}

    ``perf`` is the trainer's mode (auto, eager, graph, compile). The rates come from
    :func:`ganzoo.speed.rates`, as a bench run's do. ``peak_mem_mib`` /
    ``peak_mem_kind``: peak memory of the warm-up and timed steps, as a bench run measures it
    (:class:`ganzoo.memory.TrainingPeakMemory`: CUDA's max allocated; on CPU the
    process's peak resident set). ``mfu`` needs ``flops``
    and ``peak``; when counting FLOPs fails, ``flops_error`` says why, ``mfu`` is None and
    the rates are measured all the same. ``status`` is "diverged" when a loss became non-finite (the rate is
    still a rate).
    """
    from ganzoo.trainer import device_name

    mode = perf
    trainer = make_trainer(variant, arch, data, batch=batch, precision=precision, perf=perf, device=device,
                           seed=seed, hparams=hparams, z_dim=z_dim)
    dev, tensors = trainer.device, trainer.data
    notices = []
    step_flops, flops_error = None, None
    if flops:  # MFU is a nicety: a FlopCounter that breaks (another torch) costs the MFU, not the row
        try:
            step_flops = flops_per_step(trainer)
        except Exception as err:  # noqa: BLE001
            flops_error = _perf.first_line(err)
            notices.append(f"no MFU: counting FLOPs failed ({flops_error})")
    if dev.type == "cuda":
        torch.cuda.empty_cache()  # blocks cached by earlier work do not count
    memory = TrainingPeakMemory(dev)  # from here on: warm-up, calibration, timed steps

    def run(n: int) -> None:
        trainer.fit(trainer.step + n)

    run(warmup)
    calibrate = steps is None
    if calibrate:
        steps = _calibrate(run, dev, seconds)
    elapsed = _timed(run, steps, dev)
    per_step = trainer.images_per_step
    speed = rates(steps * per_step, steps, elapsed)
    peak_mem = memory.result()
    result: Dict[str, Any] = {
        "variant": trainer.variant.name, "arch": trainer.arch, "data": tensors.name,
        "shape": list(tensors.shape), "batch": batch, "n_critic": trainer.variant.n_critic,
        "precision": precision, "perf": mode, "perf_used": trainer.runner.mode,
        "notices": list(trainer.runner.notices) + notices, "device": device_name(dev), "steps": steps,
        **{k: speed[k] for k in RATES}, **peak_mem,
        "flops_per_step": step_flops, "flops_per_img": step_flops / per_step if step_flops else None,
        "flops_error": flops_error, "channels_last": trainer.channels_last,
        "peak_tflops": None, "mfu": None, "status": trainer.history.status, "torch": torch.__version__,
    }
    if peak:
        rate = matmul_peak(dev, precision)
        result["peak_tflops"] = rate / 1e12
        if step_flops:
            result["mfu"] = model_flops_utilisation(step_flops, steps, elapsed, rate)
    if baseline:
        plain = PlainLoop(trainer)
        plain.run(warmup)
        plain_steps = _calibrate(plain.run, dev, seconds) if calibrate else steps
        dt = _timed(plain.run, plain_steps, dev)
        plain_speed = rates(plain_steps * plain.images_per_step, plain_steps, dt)
        result["plain_img_per_s"] = plain_speed["img_per_s"]
        result["plain_ms_per_step"] = plain_speed["ms_per_step"]
        result["speedup"] = speed["img_per_s"] / plain_speed["img_per_s"]
    return result
