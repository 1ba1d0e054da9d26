"""Deliberately odd variants for tests (registered by the tests that need them)."""
import contextlib

from ganzoo.variants.minimax import NonSaturating


class LossChangesAfter(NonSaturating):
    """Keeps a Python call counter: from its ``after + 1``-th call, D's loss is multiplied
    by ``factor``. A CUDA graph would freeze the branch taken at capture; a NaN factor
    makes a run diverge at a known step."""

    after = 5
    factor = 2.0

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0

    def d_loss(self, d_real, d_fake):
        self.calls += 1
        loss = super().d_loss(d_real, d_fake)
        return loss * self.factor if self.calls > self.after else loss


class NanAfter30(LossChangesAfter):
    """D's loss turns NaN at its 31st call (n_critic = 1: step 31)."""

    after = 30
    factor = float("nan")


@contextlib.contextmanager
def registered(**variants):
    """Register test variants (name: class; ``_`` in a name stands for ``-``) for the block."""
    from ganzoo.registry import VARIANTS

    names = {k.replace("_", "-"): v for k, v in variants.items()}
    for name, cls in names.items():
        VARIANTS.register(name, cls)
    try:
        yield
    finally:
        for name in names:
            VARIANTS.unregister(name)
