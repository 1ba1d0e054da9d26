"""The 32×32 ResNet G and D of SNGAN and WGAN-GP: the usual CIFAR-10 benchmark nets.

As in Miyato et al. 2018 (arXiv:1802.05957, appendix B; the authors'
sngan_projection gen_models/resnet_32.py and dis_models/snresnet_32.py), which
follow the CIFAR-10 ResNets of Gulrajani et al. 2017 (arXiv:1704.00028):

- G: z → linear → 4×4×256; three up-blocks (BN, ReLU, 2× nearest upsample, conv3×3,
  BN, ReLU, conv3×3; shortcut: upsample, conv1×1) to 32×32×256; BN, ReLU, conv3×3, tanh.
- D: an "optimized" first block (conv3×3, ReLU, conv3×3, 2×2 average pool; shortcut:
  pool, conv1×1) to 16×16×128, a down-block to 8×8, two blocks at 8×8 (ReLU, conv3×3,
  ReLU, conv3×3), ReLU, global sum pooling, linear. No normalisation in D.

Residual convolutions start from Glorot-uniform with gain √2, shortcuts and linear
layers with gain 1 (as in the authors' code). Labels: conditional G uses categorical
conditional BatchNorm (a per-class scale and shift, Miyato & Koyama 2018, as in
sngan_projection); D takes the label per ``conditioning`` ("concat": extra input
channels; "projection"/"auxiliary": on the pooled features). Spectral norm is added
by the variant that wants it, never here.
"""
from __future__ import annotations

import math
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo.nets.common import DiscriminatorHead, LabelEmbedding, check_conditioning
from ganzoo.nets.dcgan import check_d_norm, image_shape, label_maps
from ganzoo.registry import ARCHS

G_CH = 256
D_CH = 128
BOTTOM = 4


def _conv(cin: int, cout: int, k: int, gain: float) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, 1, k // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are picked by the class label (plain BN if unconditional)."""

    def __init__(self, channels: int, num_classes: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=num_classes <= 0)
        self.gamma = self.beta = None
        if num_classes > 0:
            self.gamma = nn.Embedding(num_classes, channels)
            self.beta = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = self.bn(x)
        if self.gamma is None:
            return h
        if y is None:
            raise ValueError("this generator is conditional: pass the labels y")
        return h * self.gamma(y).to(h.dtype)[:, :, None, None] + self.beta(y).to(h.dtype)[:, :, None, None]


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int = 0):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, num_classes)
        self.conv1 = _conv(cin, cout, 3, math.sqrt(2))
        self.bn2 = ConditionalBatchNorm2d(cout, num_classes)
        self.conv2 = _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1, 1.0)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """A residual D block; ``first`` is the "optimized" input block (no leading ReLU)."""

    def __init__(self, cin: int, cout: int, downsample: bool, first: bool = False):
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = _conv(cin, cout, 3, math.sqrt(2))
        self.conv2 = _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1, 1.0) if (cin != cout or downsample) else None

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.first:
            sc = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            sc = self.shortcut(x)
            if self.downsample:
                sc = F.avg_pool2d(sc, 2)
        return h + sc


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, num_classes: int = 0):
        super().__init__()
        self.linear = nn.Linear(z_dim, BOTTOM * BOTTOM * G_CH)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.blocks = nn.ModuleList([UpBlock(G_CH, G_CH, num_classes) for _ in range(3)])
        self.bn = nn.BatchNorm2d(G_CH)
        self.out = _conv(G_CH, channels, 3, 1.0)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = self.linear(z).view(z.shape[0], G_CH, BOTTOM, BOTTOM)
        for block in self.blocks:
            h = block(h, y)
        return self.out(F.relu(self.bn(h))).tanh()


class ResNetDiscriminator(nn.Module):
    def __init__(self, channels: int, num_classes: int = 0, conditioning: str = "none"):
        super().__init__()
        concat = conditioning == "concat"
        self.label = LabelEmbedding(num_classes if concat else 0, num_classes if concat else 0)
        in_ch = channels + (num_classes if concat else 0)
        self.blocks = nn.Sequential(
            DownBlock(in_ch, D_CH, downsample=True, first=True),
            DownBlock(D_CH, D_CH, downsample=True),
            DownBlock(D_CH, D_CH, downsample=False),
            DownBlock(D_CH, D_CH, downsample=False),
        )
        self.head = DiscriminatorHead(D_CH, num_classes, conditioning)
        for m in self.head.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: Tensor, y: Optional[Tensor] = None):
        h = F.relu(self.blocks(label_maps(self.label, x, y)))
        return self.head(h.sum(dim=(2, 3)), y)  # global sum pooling


@ARCHS.register("resnet")
def build_resnet(shape, z_dim: int = 100, num_classes: int = 0, conditioning: str = "none",
                 d_norm: Optional[str] = None):
    """SNGAN/WGAN-GP 32x32 CIFAR ResNet: G 3 up-blocks of 256 ch, D 4 blocks of 128 ch, sum pool."""
    channels, _ = image_shape("resnet", shape, {32})
    conditioning = check_conditioning(conditioning, num_classes)
    check_d_norm("resnet", d_norm, ("none",), default="none")
    G = ResNetGenerator(z_dim, channels, num_classes if conditioning != "none" else 0)
    D = ResNetDiscriminator(channels, num_classes, conditioning)
    return G, D
