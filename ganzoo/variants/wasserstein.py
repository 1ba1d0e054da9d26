"""Wasserstein GANs: a critic that estimates the earth mover's distance.

The critic's output is a score, not a logit. Its Lipschitz constraint is what tells
the two variants apart: WGAN clips the critic's weights after every critic step,
WGAN-GP penalises the critic's gradient norm on random interpolates of real and
fake samples (and so wants a critic without BatchNorm, paper section 4).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant
from ganzoo.variants.penalties import gradient_penalty, random_interpolates


class _WassersteinLoss(Variant):
    """The critic loss E[D(G(z))] − E[D(x)] and the generator loss −E[D(G(z))]."""

    d_output = "critic"
    preferred_arch = {"image": "dcgan"}

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_fake.mean() - d_real.mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()


@register_variant("wgan")
class WGAN(_WassersteinLoss):
    """Wasserstein GAN with weight clipping (Arjovsky et al. 2017): RMSprop, clip ±0.01, 5 critic steps.

    Defaults from Algorithm 1 of the paper: α = 5e-5, c = 0.01, n_critic = 5, RMSProp
    (section 3: momentum-based optimisers such as Adam made the critic unstable).
    The schedule of the authors' code (100 critic steps for the first 25 and every
    500th generator step) is not in Algorithm 1 and is left out.
    """

    paper = "arXiv:1701.07875 (Arjovsky, Chintala & Bottou 2017, Algorithm 1)"
    defaults = dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5, clip=0.01)

    def after_d_step(self, D: nn.Module) -> None:
        c = float(self.hp["clip"])
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-c, c)


@register_variant("wgan-gp")
class WGANGP(_WassersteinLoss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): λ=10, Adam(1e-4, 0, 0.9), 5 critic steps.

    Defaults from Algorithm 1 of the paper: λ = 10, n_critic = 5, Adam with α = 1e-4,
    β1 = 0, β2 = 0.9. The penalty λ E[(‖∇D(x̂)‖₂ − 1)²] is taken at x̂ = εx + (1 − ε)G(z),
    ε ~ U[0, 1] per sample. The critic has no BatchNorm (section 4: batch norm makes
    the per-sample penalty invalid); ``--hp d_norm=layer`` selects the layer
    normalisation the paper recommends instead, where the architecture has it.
    """

    paper = "arXiv:1704.00028 (Gulrajani et al. 2017, Algorithm 1)"
    defaults = dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5,
                    gp_weight=10.0, d_norm="none")

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor,
                  labels: Optional[Tensor], fake_labels: Optional[Tensor]) -> Tensor:
        x_hat = random_interpolates(fake, real)
        return self.hp["gp_weight"] * gradient_penalty(D, x_hat, labels if self.conditional else None)
