"""The relativistic average least-squares GAN (RaLSGAN) as a ganzoo plugin, in one module.

Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from
standard GAN" (arXiv:1807.00734), section 4.3 and appendix: the least-squares GAN made
relativistic-average, each sample's critic value C taken relative to the other batch's
mean:

    L_D = E[(C(x_r) − E C(x_f) − 1)²] + E[(C(x_f) − E C(x_r) + 1)²]
    L_G = E[(C(x_f) − E C(x_r) − 1)²] + E[(C(x_r) − E C(x_f) + 1)²]

as the paper writes them (some reimplementations halve both; with Adam the factor barely
matters). ganzoo has RSGAN and RaGAN in-tree; this one lives outside. The whole variant is
its two losses: a ``g_loss`` with a second parameter gets D's outputs on a real batch from
ganzoo's default G step (labels kept, no gradient to D, the batch counted in img/s). The
package registers it through the entry point group ``ganzoo.variants`` in its
pyproject.toml: no decorator, no edit to ganzoo.
"""
from __future__ import annotations

from torch import Tensor

from ganzoo import Variant


class RelativisticAverageLSGAN(Variant):
    """Relativistic average LSGAN (Jolicoeur-Martineau 2018): least squares on C relative to the other batch's mean."""

    paper = "arXiv:1807.00734 (Jolicoeur-Martineau 2018, section 4.3, RaLSGAN)"
    d_output = "scores"
    # The paper's standard setting (section 4.1): Adam lr 2e-4, betas (0.5, 0.999), one D step.
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return ((d_real - d_fake.mean() - 1) ** 2).mean() + ((d_fake - d_real.mean() + 1) ** 2).mean()

    def g_loss(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return ((d_fake - d_real.mean() - 1) ** 2).mean() + ((d_real - d_fake.mean() + 1) ** 2).mean()
