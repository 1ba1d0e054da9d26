"""One training protocol per dataset: nets, noise, batch and learning-rate rules, stated once.

``ganzoo train`` and every suite start from the dataset's protocol; what a command line or a
suite sets explicitly wins (a suite's ``[train]`` table, then its dataset table, then its
variant overrides). A dataset without a protocol of its own gets :data:`GENERIC`: each
variant's preferred net for the data kind (else ``mlp``), z 100, batch 64 and the variant's
own paper hyperparameters.

The 2D mixtures (ring8, grid25) use the toy papers' protocol, :data:`TOY_2D`:

- nets ``toy-mlp``: G and D with 2 hidden layers of 128 tanh units, the Unrolled GAN
  notebook's (poolio/unrolled_gan) and GDPP's toy nets;
- z 2: PacGAN (config.py, ``num_zdim = 2``) and WGAN-GP's ``gan_toy.py``;
- batch 256: WGAN-GP's ``gan_toy.py``;
- lr 1e-3 (lr_g = lr_d) for the plain and conditional GANs, as the Unrolled GAN notebook and
  GDPP train them; the Wasserstein, gradient-penalty, spectral-norm, BEGAN and unrolled
  variants keep their own papers' rates (WGAN 5e-5, WGAN-GP 1e-4, ...);
- BEGAN's autoencoder code h = 1: on 2D points a wider code reconstructs every point and D
  gives G no signal (measured, ring8, h = 64: L(x) ≈ L(G(z)) ≈ 0.005 after 100 steps).

Under this protocol ``ganzoo train nsgan --dataset ring8 --steps 2000`` covers 8, 6 and 8 of
the 8 modes on seeds 0-2 (``covered_modes``; measured on a 2-core CPU, 4 s a run), where the
generic protocol (mlp, z 100, batch 64, lr 2e-4) put every sample in one streak.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

LEARNING_RATES = ("protocol", "paper")  # a suite's `learning_rates`: the protocol's rule, or each paper's


@dataclass(frozen=True)
class Protocol:
    """How a dataset is trained unless a caller says otherwise. A None field is left to the
    generic default (the variant's preferred arch; TrainConfig's z_dim and batch_size)."""

    name: str
    arch: Optional[str] = None
    z_dim: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None  # lr_g = lr_d = lr for the variants in lr_variants
    lr_variants: Tuple[str, ...] = ()
    variant_hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per variant, always
    sources: str = ""

    def train_settings(self) -> Dict[str, Any]:
        """The TrainConfig settings this protocol fixes (z_dim, batch_size)."""
        return {k: v for k, v in (("z_dim", self.z_dim), ("batch_size", self.batch_size)) if v is not None}

    def hparams(self, variant: str, learning_rates: str = "protocol") -> Dict[str, Any]:
        """The hyperparameters this protocol sets for ``variant`` (over its paper defaults).

        ``learning_rates="paper"`` drops the learning-rate rule: the variant trains at its
        own paper's rates (the net-specific settings, such as BEGAN's code size, stay)."""
        if learning_rates not in LEARNING_RATES:
            raise ValueError(f"learning_rates must be one of {', '.join(LEARNING_RATES)}, got {learning_rates!r}")
        out: Dict[str, Any] = dict(self.variant_hparams.get(variant, {}))
        if learning_rates == "protocol" and self.lr is not None and variant in self.lr_variants:
            out.update(lr_g=self.lr, lr_d=self.lr)
        return out


GENERIC = Protocol(name="generic", sources="each variant's preferred net (else the seed's MLP), "
                                           "z 100, batch 64, each paper's hyperparameters")

TOY_2D = Protocol(
    name="toy-2d", arch="toy-mlp", z_dim=2, batch_size=256, lr=1e-3,
    lr_variants=("vanilla", "nsgan", "lsgan", "pacgan", "rsgan", "ragan", "cgan", "acgan", "cgan-pd"),
    variant_hparams={"began": {"h_dim": 1}},
    sources="toy-mlp 2x128 tanh (Unrolled GAN notebook, GDPP), z 2 (PacGAN, WGAN-GP gan_toy.py), "
            "batch 256 (gan_toy.py), lr 1e-3 for the plain and conditional GANs (notebook, GDPP), "
            "BEGAN h = 1 on 2D points")

PROTOCOLS: Dict[str, Protocol] = {"ring8": TOY_2D, "grid25": TOY_2D}


def protocol_for(dataset: str) -> Protocol:
    """The dataset's protocol (:data:`GENERIC` for a dataset without one of its own)."""
    return PROTOCOLS.get(dataset, GENERIC)
