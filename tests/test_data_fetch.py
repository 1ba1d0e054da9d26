"""Fetching a suite's missing data (``download = true``): fast failure offline with a note
that says how to supply the files, and a fetch (stubbed: torchvision's download copies
local IDX files) after which the quick suite trains MNIST from the fetched files."""
import gzip
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from ganzoo.data import fetch
from ganzoo.data.base import DataError, load
from ganzoo.data.common import FETCH_FAILURES

QUICK = Path(__file__).resolve().parents[1] / "benchmarks" / "quick.toml"


def write_idx(directory: Path, split: str, n: int, seed: int) -> None:
    """MNIST-format IDX files (gzipped, as the mirrors serve them) of ``n`` random digits."""
    rng = np.random.RandomState(seed)
    prefix = {"train": "train", "test": "t10k"}[split]
    images = (rng.rand(n, 28, 28) * 255).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    with gzip.open(directory / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    with gzip.open(directory / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.fixture
def no_mnist_here(monkeypatch, tmp_path):
    """A fresh clone's view: no shared MNIST, an empty data root and cache, online as far as
    the probe knows (each test stubs what the network then does)."""
    monkeypatch.delenv("GANZOO_MNIST_DIR", raising=False)
    monkeypatch.delenv("GANZOO_OFFLINE", raising=False)
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "unreachable", lambda url, timeout=None: None)
    clone = tmp_path / "clone" / "benchmarks"
    clone.mkdir(parents=True)
    shutil.copy(QUICK, clone / "quick.toml")  # ../../shared/data/mnist-t10k does not resolve from here
    yield clone / "quick.toml"
    FETCH_FAILURES.clear()


# ---- the probe -----------------------------------------------------------------------------
def test_the_probe_gives_up_within_its_timeout(monkeypatch):
    def hang(host, port, timeout):
        time.sleep(30)  # a lookup or connect that never answers

    t0 = time.perf_counter()
    why = fetch.unreachable("https://example.invalid/x.gz", timeout=0.3, connect=hang)
    assert time.perf_counter() - t0 < 2
    assert why == "example.invalid did not answer within 0.3 s"

    def refuse(host, port, timeout):
        raise ConnectionRefusedError("refused")

    assert "example.invalid cannot be reached (ConnectionRefusedError" in fetch.unreachable(
        "https://example.invalid/x.gz", timeout=0.3, connect=refuse)
    assert fetch.unreachable("https://example.invalid/x.gz", connect=lambda *a: None) is None
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    assert fetch.unreachable("https://example.invalid/x.gz", connect=lambda *a: None) == "$GANZOO_OFFLINE is set"


# ---- a fetch that fails -------------------------------------------------------------------
def failing_download(url, download_root, filename=None, md5=None, **kw):
    from urllib.error import URLError

    raise URLError("[Errno -3] Temporary failure in name resolution")


def test_a_failed_fetch_is_fast_and_the_loader_then_says_how_to_supply(no_mnist_here, monkeypatch, tmp_path):
    import torchvision.datasets.mnist as tvm

    monkeypatch.setattr(tvm, "download_and_extract_archive", failing_download)
    t0 = time.perf_counter()
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_dataset("mnist")
    assert time.perf_counter() - t0 < 10
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"mnist could not be fetched into {tmp_path / 'data'}: could not download MNIST")
    assert str(tmp_path / "data" / "MNIST" / "raw") in msg and "t10k-labels-idx1-ubyte[.gz]" in msg
    with pytest.raises(DataError) as err:  # the loader's not-found message now starts with it
        load("mnist")
    assert str(err.value).splitlines()[0] == msg


def test_offline_the_quick_suite_skips_mnist_with_a_note_saying_how_to_supply_it(no_mnist_here, monkeypatch,
                                                                               tmp_path):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.report import write_report

    monkeypatch.setattr(fetch, "unreachable", lambda url, timeout=None: f"{url.split('/')[2]} did not answer "
                                                                      f"within 5 s")
    lines = []
    t0 = time.perf_counter()
    bench(str(no_mnist_here), tmp_path / "out", datasets=["mnist", "ring8"], variants=["nsgan"], seeds=[0],
          steps=20, workers=1, progress=False, report=False, log=lines.append)
    assert time.perf_counter() - t0 < 120
    [note] = [x for x in lines if "dataset mnist skipped" in x]
    assert "mnist could not be fetched into" in note and "did not answer within 5 s" in note
    assert "IDX files" in note and "$GANZOO_MNIST_DIR" in note
    report = write_report(tmp_path / "out", figures=False).read_text()
    assert "dataset mnist skipped" in report and "To supply it, copy its IDX files" in report
    assert not FETCH_FAILURES  # what the bench noted is gone with it


# ---- a fetch that fills the data root ---------------------------------------------------------------
def test_the_quick_suite_fetches_mnist_and_trains_on_the_fetched_files(no_mnist_here, monkeypatch, tmp_path):
    import torchvision.datasets.mnist as tvm

    from ganzoo.bench.driver import bench
    from ganzoo.bench.store import RunStore

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_idx(mirror, "train", 2100, 0)  # more than the suite's holdout of 2,000
    write_idx(mirror, "test", 300, 1)
    fetched = []

    def copy_download(url, download_root, filename=None, md5=None, **kw):  # torchvision's, minus the network
        name = filename or url.rsplit("/", 1)[1]
        fetched.append(url)
        Path(download_root).mkdir(parents=True, exist_ok=True)
        shutil.copy(mirror / name, Path(download_root) / name)
        with gzip.open(mirror / name) as src, open(Path(download_root) / name[:-3], "wb") as dst:
            dst.write(src.read())

    monkeypatch.setattr(tvm, "download_and_extract_archive", copy_download)
    lines = []
    bench(str(no_mnist_here), tmp_path / "out", datasets=["mnist"], variants=["vanilla"], seeds=[0], steps=4,
          workers=1, progress=False, report=False, log=lines.append)
    assert len(fetched) == 4 and all(u.startswith(tvm.MNIST.mirrors[0]) for u in fetched)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").is_file()
    assert any("mnist is not here: fetching it through torchvision" in x for x in lines)
    assert not any("skipped" in x for x in lines)
    [rec] = RunStore(tmp_path / "out").records()
    assert rec["dataset"] == "mnist" and rec["spec"]["split"] == "train" and rec["status"] != "failed", rec.get("error")
    assert rec["steps_done"] == 4
    assert np.isfinite(rec["final"]["FID[ganzoo-mnist]"])
    assert rec["protocol"]["reference"]["split"] == "test" and rec["protocol"]["reference"]["of"] == 300
    data = load("mnist", data_root=tmp_path / "data")
    assert len(data) == 2100 and str(raw) in data.source


def test_the_quick_suite_still_finds_the_shared_test_split_without_fetching(monkeypatch):
    from ganzoo.bench.prepare import prepared
    from ganzoo.bench.suite import expand, load_suite
    from ganzoo.data import find_shared_mnist

    monkeypatch.delenv("GANZOO_MNIST_DIR", raising=False)
    shared = find_shared_mnist()
    if shared is None:
        pytest.skip("no shared MNIST test split beside this checkout")

    def must_not_fetch(*a, **k):
        raise AssertionError("fetched although MNIST is here")

    monkeypatch.setattr(fetch, "fetch_dataset", must_not_fetch)
    suite = load_suite("quick", device="cpu")
    with prepared(suite, datasets=["mnist"], log=lambda _: None):
        plan = expand(suite, datasets=["mnist"], variants=["nsgan"], seeds=[0], device="cpu")
    assert Path(plan.probes["mnist"].data_root).resolve() == shared.resolve()
    assert plan.probes["mnist"].split == "test" and not plan.skipped


def test_download_on_a_dataset_ganzoo_cannot_fetch_or_a_required_one_offline_stops_the_bench(
        no_mnist_here, monkeypatch, tmp_path):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.suite import SuiteError

    suite = tmp_path / "s.toml"
    suite.write_text('seeds = [0]\nvariants = ["nsgan"]\n[train]\nsteps = 2\n'
                     '[datasets.ring8]\ndownload = true\n')
    with pytest.raises(SuiteError, match=r"\[datasets.ring8\]: download = true, but ganzoo fetches only mnist, "
                                         r"fashion-mnist, cifar10"):
        bench(str(suite), tmp_path / "a", progress=False, report=False, log=lambda _: None)
    monkeypatch.setattr(fetch, "unreachable", lambda url, timeout=None: "offline")
    suite.write_text('seeds = [0]\nvariants = ["nsgan"]\n[train]\nsteps = 2\n'
                     '[datasets.fashion-mnist]\ndownload = true\n')
    with pytest.raises(fetch.FetchError, match=r"^fashion-mnist could not be fetched into .*: offline\. To supply "
                                               r"it, copy its IDX files .* into .*FashionMNIST/raw"):
        bench(str(suite), tmp_path / "b", progress=False, report=False, log=lambda _: None)
    assert not FETCH_FAILURES
