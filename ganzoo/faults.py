"""Fault injection for the reliability tests: die for real at a named moment.

``GANZOO_KILL_AT=POINT`` (or ``POINT@N``, the N-th time it is reached; default the
first) makes the process send itself SIGKILL at that point, half-way through the
write it guards, so a test can prove that nothing already written is lost and that
the next run cleans up. Unset (always, outside tests) it costs one dict lookup.

Points: ``store-append`` (half a ``runs.jsonl`` line written), ``checkpoint-write``
(half a checkpoint's temporary file written), ``samples-write`` (half a samples
file's temporary file written), ``gpu-check-row`` (benchmarks/gpu_check.py, right after it
wrote its files).

``GANZOO_TEST_STEP_DELAY=SECONDS`` makes every training step sleep that long, so the
timing-sensitive tests can be checked on a machine slower than the one at hand.
"""
from __future__ import annotations

import os
import signal
from typing import Dict

ENV = "GANZOO_KILL_AT"
STEP_DELAY_ENV = "GANZOO_TEST_STEP_DELAY"
POINTS = ("store-append", "checkpoint-write", "samples-write", "gpu-check-row")
_hits: Dict[str, int] = {}


def armed(point: str) -> bool:
    """True when this is the moment ``GANZOO_KILL_AT`` asks to die at."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    name, _, nth = spec.partition("@")
    if name != point:
        return False
    _hits[point] = _hits.get(point, 0) + 1
    return _hits[point] == int(nth or 1)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def half_write_then_die(fd: int, data: bytes) -> None:
    """Write the first half of ``data`` to ``fd``, make it durable, and die."""
    os.write(fd, data[: len(data) // 2])
    os.fsync(fd)
    die()


def truncate_then_die(path) -> None:
    """Cut the file at ``path`` to half its size (a write cut short), then die."""
    size = os.path.getsize(path)
    os.truncate(path, size // 2)
    die()


def step_delay() -> float:
    """Seconds each training step should sleep (``GANZOO_TEST_STEP_DELAY``; 0 outside tests)."""
    return float(os.environ.get(STEP_DELAY_ENV) or 0.0)
