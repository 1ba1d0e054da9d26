"""DINOv2 ViT (Oquab et al. 2023, "DINOv2: Learning Robust Visual Features without
Supervision", arXiv:2304.07193) built from a local weights file, for torch-fidelity.

Why ganzoo builds this net itself: torch-fidelity 0.4's ``dinov2-vit-*-14`` extractors
get the network only through ``torch.hub.load("facebookresearch/dinov2", ...)``, which
downloads the model's code from GitHub at run time, and they refuse a weights file
(``feature_extractor_weights_path`` raises NotImplementedError). An offline machine, or a
test, has neither. timm implements DINOv2 too, but resamples the 37×37 position
embeddings to 224 px with an antialiased kernel, so its features are not the hub model's.

So this module transcribes the hub model's inference path (facebookresearch/dinov2,
``dinov2/models/vision_transformer.py`` and ``dinov2/layers``: patch embedding, class
token, position embeddings interpolated bicubically with the 0.1 offset and no
antialiasing, pre-norm blocks with LayerScale, an MLP -- SwiGLU for ViT-g -- and the final
LayerNorm, whose class token is the feature), with the parameter names of the published
checkpoints (``dinov2_vit{s,b,l,g}14_pretrain.pth``), loaded strictly. :class:`DinoV2FromFile`
is torch-fidelity's own DINOv2 extractor with only its constructor replaced, so resizing
(TF1-compatible bilinear to 224) and normalisation stay torch-fidelity's. It is registered
in torch-fidelity as ``<name>-from-file`` (e.g. ``dinov2-vit-b-14-from-file``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ViTArch:
    dim: int
    depth: int
    heads: int
    swiglu: bool = False  # ViT-g's feed-forward ("swiglufused" in the hub code)
    patch: int = 14
    grid: int = 37  # the checkpoints' position embeddings: 518 px / 14
    mlp_ratio: float = 4.0

    @property
    def hidden(self) -> int:
        h = int(self.dim * self.mlp_ratio)
        return (int(h * 2 / 3) + 7) // 8 * 8 if self.swiglu else h


ARCHS: Dict[str, ViTArch] = {
    "dinov2-vit-s-14": ViTArch(384, 12, 6),
    "dinov2-vit-b-14": ViTArch(768, 12, 12),
    "dinov2-vit-l-14": ViTArch(1024, 24, 16),
    "dinov2-vit-g-14": ViTArch(1536, 40, 24, swiglu=True),
}
FILE_SUFFIX = "-from-file"
INTERPOLATE_OFFSET = 0.1  # the hub model's default (its "historical kludge", kept for its checkpoints)


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12, self.w3 = nn.Linear(dim, 2 * hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, a: ViTArch):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(a.dim, eps=1e-6), nn.LayerNorm(a.dim, eps=1e-6)
        self.attn, self.ls1, self.ls2 = Attention(a.dim, a.heads), LayerScale(a.dim), LayerScale(a.dim)
        self.mlp = (SwiGLU if a.swiglu else Mlp)(a.dim, a.hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2ViT(nn.Module):
    """Images (normalised, ``[B, 3, H, W]``, H and W multiples of 14) -> the final norm's
    class token ``[B, dim]`` (the hub model's ``forward`` in eval mode)."""

    def __init__(self, a: ViTArch):
        super().__init__()
        self.arch = a
        self.patch_embed = PatchEmbed(a.patch, a.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, a.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, a.grid * a.grid + 1, a.dim))
        self.mask_token = nn.Parameter(torch.zeros(1, a.dim))  # in the checkpoints; unused at inference
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.depth))
        self.norm = nn.LayerNorm(a.dim, eps=1e-6)

    def pos_encoding(self, npatch: int, w: int, h: int, dtype: torch.dtype) -> Tensor:
        n = self.pos_embed.shape[1] - 1
        if npatch == n and w == h:
            return self.pos_embed
        pos = self.pos_embed.float()
        m = int(math.sqrt(n))
        w0, h0 = w // self.arch.patch, h // self.arch.patch
        scale = ((w0 + INTERPOLATE_OFFSET) / m, (h0 + INTERPOLATE_OFFSET) / m)
        grid = F.interpolate(pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2), scale_factor=scale,
                             mode="bicubic", antialias=False)
        if tuple(grid.shape[-2:]) != (w0, h0):
            raise ValueError(f"position embeddings resampled to {tuple(grid.shape[-2:])}, not {(w0, h0)}")
        grid = grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
        return torch.cat((pos[:, :1], grid), dim=1).to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        _, _, w, h = x.shape
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_encoding(x.shape[1] - 1, w, h, x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


def build(name: str) -> DinoV2ViT:
    """An untrained DINOv2 net of torch-fidelity's extractor ``name`` (e.g. dinov2-vit-b-14)."""
    if name not in ARCHS:
        raise ValueError(f"unknown DINOv2 net {name!r}; valid: {', '.join(ARCHS)}")
    return DinoV2ViT(ARCHS[name])


def mismatch(name: str, state: Dict[str, Tensor], where: str) -> Optional[str]:
    """What keeps ``state`` from being the weights of net ``name`` (None: nothing). The net's
    shapes are read on the meta device, so nothing of its size is allocated."""
    with torch.device("meta"):
        own = {k: tuple(v.shape) for k, v in build(name).state_dict().items()}
    own.pop("mask_token")  # in the published checkpoints, unused at inference
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own) - {"mask_token"})
    wrong = sorted(k for k in set(own) & set(state) if tuple(state[k].shape) != own[k])
    if not (missing or extra or wrong):
        return None
    parts = [f"missing {', '.join(missing[:3])}" if missing else "",
             f"unexpected {', '.join(extra[:3])}" if extra else "",
             f"of another shape {', '.join(wrong[:3])}" if wrong else ""]
    return f"{where} does not hold the weights of {name}: " + "; ".join(p for p in parts if p)


def load_weights(net: DinoV2ViT, name: str, state: Dict[str, Tensor], where: str) -> None:
    """Load a published checkpoint's state dict strictly; a mismatch names what differs."""
    problem = mismatch(name, state, where)
    if problem:
        raise ValueError(problem)
    net.load_state_dict({"mask_token": torch.zeros_like(net.mask_token), **state})


def _fidelity_dinov2():
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

    return FeatureExtractorDinoV2


class DinoV2FromFile(_fidelity_dinov2()):
    """torch-fidelity's DINOv2 extractor whose net comes from ``feature_extractor_weights_path``
    (required) instead of torch.hub. Registered as ``dinov2-vit-*-14-from-file``."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None,
                 feature_extractor_internal_dtype=None, **kwargs):
        from torch_fidelity.feature_extractor_base import FeatureExtractorBase
        from torch_fidelity.helpers import text_to_dtype

        FeatureExtractorBase.__init__(self, name, features_list)
        if feature_extractor_internal_dtype not in ("float32", "float64", None):
            raise ValueError("only float32 and float64 are supported inside the DINOv2 extractor")
        self.feature_extractor_internal_dtype = text_to_dtype(feature_extractor_internal_dtype, "float32")
        if not feature_extractor_weights_path:
            raise ValueError(f"{name} reads its weights from a file: pass feature_extractor_weights_path")
        net = name[:-len(FILE_SUFFIX)] if name.endswith(FILE_SUFFIX) else name
        self.model = build(net)
        state = torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
        load_weights(self.model, net, state, str(feature_extractor_weights_path))
        self.to(self.feature_extractor_internal_dtype)
        self.requires_grad_(False)
        self.eval()


def register() -> None:
    """Register :class:`DinoV2FromFile` in torch-fidelity for each DINOv2 net (once)."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    for name in ARCHS:
        if name + FILE_SUFFIX not in FEATURE_EXTRACTORS_REGISTRY:
            torch_fidelity.register_feature_extractor(name + FILE_SUFFIX, DinoV2FromFile)


register()
