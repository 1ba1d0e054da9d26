"""The original GAN of Goodfellow et al. 2014, in its two forms.

Both take D's logits and use softplus, which is the seed's Sigmoid + BCE written
without its numerical trouble (log of a saturated sigmoid) and safe under autocast:
log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant


@register_variant("vanilla")
class Vanilla(Variant):
    """Minimax GAN exactly as written: G minimises log(1 - D(G(z))) (Goodfellow et al. 2014)."""

    paper = "arXiv:1406.2661 (Goodfellow et al. 2014, eq. 1)"
    d_output = "logits"  # the logistic loss: D(x) = σ(output)
    defaults = dict(lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        # −[log D(x) + log(1 − D(G(z)))]
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        # log(1 − D(G(z))): saturates when D rejects the fakes confidently.
        return -F.softplus(d_fake).mean()


@register_variant("nsgan")
class NonSaturating(Vanilla):
    """Non-saturating GAN: G maximises log D(G(z)) (Goodfellow et al. 2014, section 3)."""

    paper = "arXiv:1406.2661 (Goodfellow et al. 2014, section 3)"

    def g_loss(self, d_fake: Tensor) -> Tensor:
        # −log D(G(z)): BCE of the fakes against label 1, as the seed's training code did.
        return F.softplus(-d_fake).mean()
