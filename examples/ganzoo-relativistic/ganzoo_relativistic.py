"""The relativistic standard GAN (RSGAN) as a ganzoo plugin, in one module.

Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from
standard GAN" (arXiv:1807.00734), eq. 4-5: D estimates how much more realistic a real
sample is than a fake one, C(x_r) − C(x_f), through the sigmoid:

    L_D = −E[log σ(C(x_r) − C(x_f))]        L_G = −E[log σ(C(x_f) − C(x_r))]

with x_r and x_f paired by position in the batch. The whole variant is its two losses:
a ``g_loss`` with a second parameter gets D's outputs on a real batch from ganzoo's
default G step (labels kept, no gradient to D, the batch counted in img/s). The package
registers it through the entry point group ``ganzoo.variants`` in its pyproject.toml: no
decorator, no edit to ganzoo.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo import Variant


class RelativisticGAN(Variant):
    """Relativistic standard GAN (Jolicoeur-Martineau 2018): D judges real relative to fake."""

    paper = "arXiv:1807.00734 (Jolicoeur-Martineau 2018, eq. 4-5)"
    # The paper's standard setting (section 4): Adam lr 2e-4, betas (0.5, 0.999), one D step.
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(-(d_real - d_fake)).mean()  # −log σ(C(x_r) − C(x_f))

    def g_loss(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return F.softplus(-(d_fake - d_real)).mean()  # −log σ(C(x_f) − C(x_r))
