"""Architectures, registered in ``ganzoo.registry.ARCHS``.

A builder is ``build(shape, z_dim, num_classes, conditioning, **options) -> (G, D)``;
``options`` are what a variant asks of the nets (``Variant.net_options()``, e.g.
``d_norm="none"``), each a keyword argument of the builder that it validates.
"""
import inspect

from ganzoo.errors import ConfigError
from ganzoo.nets import dcgan, mlp, resnet  # noqa: F401  (register "dcgan", "mlp", "resnet")
from ganzoo.nets.common import CONDITIONINGS, DiscriminatorHead, LabelEmbedding

__all__ = ["CONDITIONINGS", "DiscriminatorHead", "LabelEmbedding", "build", "build_options"]

_COMMON = ("shape", "z_dim", "num_classes", "conditioning")


def build_options(builder) -> list:
    """The options an architecture builder takes beyond the common arguments."""
    params = inspect.signature(builder).parameters.values()
    return [p.name for p in params
            if p.name not in _COMMON and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def build(arch: str, shape, z_dim: int = 100, num_classes: int = 0, conditioning: str = "none",
          **options):
    """Build (G, D) of the architecture registered as ``arch`` for samples of ``shape``.

    An option the builder does not take is an error naming the options it takes.
    """
    from ganzoo.registry import ARCHS

    builder = ARCHS.get(arch)
    takes = build_options(builder)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(builder).parameters.values())
    unknown = sorted(set(options) - set(takes)) if not accepts_any else []
    if unknown:
        raise ConfigError(f"architecture {arch!r} takes no option {', '.join(map(repr, unknown))}; "
                         f"valid options: {', '.join(takes) or '(none)'}")
    return builder(tuple(shape), z_dim=z_dim, num_classes=num_classes, conditioning=conditioning,
                   **options)
