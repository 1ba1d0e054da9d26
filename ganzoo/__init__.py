"""ganzoo: a benchmark suite for GAN variants.

The plugin contract is :class:`ganzoo.Variant` with :func:`ganzoo.register_variant`;
see ``docs/adding-a-variant.md``.
"""
__version__ = "0.1.0"

from ganzoo.registry import ARCHS, DATASETS, EXTRACTORS, VARIANTS, Registry, register_variant  # noqa: E402
from ganzoo.variants.base import StepContext, Variant  # noqa: E402

__all__ = ["ARCHS", "DATASETS", "EXTRACTORS", "VARIANTS", "Registry", "StepContext", "Variant",
           "register_variant", "__version__"]
