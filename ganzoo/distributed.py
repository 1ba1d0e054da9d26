"""One run on several processes (GPUs) with torch.distributed: data parallel GAN training.

``torchrun --nproc-per-node N -m ganzoo train VARIANT --dataset D ...`` (``python -m
torch.distributed.run`` is the same). Backend: NCCL where CUDA is present (rank r on
``cuda:LOCAL_RANK``), gloo on the CPU.

What each rank does, and why:
- **The same nets**: G and D are built from the run's seed on every rank, then rank 0's
  parameters and buffers are broadcast, so every rank starts from identical weights.
- **Its own data and noise**: each rank keeps its shard of the device-resident data (samples
  ``rank, rank + N, ...``) and reseeds its RNG with ``seed + rank`` after the nets are
  built, so the ranks draw different batches and different z.
- **Averaged gradients**: ``StepContext.step`` (the one place a variant's update is
  applied) all-reduces the optimizer's gradients to their mean over ranks before it
  steps (under loss scaling already in ``ctx.backward``, before the scaler checks them for
  inf, so that every rank skips the same steps). Every variant goes through it, custom steps included (Unrolled GAN, BEGAN), so no
  plugin needs a change. Where this is not "the same as one process on the global batch":
  whatever a loss computes over the batch is computed over each rank's batch, so the
  averaged gradient is the mean of per-rank gradients, not the global batch's:
  BatchNorm in training mode normalises with each rank's batch statistics (no SyncBatchNorm);
  RaGAN's averages E[C(x_r)], E[C(x_f)] and RSGAN's pairs are each rank's; PacGAN packs
  within a rank; Unrolled GAN's look-ahead D updates (``torch.autograd.grad`` inside its G
  step) use each rank's own gradients, only the updates actually applied are averaged; BEGAN
  clamps k_t to [0, 1] on each rank before the average. Penalty terms (WGAN-GP, R1, DRAGAN) are each rank's mean over its
  own batch, so their averaged gradient is the gradient of the mean over the global batch.
  The ``DistributedDataParallel`` wrapper is not used: a GAN step calls D several times per
  backward (real, fake, penalty) and freezes it for G's step, which DDP's reducer does not
  allow; the all-reduce at the step is the same averaging.
- **Spectral norm**: its power-iteration vector u is updated from the weights alone, which
  are identical on every rank, so u stays identical too. **BatchNorm** running statistics are
  each rank's own (they do not affect training-mode forwards); rank 0's are what is saved.
- **Variant state** (``self.state``, e.g. BEGAN's k_t, computed from each rank's losses) is
  averaged over ranks after every step, so it stays identical.
- **Learning rate**: unchanged. The global batch is ``batch_size × world_size``; the summary
  states both. Scale ``lr_g``/``lr_d`` yourself (``--hp``) if your protocol wants a rule.
- **Only rank 0 writes**: the checkpoint, ``summary.json`` and its output lines. Its logged
  losses are its own batch's. At the end the ranks check that their parameters agree
  (``summary["distributed"]["ranks_in_sync"]``).
- **Not yet**: the fast path (CUDA graphs, torch.compile) runs eagerly under several
  processes, and a resumed multi-process run restarts each rank's RNG from its seed and step
  (exact resume is single-process only).
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import nn


@dataclass(frozen=True)
class Dist:
    """This process's place in a multi-process run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(device: str = "auto") -> Optional[Dist]:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), or None (one process).
    ``device`` is the run's requested device: NCCL for CUDA, gloo for the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch.distributed as dist

    backend = "nccl" if _wants_cuda(device) else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        atexit.register(dist.destroy_process_group)
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(),
                local_rank=int(os.environ.get("LOCAL_RANK", "0")), backend=backend)


def _wants_cuda(requested: str) -> bool:
    return (requested == "auto" and torch.cuda.is_available()) or requested.startswith("cuda")


def collective_device(d: Dist) -> torch.device:
    """Where small tensors for a collective live: the rank's GPU under NCCL, else the CPU."""
    return torch.device(f"cuda:{d.local_rank}") if d.backend == "nccl" else torch.device("cpu")


def device_for(d: Dist, requested: str) -> str:
    """Rank r's device: ``cuda:LOCAL_RANK`` where CUDA is asked for (``auto`` with CUDA present,
    ``cuda`` or any ``cuda:N``: one GPU per rank), else the requested device."""
    return f"cuda:{d.local_rank}" if _wants_cuda(requested) else requested


def broadcast_modules(modules: Iterable[nn.Module]) -> None:
    """Rank 0's parameters and buffers onto every rank, in place."""
    import torch.distributed as dist

    with torch.no_grad():
        for module in modules:
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)


def average_gradients(optimizer: torch.optim.Optimizer, world_size: int) -> None:
    """Each gradient of ``optimizer``'s parameters → its mean over the ranks (in place)."""
    import torch.distributed as dist

    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one collective per step, not one per tensor
    dist.all_reduce(flat)
    flat.div_(world_size)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_tensors(tensors: Iterable[torch.Tensor], world_size: int) -> None:
    """Floating tensors (a variant's state) → their mean over the ranks, in place."""
    import torch.distributed as dist

    for t in tensors:
        if t.is_floating_point():
            dist.all_reduce(t)
            t.div_(world_size)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """Rank ``rank``'s RNG seed (after the nets are built, or on resume at ``step``): distinct
    for every (run seed, rank, step), so run seed 0's rank 1 never draws run seed 1's rank 0 noise."""
    return (seed * 1_000_003 + rank) * 1_000_033 + step


def first_divergence(step: Optional[int], device: torch.device) -> Optional[int]:
    """The earliest step at which any rank diverged (None where none did), on every rank."""
    import torch.distributed as dist

    t = torch.tensor([float("inf") if step is None else float(step)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return None if t.item() == float("inf") else int(t.item())


def rank0_decides(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag``, on every rank (e.g. whether to resume: a decision the ranks must share)."""
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item() > 0)


def ranks_in_sync(modules: Iterable[nn.Module], state: Iterable[torch.Tensor] = ()) -> bool:
    """Whether every rank holds rank 0's parameters and floating ``state`` tensors (a
    variant's, e.g. BEGAN's k_t) exactly (one all-reduce of the largest gap)."""
    import torch.distributed as dist

    params = [p.detach().reshape(-1) for m in modules for p in m.parameters()]
    params += [t.detach().reshape(-1).to(params[0].dtype) for t in state if t.is_floating_point()]
    mine = torch.cat(params).clone()
    reference = mine.clone()
    dist.broadcast(reference, src=0)
    gap = (mine - reference).abs().max().reshape(1)
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return bool(gap.item() == 0)
