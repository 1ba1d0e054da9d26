"""Where ganzoo keeps files of its own: an explicit path, else an environment variable,
else a folder under the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator, Optional


def user_dir(given: Optional[str | os.PathLike], env_var: str, *under_cache: str) -> Path:
    """``given`` if set, else ``$env_var`` if set, else ``<user cache>/<under_cache...>``."""
    if given:
        return Path(given).expanduser()
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).joinpath(*under_cache)


@contextlib.contextmanager
def locked(path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed), held for the block;
    the kernel drops it if the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
