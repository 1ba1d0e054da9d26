"""PacGAN (Lin, Khetan, Fanti & Oh 2018, arXiv:1712.04086): the discriminator judges m
samples at once, all real or all generated ("packing"), which penalises a generator that
covers few modes: a pack of fakes from a collapsed G looks alike, a pack of reals does not.

D's input is the m samples concatenated (2D points: m·2 features; images: along the
channels, m·C × H × W, as the authors' code does), built by the architecture for that
shape and wrapped by :class:`PackedDiscriminator`; G is unchanged. Each D decision uses m
samples, so a step of batch size B draws B·m real and B·m generated samples and D makes B
decisions: here the batch size counts packs, and img/s counts every sample. The loss is the standard
non-saturating GAN's, on which the paper packs.

``pack`` (m): 2 by default; the paper reports m = 2, 3, 4 (``--hp pack=3``). Other
settings as nsgan (Adam 2e-4, betas (0.5, 0.999), as in PacGAN's DCGAN experiments); on the
2D sets the paper used Adam 1e-4, β1 0.8 with its own 400-unit nets, which the suites say
they change.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from torch import Tensor, nn

from ganzoo.registry import register_variant
from ganzoo.variants.minimax import NonSaturating


class PackedDiscriminator(nn.Module):
    """Wraps a D built for packed input: takes ``[B·m, ...]`` samples, groups each run of
    m consecutive ones into one input (features or channels side by side), returns ``[B]``."""

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner, self.pack = inner, pack

    def forward(self, x: Tensor, y: Optional[Tensor] = None):
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"a packed D needs a multiple of {self.pack} samples, got {n}")
        packed = x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return self.inner(packed, None)


@register_variant("pacgan")
class PacGAN(NonSaturating):
    """PacGAN (Lin et al. 2018): D judges packs of m samples; non-saturating loss, m = 2."""

    paper = "arXiv:1712.04086 (Lin, Khetan, Fanti & Oh 2018, section 3)"
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1, pack=2)
    hp_minimum = {"pack": 1}  # 1: no packing

    @property
    def pack(self) -> int:
        return int(self.hp["pack"])

    def d_input_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return (self.pack * shape[0], *shape[1:])

    def prepare_nets(self, G: nn.Module, D: nn.Module):
        return G, PackedDiscriminator(D, self.pack)

    def train_step(self, ctx):
        # B packs: B·m samples through the default steps, D decides B times.
        return super().train_step(dataclasses.replace(ctx, batch_size=ctx.batch_size * self.pack))

    def real_images_per_step(self, batch_size: int) -> int:
        return super().real_images_per_step(batch_size * self.pack)
