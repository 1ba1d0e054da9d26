"""Fully connected G and D: the seed's MLP GAN, and its scaled forms.

For 28×28 images the nets are exactly the seed's (the MLP GAN of Goodfellow et al.
2014 as the seed wrote it): G 100-256-512-1024-784 with ReLU and a Tanh output,
D 784-1024-512-256-1 with ReLU (the Sigmoid lives in the loss, which takes logits).
Other image sizes keep these hidden widths and change only the input/output layer.
2D toy data use 3 hidden layers of 256 units in both nets (ReLU, linear output),
the size used in the mode-collapse papers' toy experiments (128–512 units).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

from torch import Tensor, nn

from ganzoo.errors import ConfigError
from ganzoo.nets.common import DiscriminatorHead, LabelEmbedding, check_conditioning
from ganzoo.registry import ARCHS

SEED_G_HIDDEN = (256, 512, 1024)
SEED_D_HIDDEN = (1024, 512, 256)
TOY_HIDDEN = (256, 256, 256)


def _stack(sizes: Sequence[int], activation=nn.ReLU) -> nn.Sequential:
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, shape: Tuple[int, ...], hidden: Sequence[int],
                 num_classes: int = 0, embed_dim: int = 0, tanh: bool = True, activation=nn.ReLU):
        super().__init__()
        self.shape = tuple(shape)
        self.label = LabelEmbedding(num_classes, embed_dim)
        self.body = _stack([z_dim + self.label.dim * (self.label.embed is not None), *hidden], activation)
        self.out = nn.Linear(hidden[-1], math.prod(shape))
        self.act = nn.Tanh() if tanh else nn.Identity()

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.body(self.label.concat(z, y))
        return self.act(self.out(h)).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, shape: Tuple[int, ...], hidden: Sequence[int], num_classes: int = 0,
                 conditioning: str = "none", embed_dim: int = 0, activation=nn.ReLU):
        super().__init__()
        concat = conditioning == "concat"
        self.label = LabelEmbedding(num_classes if concat else 0, embed_dim if concat else 0)
        in_dim = math.prod(shape) + (self.label.dim if concat else 0)
        self.body = _stack([in_dim, *hidden], activation)
        self.head = DiscriminatorHead(hidden[-1], num_classes, conditioning)

    def forward(self, x: Tensor, y: Tensor | None = None):
        h = self.body(self.label.concat(x.flatten(1), y))
        return self.head(h, y)


def _build(shape, z_dim, num_classes, conditioning, d_norm, arch, g_hidden, d_hidden, activation):
    conditioning = check_conditioning(conditioning, num_classes)
    if d_norm not in (None, "none"):  # a variant's net option: this D has no normalisation layers
        raise ConfigError(f"architecture {arch!r} has no normalisation in D: d_norm must be 'none', got {d_norm!r}")
    # Label embeddings as wide as the class count (one-hot-like), as in Mirza & Osindero.
    embed = num_classes if conditioning != "none" else 0
    G = MLPGenerator(z_dim, shape, g_hidden, num_classes if conditioning != "none" else 0,
                     embed, tanh=len(shape) != 1, activation=activation)
    D = MLPDiscriminator(shape, d_hidden, num_classes, conditioning, embed, activation=activation)
    return G, D


@ARCHS.register("mlp")
def build_mlp(shape: Tuple[int, ...], z_dim: int = 100, num_classes: int = 0,
              conditioning: str = "none", d_norm: str | None = None):
    """The seed's MLP GAN (G 100-256-512-1024-784, D 784-1024-512-256-1); 3×256 for 2D data."""
    points = len(shape) == 1
    g_hidden, d_hidden = (TOY_HIDDEN, TOY_HIDDEN) if points else (SEED_G_HIDDEN, SEED_D_HIDDEN)
    return _build(shape, z_dim, num_classes, conditioning, d_norm, "mlp", g_hidden, d_hidden, nn.ReLU)


@ARCHS.register("mlp-small")
def build_mlp_small(shape: Tuple[int, ...], z_dim: int = 100, num_classes: int = 0,
                    conditioning: str = "none", d_norm: str | None = None):
    """The seed's MLP at half width (G 100-128-256-512-out, D in-512-256-128-1), for small images."""
    if len(shape) == 1:
        raise ConfigError("architecture 'mlp-small' is for images; for 2D points use --arch mlp or toy-mlp")
    half = [tuple(w // 2 for w in h) for h in (SEED_G_HIDDEN, SEED_D_HIDDEN)]
    return _build(shape, z_dim, num_classes, conditioning, d_norm, "mlp-small", *half, nn.ReLU)


# The toy nets of the Unrolled GAN notebook (Metz et al. 2017, poolio/unrolled_gan), reused
# by GDPP (Elfeki et al. 2019, gdppgan_Synthetic.py): G and D each 2 hidden layers of 128
# tanh units, linear output. Several times cheaper per step than 3×256 on a CPU.
UNROLLED_TOY_HIDDEN = (128, 128)


@ARCHS.register("toy-mlp")
def build_toy_mlp(shape: Tuple[int, ...], z_dim: int = 2, num_classes: int = 0,
                  conditioning: str = "none", d_norm: str | None = None):
    """2D toy nets of the Unrolled GAN notebook / GDPP: G and D 2×128 tanh, linear output."""
    if len(shape) != 1:
        raise ConfigError(f"architecture 'toy-mlp' is for 2D points (shape [2]); got samples of "
                         f"shape {list(shape)} (use --arch mlp or dcgan for images)")
    return _build(shape, z_dim, num_classes, conditioning, d_norm, "toy-mlp",
                  UNROLLED_TOY_HIDDEN, UNROLLED_TOY_HIDDEN, nn.Tanh)
