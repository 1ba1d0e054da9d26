"""The optimizers a variant can ask for (``--hp optimizer=NAME``): one entry each, here.

An entry says how to build the optimizer from a variant's hyperparameters, which
hyperparameters of its own it adds (only when chosen, so choosing Adam adds none and no
run id changes), and its fast-path flags on a device (fused kernels, ``capturable``
when a step may be captured as a CUDA graph: :func:`optimizer_options`, re-applied after
a checkpoint is loaded by :func:`apply_optimizer_options`). Adding an optimizer is one
``register_optimizer`` call.

- ``adam``: Adam (Kingma & Ba 2015), ``betas`` from the variant; DCGAN's setting.
- ``rmsprop``: RMSprop (Tieleman & Hinton 2012), as WGAN trains its critic.
- ``sgd``: SGD with momentum, as Goodfellow et al. 2014 trained (their code, goodfeli/
  adversarial: momentum 0.5 rising to 0.7); ``momentum`` defaults to 0.5.
- ``adamw``: AdamW (Loshchilov & Hutter 2019), ``weight_decay`` defaults to 0.01.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict

import torch

from ganzoo.registry import Registry

Flags = Callable[[torch.device, bool], Dict[str, Any]]  # (device, capturable) -> constructor flags


@dataclass(frozen=True)
class OptimizerKind:
    """How to build one kind of optimizer (see the module docstring)."""

    build: Callable[..., torch.optim.Optimizer]  # (params, hp, **flags) -> optimizer
    description: str
    hparams: Dict[str, Any] = field(default_factory=dict)  # its own hyperparameters and defaults
    flags: Flags = lambda device, capturable: {}
    fusable: bool = False  # has a fused implementation (throughput's plain loop may ask for it)


OPTIMIZERS: Registry = Registry("optimizer")


def register_optimizer(name: str, kind: OptimizerKind) -> OptimizerKind:
    return OPTIMIZERS.register(name, kind)


def build(params, hp: Dict[str, Any], lr: float, **flags) -> torch.optim.Optimizer:
    """The optimizer ``hp["optimizer"]`` over ``params`` (those that require grad) at ``lr``."""
    params = [p for p in params if p.requires_grad]
    return OPTIMIZERS.get(hp["optimizer"]).build(params, hp, lr=lr, **flags)


def optimizer_options(name: str, device: torch.device, capturable: bool) -> Dict[str, Any]:
    """The implementation flags of optimizer ``name`` on ``device`` (each kind's own, e.g.
    fused Adam on CPU and CUDA), with ``capturable=True`` (step counters on the device, no
    host read) when the step may be captured as a CUDA graph (:func:`ganzoo.perf.may_capture`)."""
    return OPTIMIZERS.get(name).flags(device, capturable)


def apply_optimizer_options(opt: torch.optim.Optimizer, options: Dict[str, Any]) -> None:
    """Re-apply implementation flags after ``load_state_dict`` (which brings back the
    saved run's flags, e.g. a CPU checkpoint resumed in a CUDA graph) and place each
    step counter where that implementation wants it."""
    if not options:
        return
    for group in opt.param_groups:
        group.update(options)
        on_device = bool(group.get("fused") or group.get("capturable"))
        for p in group["params"]:
            state = opt.state.get(p)
            if state and torch.is_tensor(state.get("step")):
                where = p.device if on_device else torch.device("cpu")
                state["step"] = state["step"].to(device=where, dtype=torch.float32)


def _adam_flags(device, capturable):
    # fused: one vectorised kernel over all parameters (CPU and CUDA); the for-loop default
    # makes ~10 passes per tensor.
    return {"fused": True if device.type in ("cpu", "cuda") else None, "foreach": None, "capturable": capturable}


register_optimizer("adam", OptimizerKind(
    build=lambda params, hp, lr, **f: torch.optim.Adam(params, lr=lr, betas=tuple(hp["betas"]), **f),
    description="Adam (Kingma & Ba 2015) with the variant's betas", flags=_adam_flags, fusable=True))
register_optimizer("rmsprop", OptimizerKind(
    build=lambda params, hp, lr, **f: torch.optim.RMSprop(params, lr=lr, **f),
    description="RMSprop (Tieleman & Hinton 2012), as WGAN trains",
    # no fused form: foreach on CUDA
    flags=lambda device, capturable: {"foreach": True if device.type == "cuda" else None,
                                      "capturable": capturable}))
register_optimizer("sgd", OptimizerKind(
    build=lambda params, hp, lr, **f: torch.optim.SGD(params, lr=lr, momentum=hp["momentum"], **f),
    description="SGD with momentum (Goodfellow et al. 2014 trained with momentum 0.5 to 0.7)",
    hparams={"momentum": 0.5},
    # SGD keeps no step counter, so a CUDA graph needs no capturable flag
    flags=lambda device, capturable: {"foreach": True if device.type == "cuda" else None}))
register_optimizer("adamw", OptimizerKind(
    build=lambda params, hp, lr, **f: torch.optim.AdamW(params, lr=lr, betas=tuple(hp["betas"]),
                                                        weight_decay=hp["weight_decay"], **f),
    description="AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay",
    hparams={"weight_decay": 0.01}, flags=_adam_flags, fusable=True))
