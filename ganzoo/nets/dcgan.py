"""DCGAN-style convolutional G and D (Radford, Metz & Chintala 2016, arXiv:1511.06434).

As in the paper (section 3): G is a stack of fractionally-strided 4×4 convolutions,
each followed by BatchNorm and ReLU, with a Tanh output; D is a stack of strided 4×4
convolutions with LeakyReLU(0.2), no normalisation on its first layer, no pooling and
no hidden fully connected layer; weights start from N(0, 0.02).

Two widths are registered: ``dcgan`` (ngf = ndf = 64, the paper's) and ``dcgan-small``
(32: half the channels, about a quarter of the multiply-adds), for CPU budgets such as the
quick suite's; it is the same net otherwise.

Sizes: the smallest feature map is 4×4 for 32 and 64 px images (the paper's 64 px
nets, widths 512-256-128-64; 32 px drops the first), 7×7 for 28 px (MNIST-style,
widths 128-64) and 2×2 for the 8 px scikit-learn digits (widths 128-64). Any number
of channels.

Normalisation in D (``d_norm``): "batch" (the paper's), "layer" (per-sample, over
C×H×W: GroupNorm with one group, the drop-in the WGAN-GP paper recommends) or "none"
(for critics under a gradient penalty, or spectrally normalised). Spectral norm is
never built in: a variant adds it in ``prepare_nets``.

Labels: G takes a learned class embedding (as wide as the class count) beside z;
D takes it per ``conditioning``: "concat" as extra constant input channels,
"projection" / "auxiliary" through :class:`~ganzoo.nets.common.DiscriminatorHead`
on D's flattened last features.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ganzoo.errors import ConfigError
from ganzoo.nets.common import DiscriminatorHead, LabelEmbedding, check_conditioning
from ganzoo.registry import ARCHS

# image side -> side of the smallest feature map
BASE_SIDE = {8: 2, 28: 7, 32: 4, 64: 4}
D_NORMS = ("batch", "layer", "none")
WIDTH = 64  # ngf = ndf of the paper
SMALL_WIDTH = 32  # dcgan-small


def image_shape(arch: str, shape, sides) -> Tuple[int, int]:
    """(channels, side) of a square image ``shape`` (C, H, W), or a clear error."""
    shape = tuple(shape)
    valid = ", ".join(f"{s}×{s}" for s in sorted(sides))
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in sides or shape[0] < 1:
        raise ConfigError(f"architecture {arch!r} builds nets for square images (C, H, W) of "
                         f"{valid} pixels; got samples of shape {list(shape)} (pick another "
                         f"architecture with --arch, e.g. mlp)")
    return shape[0], shape[1]


def check_d_norm(arch: str, d_norm: Optional[str], valid, default: str) -> str:
    if d_norm is None:
        return default
    if d_norm not in valid:
        raise ConfigError(f"architecture {arch!r} supports d_norm {', '.join(map(repr, valid))}; "
                         f"got {d_norm!r}")
    return d_norm


def label_maps(label: LabelEmbedding, x: Tensor, y: Optional[Tensor]) -> Tensor:
    """``x`` with the label embedding appended as constant channels (concat conditioning)."""
    if label.embed is None:
        return x
    if y is None:
        raise ValueError("this discriminator is conditional: pass the labels y")
    maps = label.embed(y).to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, maps], dim=1)


def _d_norm_layer(d_norm: str, channels: int) -> nn.Module:
    if d_norm == "batch":
        return nn.BatchNorm2d(channels)
    if d_norm == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights for convolutions and linear layers, N(1, 0.02) for norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, side: int, num_classes: int = 0,
                 width: int = WIDTH):
        super().__init__()
        base = BASE_SIDE[side]
        ups = int(math.log2(side // base))
        self.label = LabelEmbedding(num_classes, num_classes)
        in_dim = z_dim + (num_classes if self.label.embed is not None else 0)
        ch = width * 2 ** (ups - 1)
        layers = [nn.ConvTranspose2d(in_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = self.label.concat(z, y)
        return self.net(h[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, side: int, num_classes: int = 0, conditioning: str = "none",
                 d_norm: str = "batch", width: int = WIDTH):
        super().__init__()
        base = BASE_SIDE[side]
        downs = int(math.log2(side // base))
        concat = conditioning == "concat"
        self.label = LabelEmbedding(num_classes if concat else 0, num_classes if concat else 0)
        in_ch = channels + (num_classes if concat else 0)
        layers = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # no norm on the first layer
        ch = width
        for _ in range(downs - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=d_norm != "batch"),
                       _d_norm_layer(d_norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.head = DiscriminatorHead(ch * base * base, num_classes, conditioning)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Optional[Tensor] = None):
        return self.head(self.body(label_maps(self.label, x, y)).flatten(1), y)


def _build(arch: str, shape, z_dim: int, num_classes: int, conditioning: str,
           d_norm: Optional[str], width: int):
    channels, side = image_shape(arch, shape, BASE_SIDE)
    conditioning = check_conditioning(conditioning, num_classes)
    d_norm = check_d_norm(arch, d_norm, D_NORMS, default="batch")
    g_classes = num_classes if conditioning != "none" else 0
    G = DCGANGenerator(z_dim, channels, side, g_classes, width)
    D = DCGANDiscriminator(channels, side, num_classes, conditioning, d_norm, width)
    return G, D


@ARCHS.register("dcgan")
def build_dcgan(shape, z_dim: int = 100, num_classes: int = 0, conditioning: str = "none",
                d_norm: Optional[str] = None):
    """DCGAN conv G and D (Radford et al. 2016) for 8, 28, 32 and 64 px images; BatchNorm in G."""
    return _build("dcgan", shape, z_dim, num_classes, conditioning, d_norm, WIDTH)


@ARCHS.register("dcgan-small")
def build_dcgan_small(shape, z_dim: int = 100, num_classes: int = 0, conditioning: str = "none",
                      d_norm: Optional[str] = None):
    """The DCGAN nets at half width (ngf = ndf = 32), for CPU budgets."""
    return _build("dcgan-small", shape, z_dim, num_classes, conditioning, d_norm, SMALL_WIDTH)
