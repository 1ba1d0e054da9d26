"""The non-saturating GAN with a gradient penalty on D: R1 and DRAGAN.

Both keep the losses of the original GAN (D: cross-entropy; G: −log D(G(z)),
Goodfellow et al. 2014, section 3) and only add a penalty on D's input gradient;
they differ in where the gradient is taken: on the real data (R1) or around it
(DRAGAN). Penalties are computed in float32 (see ``ganzoo.variants.penalties``).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ganzoo.registry import register_variant
from ganzoo.variants.minimax import NonSaturating
from ganzoo.variants.penalties import gradient_penalty, squared_gradient_norm


@register_variant("r1")
class R1(NonSaturating):
    """Non-saturating GAN + R1 penalty γ/2·E‖∇D(x_real)‖² (Mescheder et al. 2018), γ=10, RMSprop(1e-4).

    R1 (section 4.1): γ/2 · E_{x~data}[‖∇D(x)‖²], on real data only. Defaults from the
    authors' code for the paper's image experiments (LMescheder/GAN_stability,
    configs/default.yaml): γ = 10 (``reg_param: 10``, ``reg_type: real``), RMSProp
    with learning rate 1e-4 for G and D (PyTorch's α = 0.99), one D step per G step,
    the non-saturating loss (``gan_type: standard``). γ = 10 is kept for every data
    set: the toys are unit-scale like images in [-1, 1]; a smaller γ is an ``--hp``.
    """

    paper = "arXiv:1801.04406 (Mescheder, Geiger & Nowozin 2018, section 4.1)"
    defaults = dict(optimizer="rmsprop", lr_g=1e-4, lr_d=1e-4, n_critic=1, r1_gamma=10.0,
                    d_norm="none")
    preferred_arch = {"image": "dcgan"}

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor,
                  labels: Optional[Tensor], fake_labels: Optional[Tensor]) -> Tensor:
        labels = labels if self.conditional else None
        return 0.5 * self.hp["r1_gamma"] * squared_gradient_norm(D, real, labels)


def dragan_points(real: Tensor, spread: float = 0.5) -> Tensor:
    """Random points around the real batch, as the DRAGAN authors' code draws them.

    x_p = x + spread · std(x) · U[0, 1] (std over the whole batch, U elementwise), then
    x̂ = x + α(x_p − x) with one α ~ U[0, 1] per sample.
    """
    x = real.detach().float()
    perturbed = x + spread * x.std() * torch.rand_like(x)
    alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device)
    return x + alpha * (perturbed - x)


@register_variant("dragan")
class DRAGAN(NonSaturating):
    """Non-saturating GAN + gradient penalty around perturbed real data (Kodali et al. 2017), λ=10.

    Defaults from the authors' code (kodalinaveen3/DRAGAN, DRAGAN.ipynb), which the
    paper's experiments used: λ = 10, target norm k = 1, perturbation
    x + 0.5·std(x)·U[0, 1] with a random interpolation towards it, Adam α = 1e-4,
    β1 = 0.5, β2 = 0.9, one D step per G step. No BatchNorm in D (a per-sample penalty).
    """

    paper = "arXiv:1705.07215 (Kodali, Abernethy, Hays & Kira 2017)"
    defaults = dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), n_critic=1,
                    gp_weight=10.0, perturb=0.5, d_norm="none")
    preferred_arch = {"image": "dcgan"}

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor,
                  labels: Optional[Tensor], fake_labels: Optional[Tensor]) -> Tensor:
        points = dragan_points(real, self.hp["perturb"])
        return self.hp["gp_weight"] * gradient_penalty(D, points, labels if self.conditional else None)
