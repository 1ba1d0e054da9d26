"""Test doubles for ganzoo.perf: a stand-in for CUDA graphs, so that the graph mode's code
path (trial: warm-up, capture, checked replay; then the run's own capture) runs on any machine."""
from __future__ import annotations

import contextlib
from typing import Callable

from torch import Tensor

from ganzoo.perf import Snapshot


class EmulatedGraph:
    """Stands in for a CUDA graph on any device, for tests of the graph runner's code path:
    ``capture`` runs the step once and puts all state back (a real capture runs
    nothing), keeping its outputs as the static buffers; ``replay`` runs the step again
    and copies its fresh outputs into those buffers."""

    def __init__(self, snapshot: Callable[[], Snapshot]):
        self.snapshot = snapshot
        self.fn = None
        self.out = None

    @contextlib.contextmanager
    def warmup_stream(self):
        yield

    def capture(self, fn: Callable[[], Tensor]) -> Tensor:
        snap = self.snapshot()
        self.fn, self.out = fn, fn()
        snap.restore()
        return self.out

    def replay(self) -> None:
        self.out.copy_(self.fn())

    def reset(self) -> None:
        self.fn, self.out = None, None
