"""Architectures, registered in ``ganzoo.registry.ARCHS`` as ``build(shape, z_dim, num_classes, conditioning) -> (G, D)``."""
from ganzoo.nets import mlp  # noqa: F401  (registers "mlp")
from ganzoo.nets.common import CONDITIONINGS, DiscriminatorHead, LabelEmbedding

__all__ = ["CONDITIONINGS", "DiscriminatorHead", "LabelEmbedding", "build"]


def build(arch: str, shape, z_dim: int = 100, num_classes: int = 0, conditioning: str = "none"):
    """Build (G, D) of the architecture registered as ``arch`` for samples of ``shape``."""
    from ganzoo.registry import ARCHS

    return ARCHS.get(arch)(tuple(shape), z_dim=z_dim, num_classes=num_classes,
                           conditioning=conditioning)
