"""An exponential moving average of G's weights, an option of every variant.

θ_EMA ← β θ_EMA + (1 − β) θ_G after every G step (Yazıcı et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training", arXiv:1806.04498; Karras et al. 2018 sample
their progressive GAN from such an average, decay 0.999, appendix A.1). When it is on, the
trainer samples and evaluates the average, not the last G. Only parameters are averaged;
buffers (BatchNorm's running statistics) are copied from G at each update.

Off by default (β = 0): the papers' protocols in ganzoo's suites evaluate the last G.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ganzoo.errors import ConfigError


class WeightAverage:
    """An EMA copy of ``module``; ``update()`` after each step, with no host read."""

    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"an EMA decay must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.source = module
        self.module = copy.deepcopy(module).requires_grad_(False).eval()
        self._pairs = [(a, b) for a, b in zip(self.module.parameters(), module.parameters())]
        self._buffers = list(zip(self.module.buffers(), module.buffers()))

    @torch.no_grad()
    def update(self) -> None:
        if self._pairs:
            mine, theirs = zip(*self._pairs)
            torch._foreach_lerp_(list(mine), list(theirs), 1.0 - self.decay)  # one fused op per step
        for mine, theirs in self._buffers:
            mine.copy_(theirs)
