"""BEGAN, Boundary Equilibrium GAN (Berthelot, Schumm & Metz 2017, arXiv:1703.10717).

D is an autoencoder; its output for a sample v is the reconstruction error
L(v) = mean |v − Dec(Enc(v))| (η = 1, the paper's choice), a per-sample score. The losses
(section 3.3):

    L_D = L(x) − k_t · L(G(z_D))        L_G = L(G(z_G))
    k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z_G))), 0, 1)

k_t, the weight on the fake term, lives in ``self.state`` (saved in checkpoints, restored
on resume) and starts at k_0 = 0. γ = E[L(G(z))] / E[L(x)] is the diversity ratio; the
convergence measure M_global = L(x) + |γ L(x) − L(G(z_G))| (section 3.4.1) is logged
as ``convergence``, and k_t as ``k_t``.

Settings and where they come from:
- γ = 0.5, λ_k = 0.001, k_0 = 0, Adam lr 1e-4: the paper (section 4.1; its figures show
  γ from 0.3 to 0.7). β1 = 0.5 as in the DCGAN setting the paper's code base builds on;
  the paper does not state β. The paper halves the learning rate when M_global stalls;
  ganzoo keeps it constant (no schedules in the shared trainer), a stated difference.
- Embedding h of N_h = 64 (the paper's N_h = N_z = 64), ``--hp h_dim=``.
- Nets: the run's architecture. The encoder is its D with the final score replaced by a
  linear map to h; the decoder is a second G of that architecture (``z_dim = h_dim``), as
  the paper's decoder shares G's architecture but not its weights. D has no normalisation
  (``d_norm = "none"``: the paper uses none); the decoder keeps G's BatchNorm where the
  architecture has one, where the paper's ELU convnets have none.
- The paper updates G and D from one forward pass; ganzoo's shared step alternates (one D
  step, then one G step), which other reimplementations (e.g. hmi88/BEGAN-tensorflow) also
  do.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

from ganzoo.errors import ConfigError
from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant


class EmbeddingHead(nn.Module):
    """Replaces D's scalar head: its last features ``[B, F]`` to the embedding ``[B, h]``."""

    def __init__(self, features: int, h_dim: int):
        super().__init__()
        self.linear = nn.Linear(features, h_dim)

    def forward(self, h: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.linear(h)


class AutoencoderDiscriminator(nn.Module):
    """BEGAN's D: ``D(x)`` is the per-sample L1 reconstruction error ``[B]``."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x, None), None)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return (x - self.reconstruct(x)).abs().flatten(1).mean(dim=1)


@register_variant("began")
class BEGAN(Variant):
    """BEGAN (Berthelot et al. 2017): autoencoder D, equilibrium weight k_t, γ = 0.5."""

    paper = "arXiv:1703.10717 (Berthelot, Schumm & Metz 2017, sections 3.3-3.4, 4.1)"
    defaults = dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999), n_critic=1,
                    gamma=0.5, lambda_k=0.001, h_dim=64, d_norm="none")
    hp_minimum = {"h_dim": 1}
    d_output = "scores"  # a reconstruction error, not a logit

    def initial_state(self) -> Dict[str, float]:
        return {"k": 0.0}  # k_0 = 0 (section 3.3)

    def build_nets(self, build, shape):
        shape = tuple(shape)
        G, encoder = build(shape)
        decoder, _ = build(shape, z_dim=int(self.hp["h_dim"]))
        head = getattr(encoder, "head", None)
        linear = getattr(head, "linear", None)
        if not isinstance(linear, nn.Linear):
            raise ConfigError(f"began makes its autoencoder from the architecture's D, whose final "
                             f"score must be `D.head.linear` (an nn.Linear), as in ganzoo's built-in "
                             f"architectures; {type(encoder).__name__} has none")
        encoder.head = EmbeddingHead(linear.in_features, int(self.hp["h_dim"]))
        return G, AutoencoderDiscriminator(encoder, decoder)

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_real.mean() - self.state["k"] * d_fake.mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return d_fake.mean()

    def train_step(self, ctx) -> Dict[str, Tensor]:
        logs = super().train_step(ctx)  # k_t weighs this step's D loss, then k_{t+1} is set
        real_error, fake_error = logs["d_real"], logs["g_loss"]  # L(x), L(G(z_G))
        balance = float(self.hp["gamma"]) * real_error - fake_error
        k = self.state["k"]
        k.copy_(torch.clamp(k + float(self.hp["lambda_k"]) * balance, 0.0, 1.0))  # in place: graph-safe
        logs["k_t"] = k.detach().clone()
        logs["convergence"] = real_error + balance.abs()
        return logs
