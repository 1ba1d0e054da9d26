"""Relativistic GANs (Jolicoeur-Martineau 2018, arXiv:1807.00734): D estimates how much
more realistic real data is than fake, instead of how real each sample is.

With C the raw critic output (``d_real``, ``d_fake``) and σ the sigmoid:

- RSGAN (eq. 4-5, paired by position in the batch):
  L_D = −E[log σ(C(x_r) − C(x_f))],  L_G = −E[log σ(C(x_f) − C(x_r))];
- RaGAN, the relativistic *average* standard GAN (eq. 7-8, each sample against the
  other batch's mean):
  L_D = −E[log σ(C(x_r) − E C(x_f))] − E[log(1 − σ(C(x_f) − E C(x_r)))],
  L_G = −E[log σ(C(x_f) − E C(x_r))] − E[log(1 − σ(C(x_r) − E C(x_f)))].

Both are loss-only classes on the two-argument ``g_loss``: the default G step gives them
D's outputs on a real batch (labels kept for a conditional D, no gradient to D, counted
in img/s). Settings: the paper's standard setup (section 4.1, as DCGAN): Adam lr 2e-4,
betas (0.5, 0.999), one D step per G step.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant

PAPER_SETUP = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)


@register_variant("rsgan")
class RelativisticStandardGAN(Variant):
    """Relativistic standard GAN (Jolicoeur-Martineau 2018): D judges a real sample against a fake one."""

    paper = "arXiv:1807.00734 (Jolicoeur-Martineau 2018, eq. 4-5)"
    d_output = "scores"  # only differences of C pass through the sigmoid
    defaults = dict(PAPER_SETUP)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(-(d_real - d_fake)).mean()  # −log σ(C(x_r) − C(x_f))

    def g_loss(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return F.softplus(-(d_fake - d_real)).mean()  # −log σ(C(x_f) − C(x_r))


@register_variant("ragan")
class RelativisticAverageGAN(Variant):
    """Relativistic average GAN (Jolicoeur-Martineau 2018): each sample judged against the other batch's mean."""

    paper = "arXiv:1807.00734 (Jolicoeur-Martineau 2018, eq. 7-8, RaSGAN)"
    d_output = "scores"
    defaults = dict(PAPER_SETUP)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        # −log σ(r − E f) − log(1 − σ(f − E r)); log(1 − σ(l)) = −softplus(l)
        return F.softplus(-(d_real - d_fake.mean())).mean() + F.softplus(d_fake - d_real.mean()).mean()

    def g_loss(self, d_fake: Tensor, d_real: Tensor) -> Tensor:
        return F.softplus(-(d_fake - d_real.mean())).mean() + F.softplus(d_real - d_fake.mean()).mean()
