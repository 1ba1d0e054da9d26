"""The relativistic standard GAN (RSGAN) as a ganzoo plugin, in one module.

Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from
standard GAN" (arXiv:1807.00734), eq. 4-5: D estimates how much more realistic a real
sample is than a fake one, C(x_r) − C(x_f), through the sigmoid:

    L_D = −E[log σ(C(x_r) − C(x_f))]        L_G = −E[log σ(C(x_f) − C(x_r))]

with x_r and x_f paired by position in the batch. G's loss needs D's output on real
data too, so this variant overrides ``g_step``; D's step is ganzoo's default one
(``d_loss`` gets both outputs). The package registers it through the entry point
group ``ganzoo.variants`` in its pyproject.toml: no decorator, no edit to ganzoo.
"""
from __future__ import annotations

from typing import Dict

import torch.nn.functional as F
from torch import Tensor

from ganzoo import StepContext, Variant
from ganzoo.variants import d_logits, grad_norm


class RelativisticGAN(Variant):
    """Relativistic standard GAN (Jolicoeur-Martineau 2018): D judges real relative to fake."""

    paper = "arXiv:1807.00734 (Jolicoeur-Martineau 2018, eq. 4-5)"
    # The paper's standard setting (section 4): Adam lr 2e-4, betas (0.5, 0.999), one D step.
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(-(d_real - d_fake)).mean()  # −log σ(C(x_r) − C(x_f))

    def g_loss(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return F.softplus(-(d_fake - d_real)).mean()  # −log σ(C(x_f) − C(x_r))

    def g_step(self, ctx: StepContext) -> Dict[str, Tensor]:
        """One G update; unlike the default step, D also sees a real batch (no gradient to D)."""
        G, D = ctx.G, ctx.D
        real, _ = ctx.real_batch(ctx.batch_size)
        D.requires_grad_(False)
        try:
            with ctx.autocast():
                d_fake = d_logits(D(G(ctx.noise(), None), None))
                d_real = d_logits(D(real, None))
            loss = self.g_loss(d_fake, d_real)
            ctx.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            D.requires_grad_(True)
        logs = {"g_loss": loss.detach(), "grad_norm_g": grad_norm(G)}
        ctx.opt_g.step()
        return logs

    def real_images_per_step(self, batch_size: int) -> int:
        return (self.n_critic + 1) * batch_size  # the G step looks at a real batch too
