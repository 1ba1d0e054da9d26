"""Least-squares GAN (Mao et al. 2017): D regresses its output onto target codes.

With codes a (fake), b (real) for D and c (the value G wants D to give its fakes):

    min_D ½ E[(D(x) − b)²] + ½ E[(D(G(z)) − a)²]        min_G ½ E[(D(G(z)) − c)²]

ganzoo uses the paper's 0-1 coding, a = 0, b = c = 1 (eq. 9), which the paper uses
for its experiments ("we use Eq. (9) to train the models"; it performed like the
χ²-motivated a = −1, b = 1, c = 0 of eq. 8). Override with ``--hp fake_target=-1``,
``real_target=1``, ``g_target=0`` for eq. 8.
"""
from __future__ import annotations

from torch import Tensor

from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant


@register_variant("lsgan")
class LSGAN(Variant):
    """Least-squares GAN (Mao et al. 2017), 0-1 coding (a=0, b=c=1), Adam(2e-4, β1=0.5).

    Defaults: Adam with β1 = 0.5 (section 4.1); learning rate 2e-4, the paper's rate
    for its non-scene data (its LSUN scenes at 112×112 used 1e-3, the authors'
    train_lsun.py); one D step per G step. D's output is linear (no sigmoid).
    """

    paper = "arXiv:1611.04076 (Mao et al. 2017, eq. 9 and section 4.1)"
    d_output = "scores"  # regressed onto the a/b/c targets
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    fake_target=0.0, real_target=1.0, g_target=1.0)
    preferred_arch = {"image": "dcgan"}

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return 0.5 * ((d_real - self.hp["real_target"]).pow(2).mean()
                      + (d_fake - self.hp["fake_target"]).pow(2).mean())

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return 0.5 * (d_fake - self.hp["g_target"]).pow(2).mean()
