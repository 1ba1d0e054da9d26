"""Peak memory of training alone, evaluation excluded: ganzoo's one meaning of "peak memory".

A bench run's record (``throughput.peak_mem_mib``, with ``peak_mem_kind`` saying which of
the measures below it is) and :func:`ganzoo.throughput.measure_throughput` both report it.
The device's high-water mark is read before each evaluation and reset after it, so
whatever evaluation allocates (feature nets, thousands of samples) never counts.

- CUDA: ``torch.cuda.max_memory_allocated``, the most memory tensors held at once (not
  what the caching allocator reserved beyond that), reset with ``reset_peak_memory_stats``.
- CPU on Linux: the process's peak resident set (``VmHWM`` in ``/proc/self/status``),
  reset by writing ``5`` to ``/proc/self/clear_refs`` (proc(5)). This is the whole
  worker's resident memory, libraries and earlier runs' cached blocks included, so it
  is an upper bound on what training needs, not a ranking figure.
- Elsewhere: ``ru_maxrss``, which cannot be reset: the peak of the process so far.
"""
from __future__ import annotations

import re
import resource
import sys
from pathlib import Path
from typing import Any, Dict, Optional

_PROC = Path("/proc/self")


def _vm_hwm_bytes() -> Optional[int]:
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", (_PROC / "status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def _reset_vm_hwm() -> bool:
    try:
        (_PROC / "clear_refs").write_text("5")
    except OSError:
        return False
    return _vm_hwm_bytes() is not None


class TrainingPeakMemory:
    """Call :meth:`pause` before an evaluation and :meth:`resume` after it;
    :meth:`result` gives the peak over the training stretches only."""

    def __init__(self, device) -> None:
        self.cuda = getattr(device, "type", str(device)) == "cuda"
        self.device = device
        self.peak = 0
        self.resettable = True
        self.resume()

    def _high_water(self) -> int:
        if self.cuda:
            import torch
            return torch.cuda.max_memory_allocated(self.device)
        if self.resettable:
            return _vm_hwm_bytes() or 0
        # ru_maxrss is in KiB on Linux, in bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

    def pause(self) -> None:
        self.peak = max(self.peak, self._high_water())

    def resume(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.resettable:
            self.resettable = _reset_vm_hwm()

    def result(self) -> Dict[str, Any]:
        self.pause()
        if self.cuda:
            kind = "CUDA max_memory_allocated during training (evaluation excluded)"
        elif self.resettable:
            kind = "CPU: peak RSS of the worker process during training (evaluation excluded)"
        else:
            kind = "CPU: peak RSS of the worker process (all its runs so far)"
        return {"peak_mem_mib": self.peak / 2 ** 20, "peak_mem_kind": kind}
