"""GAN variants: one module per family, each variant one registered class.

Importing this package registers every built-in variant in ``ganzoo.registry.VARIANTS``.
"""
from ganzoo.variants.base import BASE_DEFAULTS, HyperparameterError, StepContext, Variant, grad_norm
from ganzoo.variants import minimax  # noqa: F401  (registers vanilla, nsgan)

__all__ = ["BASE_DEFAULTS", "HyperparameterError", "StepContext", "Variant", "grad_norm"]
