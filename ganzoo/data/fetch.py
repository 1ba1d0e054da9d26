"""Fetching what a run needs from the network, failing fast where there is none.

Two things are fetched here, and only when the user asked for them: torchvision's
datasets (MNIST, Fashion-MNIST, CIFAR-10) into the data root, for a suite's
``download = true`` (:mod:`ganzoo.bench.prepare`), and torch-fidelity's pretrained weights
into torch's hub cache, for a pretrained feature space named by the user or a suite
(:mod:`ganzoo.metrics.pretrained`). (``--download`` lets the loaders call torchvision
themselves, without the guard below.)

An offline machine must not hang on either. torchvision and torch.hub open their URLs
with no timeout, and a name lookup has none at all, so before a fetch :func:`unreachable`
opens one TCP connection to the file's host from a helper thread and gives up after
``$GANZOO_NET_TIMEOUT`` seconds (default 5); the fetch itself then runs under a socket
timeout (:func:`net_timeout`), so a connection that stalls half-way fails too.
``GANZOO_OFFLINE=1`` skips even that probe: nothing is fetched.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence
from urllib.parse import urlsplit

from ganzoo.data.base import DataError, default_data_root
from ganzoo.data.common import FETCH_FAILURES

OFFLINE_ENV = "GANZOO_OFFLINE"
TIMEOUT_ENV = "GANZOO_NET_TIMEOUT"
PROBE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0  # a download whose socket stays silent this long fails

# dataset -> its torchvision class
FETCHABLE: Dict[str, str] = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


class FetchError(DataError):
    """Something the user asked to fetch could not be (offline, or the host refused)."""


def offline_by_choice() -> bool:
    """``GANZOO_OFFLINE`` set to anything but "" or "0"."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def probe_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, PROBE_TIMEOUT_S)))
    except ValueError:
        return PROBE_TIMEOUT_S


def _connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def unreachable(url: str, timeout: Optional[float] = None,
                connect: Callable[[str, int, float], None] = _connect) -> Optional[str]:
    """None when ``url``'s host accepts a connection within ``timeout`` seconds, else why not
    (one short phrase). Never takes much longer than ``timeout``: the lookup and the connect
    run in a daemon thread that is left behind if it hangs."""
    if offline_by_choice():
        return f"${OFFLINE_ENV} is set"
    timeout = probe_timeout() if timeout is None else timeout
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")  # urllib goes through it: probe it
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    result: Dict[str, Optional[str]] = {}

    def attempt() -> None:
        try:
            connect(host, port, timeout)
            result["error"] = None
        except OSError as err:
            result["error"] = f"{host} cannot be reached ({type(err).__name__}: {err})"

    worker = threading.Thread(target=attempt, daemon=True, name="ganzoo-net-probe")
    worker.start()
    worker.join(timeout)
    if "error" not in result:
        return f"{host} did not answer within {timeout:g} s"
    return result["error"]


@contextlib.contextmanager
def net_timeout(seconds: float = READ_TIMEOUT_S) -> Iterator[None]:
    """Sockets opened in the block without a timeout of their own (urllib's, as torchvision
    and torch.hub use them) give up after ``seconds`` of silence."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


# ---- datasets --------------------------------------------------------------------------
def dataset_urls(name: str) -> Sequence[str]:
    """Where torchvision fetches ``name`` from (its first mirror first)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, FETCHABLE[name])
    if hasattr(cls, "mirrors"):
        return list(cls.mirrors)
    return [cls.url]


def fetch_dataset(name: str, data_root=None, *, split: Optional[str] = None, options=None):
    """Fetch dataset ``name`` through torchvision into the data root (``data_root``, else
    ``$GANZOO_DATA``, else ``~/.cache/ganzoo/data``) and return it loaded.

    Raises :class:`FetchError` within seconds when the host cannot be reached, saying where
    to put the files by hand; the reason is kept (``FETCH_FAILURES``) for the loader's
    not-found message in this process, until a fetch of ``name`` succeeds.
    """
    from ganzoo.data.base import load

    if name not in FETCHABLE:
        raise FetchError(f"dataset {name!r} cannot be fetched; ganzoo fetches {', '.join(FETCHABLE)}")
    root = default_data_root(data_root)
    urls = dataset_urls(name)
    why = unreachable(urls[0])
    if why is None:
        try:
            with net_timeout():
                data = load(name, split=split, data_root=root, download=True, **(options or {}))
            FETCH_FAILURES.pop(name, None)
            return data
        except DataError as err:
            why = str(err).splitlines()[0]
    FETCH_FAILURES[name] = f"{name} could not be fetched into {root}: {why}. {how_to_supply(name, root)}"
    raise FetchError(FETCH_FAILURES[name])


def how_to_supply(name: str, root: Path) -> str:
    """One sentence: where the files of ``name`` go when fetched by hand."""
    from ganzoo.data.mnist import FASHION_MNIST, MNIST, split_files

    if name in ("mnist", "fashion-mnist"):
        spec = MNIST if name == "mnist" else FASHION_MNIST
        files = ", ".join(b + "[.gz]" for s in ("train", "test") for b in split_files(s))
        extra = " or point $GANZOO_MNIST_DIR at a folder of them" if name == "mnist" else ""
        return (f"To supply it, copy its IDX files ({files}) into {root / spec.torchvision_class / 'raw'}"
                f"{extra}, or run once where {urlsplit(dataset_urls(name)[0]).hostname} can be reached")
    return (f"To supply it, copy torchvision's {FETCHABLE[name]} files into {root}, or run once where "
            f"{urlsplit(dataset_urls(name)[0]).hostname} can be reached")
