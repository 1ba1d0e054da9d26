"""GAN variants: one module per family, each variant one registered class.

Importing this package registers every built-in variant in ``ganzoo.registry.VARIANTS``.
"""
from ganzoo.variants.base import (BASE_DEFAULTS, HyperparameterError, StepContext, Variant, VariantError,
                                  d_logits, grad_norm)
from ganzoo.variants import minimax  # noqa: F401  (registers vanilla, nsgan)
from ganzoo.variants import conditional  # noqa: F401  (cgan, acgan, cgan-pd)
from ganzoo.variants import least_squares  # noqa: F401  (lsgan)
from ganzoo.variants import regularized  # noqa: F401  (r1, dragan)
from ganzoo.variants import spectral  # noqa: F401  (sngan)
from ganzoo.variants import wasserstein  # noqa: F401  (wgan, wgan-gp)
from ganzoo.variants import relativistic  # noqa: F401  (rsgan, ragan)
from ganzoo.variants import packing  # noqa: F401  (pacgan)
from ganzoo.variants import unrolled  # noqa: F401  (unrolled)
from ganzoo.variants import began  # noqa: F401  (began)

__all__ = ["BASE_DEFAULTS", "HyperparameterError", "StepContext", "Variant", "VariantError", "d_logits", "grad_norm"]
