"""Tests of ganzoo.data: toy mixtures, digits, IDX/MNIST, torchvision sets, folders.

Nothing here downloads: torchvision's download step is replaced by a function that
writes tiny files, and the CIFAR-10 batches are tiny pickles written by the test.
"""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

import ganzoo.data as data
from ganzoo.data import DataError, find_shared_mnist, load, read_idx
from ganzoo.registry import DATASETS, UnknownNameError

BUILT_IN = {"ring8", "grid25", "digits", "mnist", "fashion-mnist", "cifar10", "folder"}


# ---------------------------------------------------------------- helpers

def write_idx(path, array: np.ndarray, gz: bool = False):
    """Write ``array`` (uint8) as an IDX file, gzipped when ``gz``."""
    array = np.asarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def tiny_mnist(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    return images, labels


def write_split(directory, split: str, n: int, gz: bool = False, seed: int = 0):
    prefix = {"train": "train", "test": "t10k"}[split]
    suffix = ".gz" if gz else ""
    images, labels = tiny_mnist(n, seed)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


# ---------------------------------------------------------------- registry and options

def test_builtin_datasets_are_registered_with_descriptions():
    assert BUILT_IN <= set(DATASETS.names())
    descriptions = dict(DATASETS.describe())
    assert all(descriptions[name] for name in BUILT_IN)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        load("rnig8")
    assert "ring8" in str(err.value) and "grid25" in str(err.value) and "Did you mean" in str(err.value)


def test_unknown_option_names_valid_options():
    with pytest.raises(DataError, match=r"no option 'sigma'; valid options: n, seed"):
        load("ring8", sigma=0.1)
    with pytest.raises(DataError, match="valid options: \\(none\\)"):
        load("digits", n=10)


@pytest.mark.parametrize("bad", [0, -3, 1.5, "ten", True])
def test_bad_option_value_is_an_error(bad):
    with pytest.raises(DataError, match="option n"):
        load("ring8", n=bad)


def test_unknown_split_names_valid_splits():
    with pytest.raises(DataError, match="no split 'val'; valid splits: train, test"):
        load("grid25", split="val")


# ---------------------------------------------------------------- toy mixtures

@pytest.mark.parametrize("name, k, std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixture_shapes_modes_and_spread(name, k, std):
    d = load(name, n=20_000)
    assert d.x.shape == (20_000, 2) and d.x.dtype == torch.float32
    assert d.y.dtype == torch.int64 and d.kind == "points" and d.num_classes == k
    assert d.modes.shape == (k, 2) and len(torch.unique(d.modes, dim=0)) == k
    assert d.mode_std == std
    assert set(d.y.tolist()) == set(range(k))
    residual = d.x - d.modes[d.y]
    assert residual.std(dim=0) == pytest.approx([std, std], rel=0.05)
    assert residual.mean(dim=0).abs().max() < 5 * std / len(d) ** 0.5
    assert residual.norm(dim=1).max() < 6 * std  # every point sits at its labelled mode


def test_ring8_and_grid25_centres_are_the_papers():
    ring = load("ring8", n=10).modes.double()
    angles = 2 * torch.pi * torch.arange(8, dtype=torch.float64) / 8
    assert torch.allclose(ring, torch.stack([angles.cos(), angles.sin()], 1), atol=1e-6)
    grid = {tuple(p) for p in load("grid25", n=10).modes.tolist()}
    assert grid == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}


def test_toy_sample_is_deterministic_and_splits_differ():
    a, b = load("ring8", n=1000), load("ring8", n=1000, split="train")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    test = load("ring8", n=1000, split="test")
    assert test.split == "test" and not torch.equal(a.x, test.x)
    assert not torch.equal(a.x, load("ring8", n=1000, seed=7).x)
    assert len(load("grid25")) == 50_000  # default n
    assert a.info["options"] == {"n": 1000, "seed": None}


# ---------------------------------------------------------------- digits

def test_digits_splits_shapes_and_range():
    train, test, everything = (load("digits", split=s) for s in (None, "test", "all"))
    assert train.split == "train" and train.x.shape == (1500, 1, 8, 8)
    assert test.x.shape == (297, 1, 8, 8) and everything.x.shape == (1797, 1, 8, 8)
    assert torch.equal(torch.cat([train.x, test.x]), everything.x)
    assert everything.x.min() == -1 and everything.x.max() == 1
    assert set(everything.y.tolist()) == set(range(10)) and train.num_classes == 10


# ---------------------------------------------------------------- the IDX reader

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images, _ = tiny_mnist(5)
    path = write_idx(tmp_path / ("x.gz" if gz else "x"), images, gz)
    out = read_idx(path, magic=0x0803)
    assert out.dtype == np.uint8 and np.array_equal(out, images) and out.flags.writeable


def test_read_idx_big_endian_ints(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + values.tobytes())
    assert np.array_equal(read_idx(path), values.astype(np.int32))


def test_read_idx_rejects_bad_magic_truncation_and_broken_gzip(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="bad is not an IDX file"):
        read_idx(bad)

    labels = write_idx(tmp_path / "labels", np.arange(4))
    with pytest.raises(DataError, match="expected 0x00000803"):
        read_idx(labels, magic=0x0803)

    short = tmp_path / "short"
    short.write_bytes(labels.read_bytes()[:-1])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(short)

    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(labels.read_bytes())[:-6])
    with pytest.raises(DataError, match="broken gzip"):
        read_idx(broken)


# ---------------------------------------------------------------- MNIST from IDX files

def test_mnist_single_split_dir_is_used_and_source_says_so(tmp_path):
    images, labels = write_split(tmp_path, "test", 12, gz=True)
    d = load("mnist", data_root=tmp_path)
    assert d.split == "test" and d.x.shape == (12, 1, 28, 28) and d.num_classes == 10
    assert "test split (t10k)" in d.source and "train split is absent" in d.source
    assert torch.equal(d.y, torch.from_numpy(labels.astype(np.int64)))
    expected = torch.from_numpy(images).float() / 127.5 - 1
    assert torch.allclose(d.x[:, 0], expected)

    with pytest.raises(DataError) as err:
        load("mnist", data_root=tmp_path, split="train")
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert "--download" in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert "split 'test'" in msg


@pytest.mark.parametrize("layout", ["MNIST/raw", "mnist", "."])
def test_mnist_layouts_and_default_split_is_train(tmp_path, layout):
    directory = tmp_path / layout
    write_split(directory, "train", 7, seed=1)
    write_split(directory, "test", 5, gz=True, seed=2)
    train = load("mnist", data_root=tmp_path)
    assert train.split == "train" and len(train) == 7 and "absent" not in train.source
    assert len(load("mnist", data_root=tmp_path, split="test")) == 5


def test_mnist_data_root_from_environment(tmp_path, monkeypatch):
    write_split(tmp_path / "mnist", "test", 3)
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path))
    assert len(load("mnist")) == 3


def test_mnist_missing_everything_names_files_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        load("mnist", data_root=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "t10k-images-idx3-ubyte" in msg
    assert "--download" in msg and "--data-root" in msg and str(tmp_path) in msg


def test_mnist_checks_md5sums_and_label_range(tmp_path):
    write_split(tmp_path, "test", 4, gz=True)
    (tmp_path / "MD5SUMS").write_text("0" * 32 + "  t10k-images-idx3-ubyte.gz\n")
    with pytest.raises(DataError, match="does not match"):
        load("mnist", data_root=tmp_path)

    other = tmp_path / "other"
    write_split(other, "test", 4)
    write_idx(other / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 42]))
    with pytest.raises(DataError, match="labels go up to 42"):
        load("mnist", data_root=other)


def test_fashion_mnist_reads_its_own_folder_only(tmp_path):
    write_split(tmp_path, "train", 4)  # MNIST files in the root must not pass for Fashion-MNIST
    with pytest.raises(DataError, match="FashionMNIST"):
        load("fashion-mnist", data_root=tmp_path)
    write_split(tmp_path / "FashionMNIST" / "raw", "train", 6)
    d = load("fashion-mnist", data_root=tmp_path)
    assert d.name == "fashion-mnist" and len(d) == 6 and d.info["classes"][9] == "Ankle boot"


SHARED_MNIST = find_shared_mnist()


@pytest.mark.skipif(SHARED_MNIST is None, reason="no shared MNIST directory "
                    "(../shared/data/mnist-t10k or $GANZOO_MNIST_DIR) on this machine")
def test_shared_mnist_test_split():
    d = load("mnist", data_root=SHARED_MNIST)
    assert d.split == "test" and d.x.shape == (10_000, 1, 28, 28)
    assert d.x.min() == -1 and d.x.max() == 1 and d.y.bincount().tolist()[:2] == [980, 1135]
    assert "train split is absent" in d.source
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*\\n.*Searched"):
        load("mnist", data_root=SHARED_MNIST, split="train")


# ---------------------------------------------------------------- torchvision paths

@pytest.mark.parametrize("name, cls_name", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_download_goes_through_torchvision(tmp_path, monkeypatch, name, cls_name):
    from pathlib import Path

    import torchvision.datasets as tvd

    def fake_download(self):  # what torchvision leaves on disk: uncompressed raw files
        write_split(Path(self.raw_folder), "train", 9)
        write_split(Path(self.raw_folder), "test", 4)

    monkeypatch.setattr(getattr(tvd, cls_name), "download", fake_download)
    d = load(name, data_root=tmp_path, download=True)
    assert d.split == "train" and d.x.shape == (9, 1, 28, 28) and "torchvision" in d.source
    assert d.x.min() >= -1 and d.x.max() <= 1 and d.y.dtype == torch.int64
    # Now on disk: read offline without torchvision's download.
    assert len(load(name, data_root=tmp_path, split="test")) == 4


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def no_network(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd.MNIST, "download", no_network)
    with pytest.raises(DataError, match="could not download MNIST"):
        load("mnist", data_root=tmp_path, download=True)


def write_cifar(root, n_train_batch=2, n_test=3):
    """A tiny CIFAR-10 in torchvision's python layout (pickled dicts of uint8 rows)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n):
        rows = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        return {"data": rows, "labels": [i % 10 for i in range(n)]}

    batches = {f"data_batch_{i}": batch(n_train_batch) for i in range(1, 6)}
    batches["test_batch"] = batch(n_test)
    for name, content in batches.items():
        (folder / name).write_bytes(pickle.dumps(content))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return batches


def test_cifar10_from_torchvision_layout(tmp_path, monkeypatch):
    import os

    import torchvision.datasets.cifar as tv_cifar

    batches = write_cifar(tmp_path)
    # torchvision checks each batch's MD5 against the real CIFAR-10 files, which tiny
    # fake batches cannot match: accept any existing file instead.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    train = load("cifar10", data_root=tmp_path)
    assert train.split == "train" and train.x.shape == (10, 3, 32, 32) and train.num_classes == 10
    rows = batches["data_batch_1"]["data"]
    # Row layout is 1024 red, 1024 green, 1024 blue values: channel c, pixel (0, 1) is rows[:, c*1024 + 1].
    expected = torch.from_numpy(rows[0, [1, 1025, 2049]].astype(np.float32)) / 127.5 - 1
    assert torch.allclose(train.x[0, :, 0, 1], expected)
    assert train.x.min() >= -1 and train.x.max() <= 1 and train.info["classes"][0] == "airplane"
    test = load("cifar10", data_root=tmp_path, split="test")
    assert len(test) == 3 and test.y.tolist() == [0, 1, 2]


def test_cifar10_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError) as err:
        load("cifar10", data_root=tmp_path)
    msg = str(err.value)
    assert "data_batch_1" in msg and "test_batch" in msg and "cifar-10-batches-py" in msg
    assert "--download" in msg and "--data-root" in msg

    write_cifar(tmp_path)  # fake batches fail torchvision's MD5 check
    with pytest.raises(DataError, match="corrupt or incomplete"):
        load("cifar10", data_root=tmp_path)


# ---------------------------------------------------------------- folder

def write_png(path, size, mode="RGB", colour=(255, 0, 0)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else 128).save(path)


def test_folder_resizes_and_crops(tmp_path):
    write_png(tmp_path / "a.png", (40, 30))
    write_png(tmp_path / "nested" / "b.png", (20, 20), mode="L")
    (tmp_path / "notes.txt").write_text("not an image")
    d = load("folder", path=tmp_path, size=16)
    assert d.x.shape == (2, 3, 16, 16) and d.y is None and not d.labelled
    assert torch.allclose(d.x[0, :, 8, 8], torch.tensor([1.0, -1.0, -1.0]))  # pure red
    assert "2 images" in d.source and d.info["options"]["path"] == str(tmp_path)
    grey = load("folder", path=str(tmp_path), size="8", channels=1)
    assert grey.x.shape == (2, 1, 8, 8)


def test_folder_subfolders_are_classes(tmp_path):
    for cls, n in (("cats", 2), ("dogs", 3)):
        for i in range(n):
            write_png(tmp_path / cls / f"{i}.png", (10, 12))
    d = load("folder", path=tmp_path, size=8)
    assert d.num_classes == 2 and d.y.tolist() == [0, 0, 1, 1, 1] and d.info["classes"] == ["cats", "dogs"]


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="needs option 'path'"):
        load("folder")
    with pytest.raises(DataError, match="not a directory"):
        load("folder", path=tmp_path / "absent")
    with pytest.raises(DataError, match="no images"):
        load("folder", path=tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        load("folder", path=tmp_path)
    with pytest.raises(DataError, match="channels must be one of 1, 3"):
        load("folder", path=tmp_path, channels=2)


def test_load_moves_to_device_and_reexports():
    d = load("ring8", n=8, device="cpu")
    assert d.device == torch.device("cpu")
    assert data.TensorData is type(d) and callable(data.default_data_root)
