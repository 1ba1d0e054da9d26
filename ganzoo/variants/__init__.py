# isort: skip_file  (registration order: the order `ganzoo list` and the suites use)
"""GAN variants: one module per family, each variant one registered class.

Importing this package registers every built-in variant in ``ganzoo.registry.VARIANTS``.
"""
from ganzoo.variants import (
                                  began,  # noqa: F401  (began)
                                  conditional,  # noqa: F401  (cgan, acgan, cgan-pd)
                                  least_squares,  # noqa: F401  (lsgan)
                                  minimax,  # noqa: F401  (registers vanilla, nsgan)
                                  packing,  # noqa: F401  (pacgan)
                                  regularized,  # noqa: F401  (r1, dragan)
                                  relativistic,  # noqa: F401  (rsgan, ragan)
                                  spectral,  # noqa: F401  (sngan)
                                  unrolled,  # noqa: F401  (unrolled)
                                  wasserstein,  # noqa: F401  (wgan, wgan-gp)
)
from ganzoo.variants.base import (
                                  BASE_DEFAULTS,
                                  HyperparameterError,
                                  StepContext,
                                  Variant,
                                  VariantError,
                                  d_logits,
                                  grad_norm,
)

__all__ = ["BASE_DEFAULTS", "HyperparameterError", "StepContext", "Variant", "VariantError", "d_logits", "grad_norm"]
