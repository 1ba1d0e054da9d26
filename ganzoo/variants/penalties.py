"""Gradient penalties on D's input and the other helpers penalised variants share.

Every penalty here differentiates D's output with respect to its input with
``create_graph=True``, so the penalty itself trains D (a double backward pass).
They run in float32 with autocast switched off: a squared gradient norm in bf16
loses most of its digits, and the penalty is a small number added to D's loss.
D's parameters must take gradients (they do inside ``Variant.d_step``).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ganzoo.variants.base import d_logits


def input_gradients(D: nn.Module, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
    """∇ₓ D(x) for every sample, flattened to ``[B, features]``, in float32.

    ``x`` is detached first: the penalty trains D, not whatever produced ``x``.
    """
    x = x.detach().float().requires_grad_(True)
    # The backward pass too: with create_graph=True its ops are dispatched (and autocast) anew.
    with torch.autocast(x.device.type, enabled=False):
        out = d_logits(D(x, labels))
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(D: nn.Module, points: Tensor, labels: Optional[Tensor] = None,
                     target: float = 1.0) -> Tensor:
    """E[(‖∇D(x̂)‖₂ − target)²] over ``points`` (Gulrajani et al. 2017, eq. 3, without λ)."""
    norms = torch.linalg.vector_norm(input_gradients(D, points, labels), dim=1)
    return (norms - target).pow(2).mean()


def squared_gradient_norm(D: nn.Module, points: Tensor, labels: Optional[Tensor] = None) -> Tensor:
    """E[‖∇D(x)‖₂²] over ``points`` (the R1 regulariser of Mescheder et al. 2018, without γ/2)."""
    return input_gradients(D, points, labels).pow(2).sum(dim=1).mean()


def random_interpolates(a: Tensor, b: Tensor) -> Tensor:
    """a + ε(b − a) with one ε ~ U[0, 1] per sample, broadcast over its features."""
    eps = torch.rand((a.shape[0],) + (1,) * (a.dim() - 1), device=a.device, dtype=torch.float32)
    a, b = a.detach().float(), b.detach().float()
    return a + eps * (b - a)
