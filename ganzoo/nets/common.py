"""Pieces every architecture shares: how labels enter the nets, and D's output heads.

Generators are called as ``G(z, y)`` and discriminators as ``D(x, y)``; ``y`` is None
for unconditional nets. D returns logits ``[B]``, or ``(logits, class_logits)`` when it
carries AC-GAN's auxiliary classifier.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ganzoo.errors import ConfigError

CONDITIONINGS = ("none", "concat", "projection", "auxiliary")


def check_conditioning(conditioning: str, num_classes: int) -> str:
    conditioning = conditioning or "none"
    if conditioning not in CONDITIONINGS:
        raise ConfigError(f"unknown conditioning {conditioning!r}; valid: {', '.join(CONDITIONINGS)}")
    if conditioning != "none" and num_classes <= 0:
        raise ConfigError(f"conditioning {conditioning!r} needs a labelled dataset (num_classes > 0)")
    return conditioning


class LabelEmbedding(nn.Module):
    """A learned embedding of the class label, or nothing for unconditional nets."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(num_classes, dim) if num_classes > 0 and dim > 0 else None

    def concat(self, h: Tensor, y: Optional[Tensor]) -> Tensor:
        if self.embed is None:
            return h
        if y is None:
            raise ValueError("this net is conditional: pass the labels y")
        return torch.cat([h, self.embed(y).to(h.dtype)], dim=1)


class DiscriminatorHead(nn.Module):
    """Turns D's last features ``[B, F]`` into its outputs, per conditioning.

    - none / concat: a linear logit;
    - projection: logit + <embed(y), features> (Miyato & Koyama 2018, eq. 3);
    - auxiliary: (logit, class logits) (Odena et al. 2017).
    """

    def __init__(self, features: int, num_classes: int, conditioning: str):
        super().__init__()
        self.conditioning = conditioning
        self.linear = nn.Linear(features, 1)
        if conditioning == "projection":
            self.projection = nn.Embedding(num_classes, features)
        if conditioning == "auxiliary":
            self.classifier = nn.Linear(features, num_classes)

    def forward(self, h: Tensor, y: Optional[Tensor]):
        logit = self.linear(h).squeeze(1)
        if self.conditioning == "projection":
            if y is None:
                raise ValueError("a projection discriminator needs the labels y")
            logit = logit + (self.projection(y).to(h.dtype) * h).sum(dim=1)
        elif self.conditioning == "auxiliary":
            return logit, self.classifier(h)
        return logit
