"""The run store: ``DIR/runs.jsonl``, one JSON object per finished run, append-only.

Each record is written as one line with a single ``write`` on a file opened for
appending, then flushed and fsync'ed, under an exclusive lock (``runs.jsonl.lock``)
so that two writers never interleave. Lines already written are never rewritten:
a benchmark that is killed loses at most the run in flight, and re-running it skips
every run_id already present. A line cut short by a crash in the middle of a write
(no trailing newline) is not a finished run; the next append trims it first. A write
that fails (disk full, read-only) is cut back to where it began, so the file never
keeps half a line of its own making.

Beside the store: ``DIR/samples/<run_id>.npz`` (samples kept for the report's
figures), ``DIR/checkpoints/<run_id>.pt`` (each run's final G and D, no optimizer
state: ``ganzoo eval`` / ``ganzoo sample`` score or draw from it later; the record's
``checkpoint`` is that path relative to DIR), ``DIR/partial/<run_id>.pt`` (a run in
flight's full checkpoint, from which a killed run resumes) and ``DIR/invocations.jsonl`` (one line per ``ganzoo bench`` call: the
command, the suite, when it started and ended).
"""
from __future__ import annotations

import errno
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ganzoo import faults
from ganzoo.files import atomic_write, clean_json, write_bytes_synced
from ganzoo.paths import locked

RUNS = "runs.jsonl"
INVOCATIONS = "invocations.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
PARTIAL = "partial"  # full checkpoints of runs in flight, for resuming a killed run mid-way


def dumps(record: Dict[str, Any]) -> str:
    return json.dumps(clean_json(record), sort_keys=False, separators=(",", ":"), allow_nan=False)


def append_line(path: Path, line: str, lock: Optional[Path] = None, fault_point: str = "") -> None:
    """Append one line durably: lock, trim a torn tail, one write, flush, fsync.

    ``lock``: the lock file (default: ``<path>.lock``). ``fault_point``: this write's name
    for :mod:`ganzoo.faults` (tests only).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode()
    with locked(lock or path.with_name(path.name + ".lock")):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _trim_torn_tail(fd, path)
            size = os.fstat(fd).st_size
            if fault_point and faults.armed(fault_point):
                faults.half_write_then_die(fd, data)
            try:
                written = os.write(fd, data)
                if written != len(data):  # a short write on a regular file: the disk is full
                    raise OSError(errno.ENOSPC, f"no space left (a short write, {written} of {len(data)} bytes)")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # no half line left behind: the earlier lines stay as they were
                raise
        finally:
            os.close(fd)


def _trim_torn_tail(fd: int, path: Path) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    keep = path.read_bytes().rfind(b"\n") + 1  # rare: only after a crash mid-write
    warnings.warn(f"{path}: dropping a partly written last line ({size - keep} bytes) "
                  f"left by an interrupted run", RuntimeWarning, stacklevel=3)
    os.ftruncate(fd, keep)


def read_lines(path: Path) -> List[Dict[str, Any]]:
    """Every complete JSON line of ``path``; a torn or corrupt line is skipped with a warning."""
    if not path.is_file():
        return []
    out = []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if i == len(lines) - 1:  # no trailing newline: written only in part
            warnings.warn(f"{path}: ignoring a partly written last line", RuntimeWarning, stacklevel=2)
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            warnings.warn(f"{path}:{i + 1}: ignoring a corrupt line ({err})", RuntimeWarning, stacklevel=2)
    return out


class RunStore:
    """The finished runs of one benchmark directory."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.path = self.dir / RUNS

    def records(self) -> List[Dict[str, Any]]:
        """All records in the order written."""
        return read_lines(self.path)

    def latest(self) -> List[Dict[str, Any]]:
        """One record per run_id: the last one written (a retried run replaces its failure)."""
        by_id: Dict[str, Dict[str, Any]] = {}
        for rec in self.records():
            by_id.pop(rec.get("run_id"), None)
            by_id[rec.get("run_id")] = rec
        return list(by_id.values())

    def finished(self, include_failed: bool = True) -> Dict[str, str]:
        """run_id -> status of every recorded run (``failed`` ones left out unless asked)."""
        out = {}
        for rec in self.latest():
            if include_failed or rec.get("status") != "failed":
                out[rec["run_id"]] = rec.get("status", "?")
        return out

    def append(self, record: Dict[str, Any]) -> None:
        if not record.get("run_id"):
            raise ValueError("a run record needs a run_id")
        append_line(self.path, dumps(record), fault_point="store-append")

    # ---- beside the store ------------------------------------------------------------
    def samples_path(self, run_id: str) -> Path:
        return self.dir / SAMPLES / f"{run_id}.npz"

    def save_samples(self, run_id: str, **arrays: np.ndarray) -> Path:
        """Write ``samples/<run_id>.npz`` atomically (temporary file, then rename)."""
        return save_npz_atomic(self.samples_path(run_id), **arrays)

    def checkpoint_path(self, run_id: str) -> Path:
        """Where a run's compact checkpoint lives (the record stores it relative to DIR)."""
        return self.dir / CHECKPOINTS / f"{run_id}.pt"

    def partial_path(self, run_id: str) -> Path:
        """A run in flight's full checkpoint (optimizer state included), every ``checkpoint_every``
        steps; a killed run resumes from it; removed once the run's record is stored."""
        return self.dir / PARTIAL / f"{run_id}.pt"

    def remove_leftovers(self, stored=()) -> List[Path]:
        """What a killed bench left beside the store: temporary files of writes cut short,
        and partial checkpoints of runs in ``stored`` (killed between storing the record and
        deleting them). Never a finished file; call only while holding the folder's bench
        lock. Returns what was removed."""
        gone = [tmp for sub in (SAMPLES, CHECKPOINTS, PARTIAL) for tmp in (self.dir / sub).glob("*.tmp")]
        gone += [p for p in map(self.partial_path, stored) if p.is_file()]
        for path in gone:
            path.unlink(missing_ok=True)
        return gone

    def load_samples(self, run_id: str) -> Optional[Dict[str, np.ndarray]]:
        p = self.samples_path(run_id)
        if not p.is_file():
            return None
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def log_invocation(self, info: Dict[str, Any]) -> None:
        append_line(self.dir / INVOCATIONS, dumps(info), lock=self.path.with_name(RUNS + ".lock"))

    def invocations(self) -> List[Dict[str, Any]]:
        return read_lines(self.dir / INVOCATIONS)


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, write_bytes_synced(buf.getvalue()), fault_point="samples-write")
