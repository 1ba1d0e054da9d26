"""Class-conditional GANs: the label reaches G, and D in one of three ways.

All three declare ``conditional = True``: the trainer then feeds the real labels with
real samples and uniform random labels with generated ones, to both nets, and
refuses an unlabelled dataset. G always takes the label as an embedding beside z
(or through conditional BatchNorm, per architecture); ``conditioning`` says how D
takes it:

- ``cgan``: concatenated to D's input (Mirza & Osindero 2014);
- ``acgan``: not at all; D predicts it with an auxiliary classifier (Odena et al. 2017);
- ``cgan-pd``: as an inner product of a label embedding with D's features
  (Miyato & Koyama 2018).
"""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from ganzoo.registry import register_variant
from ganzoo.variants.minimax import NonSaturating
from ganzoo.variants.spectral import SNGAN


@register_variant("cgan")
class ConditionalGAN(NonSaturating):
    """Conditional GAN (Mirza & Osindero 2014): G and D both take the label (concatenated).

    Loss: the GAN value function of eq. 2 with y given to both nets, trained in the
    non-saturating form (Goodfellow et al. 2014, section 3). The paper trained maxout
    MLPs with SGD (lr 0.1 decayed by 1/1.00004 per step, momentum 0.5 → 0.7, dropout),
    a schedule tied to those nets; ganzoo uses Adam(2e-4, β1 = 0.5) of DCGAN
    (Radford et al. 2016), as most re-implementations do, one D step per G step.
    Nets: the MLP, as in the paper, unless the user picks another.
    """

    paper = "arXiv:1411.1784 (Mirza & Osindero 2014, eq. 2)"
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1)
    conditional = True
    conditioning = "concat"


@register_variant("acgan")
class AuxiliaryClassifierGAN(NonSaturating):
    """AC-GAN (Odena, Olah & Shlens 2017): D has an auxiliary classifier; class loss on real and fake.

    D maximises L_S + L_C and G maximises L_C − L_S (section 3), where L_S is the
    real/fake log-likelihood (taken in the non-saturating form for G) and L_C the
    log-likelihood of the correct class, on real samples with their labels and on
    generated samples with the labels they were asked for. G's L_C has only the
    fake term (the real one does not depend on G). ``class_weight`` scales L_C
    (1 in the paper). Defaults from appendix (CIFAR-10/ImageNet): Adam α = 2e-4,
    β1 = 0.5, β2 = 0.999, one D step per G step.
    """

    paper = "arXiv:1610.09585 (Odena, Olah & Shlens 2017, section 3)"
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    class_weight=1.0)
    conditional = True
    conditioning = "auxiliary"
    preferred_arch = {"image": "dcgan"}

    def aux_losses(self, d_out_real, d_out_fake, labels: Tensor, fake_labels: Tensor) -> Tensor:
        loss = (F.cross_entropy(_class_logits(d_out_real), labels)
                + F.cross_entropy(_class_logits(d_out_fake), fake_labels))
        return self.hp["class_weight"] * loss

    def g_aux_loss(self, d_out_fake, fake_labels: Tensor) -> Optional[Tensor]:
        return self.hp["class_weight"] * F.cross_entropy(_class_logits(d_out_fake), fake_labels)


def _class_logits(d_out) -> Tensor:
    if not isinstance(d_out, tuple):
        raise TypeError("acgan needs a discriminator with an auxiliary classifier head "
                        "(conditioning='auxiliary'), which returns (logits, class_logits)")
    return d_out[1].float()


@register_variant("cgan-pd")
class ProjectionCGAN(SNGAN):
    """cGAN with a projection discriminator (Miyato & Koyama 2018): D(x,y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩; hinge, SN.

    The label enters D only through the inner product of a learned class embedding
    with D's last features (eq. 3); G takes it through its embedding or conditional
    BatchNorm. As in the paper: hinge loss, spectral normalisation on every layer of
    D (the embedding too) and the authors' CIFAR-10 setting (pfnet-research/
    sngan_projection configs/sn_cifar10.yml): Adam α = 2e-4, β1 = 0, β2 = 0.9, n_dis = 5.
    """

    paper = "arXiv:1802.05637 (Miyato & Koyama 2018, eq. 3)"
    conditional = True
    conditioning = "projection"
