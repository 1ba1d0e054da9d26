"""One ``ganzoo bench`` at a time per results folder: ``DIR/bench.lock``.

A second bench on a folder that one is already filling refuses at once and names the
holder (PID, command, start time). Refusing, rather than sharing the work, is the
choice because a suite's numbers include throughput: two benches on one machine would
halve each other's img/s and make the timings lie, and a folder is one suite's matrix.
To run more at once, raise the suite's ``workers``, or use another ``--out``.

The lock is ``flock`` on the file, which the kernel drops when its holder dies, however
it dies (SIGKILL included): a dead holder never keeps the folder. The holder's details
are written into the file for the message only; a stale file is harmless.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Iterator

from ganzoo.errors import GanzooError

LOCK = "bench.lock"


class FolderBusyError(GanzooError, RuntimeError):
    """Another live ``ganzoo bench`` holds the results folder; the message names it."""


class StoreWriteError(GanzooError, OSError):
    """The results folder cannot be written (read-only, full, no permission)."""


def unwritable(directory: Path, err: OSError, what: str) -> StoreWriteError:
    why = f"{err.strerror} (errno {err.errno})" if err.strerror else str(err)
    return StoreWriteError(f"cannot write {what} in {directory}: {why}; the results already there are "
                           f"intact. Free space, fix the permissions or choose another --out, then run the "
                           f"same command again")


@contextlib.contextmanager
def exclusive(directory, command: str) -> Iterator[Path]:
    """Hold ``directory``'s bench lock for the block, or raise :class:`FolderBusyError`."""
    directory = Path(directory)
    path = directory / LOCK
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise unwritable(directory, err, "the lock file") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{directory} is being filled by another ganzoo bench "
                                  f"({_holder(fd)}); wait for it to end or stop it, or give this "
                                  f"one another --out") from None
        info = json.dumps({"pid": os.getpid(), "command": command,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info + b"\n", 0)
        except OSError as err:
            raise unwritable(directory, err, "the lock file") from None
        yield path
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "its details are not written yet"
    return f"PID {info.get('pid')}, started {info.get('started')}: {info.get('command')}"
