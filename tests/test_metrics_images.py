"""Image metrics: ganzoo's offline extractors, FID/KID/PR through torch-fidelity, Inception
wiring, Stacked MNIST, conditional quality, the `eval` command.

Extractors are trained once per session into a temporary cache. MNIST comes from the
shared test split (skipped where it is absent); digits ship with scikit-learn.
"""
import json
import math
import os

import numpy as np
import pytest
import torch
import torch_fidelity
from torchvision.transforms.functional import gaussian_blur

from ganzoo.data import find_shared_mnist, load
from ganzoo.metrics import (
    INCEPTION_FILE,
    InceptionWeightsMissing,
    domain_space,
    evaluate,
    fidelity_metrics,
    get_extractor,
    inception_space,
)
from ganzoo.metrics.extractors import EXTRACTORS, load_or_train

MNIST_ROOT = find_shared_mnist()
needs_mnist = pytest.mark.skipif(MNIST_ROOT is None, reason="no MNIST IDX files (shared/data/mnist-t10k)")


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A fresh cache for the session (extractors are trained once, here)."""
    path = tmp_path_factory.mktemp("ganzoo-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANZOO_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def mnist():
    if MNIST_ROOT is None:
        pytest.skip("no MNIST IDX files")
    return load("mnist", data_root=MNIST_ROOT)


@pytest.fixture(scope="session")
def mnist_extractor(cache, mnist):
    return get_extractor("ganzoo-mnist", data_root=MNIST_ROOT, cache=cache)


@pytest.fixture(scope="session")
def mnist_space(cache, mnist_extractor):
    return domain_space("ganzoo-mnist", data_root=MNIST_ROOT, cache=cache)


def u8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8, computed here independently of ganzoo's helper."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class U8(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


# ---- extractors ------------------------------------------------------------------------
@needs_mnist
def test_mnist_classifier_reaches_98_percent_held_out(mnist, mnist_extractor):
    # The held-out images, recomputed here: seed-0 permutation, first 2,000 (see extractors.py).
    perm = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))
    held = perm[:2000]
    acc = float((mnist_extractor.predict(mnist.x[held]) == mnist.y[held]).float().mean())
    assert acc >= 0.98
    assert acc == pytest.approx(mnist_extractor.accuracy)
    train_acc = float((mnist_extractor.predict(mnist.x[perm[2000:]]) == mnist.y[perm[2000:]]).float().mean())
    assert train_acc >= acc - 0.02  # trained on those
    assert len(mnist_extractor.fingerprint) == 12 and mnist_extractor.sha256.startswith(mnist_extractor.fingerprint)


def test_digits_classifier_is_reproducible_and_reaches_95_percent(tmp_path):
    spec = EXTRACTORS.get("ganzoo-digits")
    a = load_or_train(spec, cache=tmp_path / "a")
    b = load_or_train(spec, cache=tmp_path / "b")  # trained again, from scratch
    assert a is not b and a.path != b.path
    assert a.sha256 == b.sha256
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    test = load("digits", split="test")
    acc = float((a.predict(test.x) == test.y).float().mean())
    assert acc >= 0.95 and acc == pytest.approx(a.accuracy)
    # The cached file is what the next process gets; a damaged one is refused.
    again = spec.from_file(a.path)
    assert again.sha256 == a.sha256
    record = torch.load(a.path, weights_only=True)
    record["state_dict"]["head.bias"] += 1.0
    torch.save(record, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="damaged"):
        spec.from_file(tmp_path / "bad.pt")
    # A damaged file in the cache itself is trained again, to the same weights.
    import ganzoo.metrics.extractors as extractors

    torch.save(record, a.path)
    extractors._LOADED.clear()  # as in a new process
    rebuilt = load_or_train(spec, cache=tmp_path / "a")
    assert rebuilt.sha256 == a.sha256 and spec.from_file(a.path).sha256 == a.sha256


def test_extractor_input_checks(cache):
    space = domain_space("ganzoo-digits", cache=cache)
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    with pytest.raises(ValueError, match=r"uint8 images \[B, 1, 8, 8\]"):
        fidelity_metrics(torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28), space, kid=False, prc=False)
    with pytest.raises(ValueError, match="differ in shape"):
        fidelity_metrics(x, torch.rand(8, 1, 9, 9), space)


# ---- FID / KID / PR through torch-fidelity ------------------------------------------------
@needs_mnist
@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # torch-fidelity's default workers
def test_ganzoo_fid_kid_equal_torch_fidelity_called_directly(mnist, mnist_space, cache):
    gen, ref = mnist.x[:1500], mnist.x[5000:6500]
    gen = (gen + 0.3 * torch.randn(gen.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    ours = evaluate(gen, mnist, n=1500, reference_split="test", data_root=MNIST_ROOT, final=True,
                    kid_subsets=20, cache=cache)
    direct = torch_fidelity.calculate_metrics(
        input1=U8(u8(gen)), input2=U8(u8(mnist.x[:1500])),  # evaluate's reference: the first n of the split
        feature_extractor="ganzoo-mnist", feature_extractor_weights_path=mnist_space.weights_path,
        fid=True, kid=True, prc=True, kid_subsets=20, kid_subset_size=1000, cuda=False, cache=False,
        verbose=False)
    assert ours["FID[ganzoo-mnist]"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-6)
    assert ours["KID[ganzoo-mnist]"] == pytest.approx(direct["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["precision[ganzoo-mnist]"] == pytest.approx(direct["precision"])
    assert ours["recall[ganzoo-mnist]"] == pytest.approx(direct["recall"])
    p = ours["protocol"]
    assert p["feature_spaces"]["ganzoo-mnist"]["fingerprint"] == mnist_space.fingerprint
    assert p["reference"]["split"] == "test" and p["reference"]["n"] == 1500
    assert p["kid"]["subset_size"] == 1000
    # Against another reference set, through fidelity_metrics (and its reference cache).
    kw = dict(input1=U8(u8(gen)), input2=U8(u8(ref)), feature_extractor="ganzoo-mnist", fid=True,
              feature_extractor_weights_path=mnist_space.weights_path, cuda=False, verbose=False)
    ours = fidelity_metrics(gen, ref, mnist_space, kid=False, prc=False, cache=cache, reference_name="t-ref")
    direct = torch_fidelity.calculate_metrics(cache=False, save_cpu_ram=True, **kw)
    assert ours["FID[ganzoo-mnist]"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-6)


@needs_mnist
def test_fid_orders_real_noise_and_blur(mnist, mnist_space, cache):
    a, b = mnist.x[:2000], mnist.x[5000:7000]  # two disjoint sets of real digits
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def fid(x):
        return fidelity_metrics(x, b, mnist_space, kid=False, prc=False, cache=cache,
                                reference_name="test-blur-ref")["FID[ganzoo-mnist]"]

    real, rand = fid(a), fid(noise)
    assert real < 0.1 * rand
    blurred = [fid(gaussian_blur(a, kernel_size=2 * math.ceil(3 * s) + 1, sigma=s)) for s in (0.6, 1.2, 2.4)]
    assert real < blurred[0] < blurred[1] < blurred[2]


@needs_mnist
def test_reference_statistics_are_cached_by_split_count_and_fingerprint(mnist, mnist_space, cache):
    fid_dir = cache / "fidelity"
    before = set(os.listdir(fid_dir)) if fid_dir.exists() else set()
    for _ in range(2):
        r = evaluate(mnist.x[:600], mnist, n=600, data_root=MNIST_ROOT, final=False, kid_subsets=5, cache=cache)
    new = set(os.listdir(fid_dir)) - before
    assert new and all(f"-n600-{mnist_space.fingerprint}-" in f and "mnist-test" in f for f in new)
    assert abs(r["FID[ganzoo-mnist]"]) < 1e-6  # the reference itself
    evaluate(mnist.x[:700], mnist, n=700, data_root=MNIST_ROOT, final=False, kid_subsets=5, cache=cache)
    newer = set(os.listdir(fid_dir)) - before - new
    assert newer and all("-n700-" in f for f in newer)


@needs_mnist
def test_corrupt_cached_reference_statistics_are_computed_again_not_read_wrong(mnist, mnist_space, cache):
    gen, ref = mnist.x[:300].flip(-1), mnist.x[300:600]
    name = "t-corrupt-ref"
    first = fidelity_metrics(gen, ref, mnist_space, kid=False, prc=False, cache=cache, reference_name=name)
    [stats] = (cache / "fidelity").glob(f"{name}-*stat*.pt")
    assert stats.with_name(stats.name + ".sha256").is_file()  # sealed when written
    raw = bytearray(stats.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the statistics (torch-fidelity would fail on it)
    stats.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="did not match the SHA-256 recorded when they were written"):
        again = fidelity_metrics(gen, ref, mnist_space, kid=False, prc=False, cache=cache, reference_name=name)
    assert again == first


@needs_mnist
def test_diverged_generator_gives_nan_not_an_error(mnist, cache):
    bad = torch.full((300, 1, 28, 28), float("nan"))
    r = evaluate(bad, mnist, n=300, data_root=MNIST_ROOT, final=False, cache=cache)
    assert math.isnan(r["FID[ganzoo-mnist]"]) and r["protocol"]["finite_samples"] is False


def test_dataset_without_an_extractor_asks_for_inception(monkeypatch, tmp_path):
    from ganzoo.metrics import feature_spaces

    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="no offline feature extractor for dataset 'folder'.*--inception-weights"):
        feature_spaces("auto", "folder")
    with pytest.raises(ValueError, match="unknown extractor 'ganzoo-mnst'.*ganzoo-mnist"):
        feature_spaces("ganzoo-mnst", "mnist")


# ---- Inception -------------------------------------------------------------------------
def test_missing_inception_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    with pytest.raises(InceptionWeightsMissing) as err:
        inception_space()
    msg = str(err.value)
    assert INCEPTION_FILE in msg and "--inception-weights" in msg and "GANZOO_INCEPTION_WEIGHTS" in msg
    assert "--allow-download" in msg
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(InceptionWeightsMissing, match="nowhere.pth"):
        inception_space()
    with pytest.raises(FileNotFoundError, match="elsewhere.pth, which does not exist"):
        evaluate(torch.zeros(4, 1, 8, 8), load("digits", split="test"), n=4, extractor="inception",
                 inception_weights=tmp_path / "elsewhere.pth")


def test_an_inception_weights_file_without_inception_layers_is_refused_by_name(monkeypatch, tmp_path):
    stand_in = tmp_path / "stand-in.pth"
    torch.save({"not": torch.zeros(1)}, stand_in)  # a torch file, but not Inception's weights
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(stand_in))
    with pytest.raises(InceptionWeightsMissing, match=r"without Inception-v3's layers, e.g. Conv2d_1a_3x3"):
        inception_space()
    stand_in.write_bytes(b"garbage" * 10)
    with pytest.raises(InceptionWeightsMissing, match="is not a torch weights file"):
        inception_space()


@pytest.mark.slow
def test_inception_with_random_full_size_weights_matches_torch_fidelity(tmp_path):
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fi

    with mock.patch.object(fi, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(fi.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None):
        shapes = fi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    g = torch.Generator().manual_seed(0)
    weights = {k: (torch.randn(v.shape, generator=g) * math.sqrt(2.0 / v[0].numel()) if v.dim() >= 2 else v)
               for k, v in shapes.items()}
    path = tmp_path / INCEPTION_FILE
    torch.save(weights, path)
    gray = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    with pytest.warns(RuntimeWarning, match="not torch-fidelity's published weights file"):
        space = inception_space(path)
    assert space.info["official_weights"] is False
    ours = fidelity_metrics(gray[:2], gray[2:], space, fid=False, kid=True, prc=False)
    direct = torch_fidelity.calculate_metrics(
        input1=U8(u8(gray[:2]).repeat(1, 3, 1, 1)), input2=U8(u8(gray[2:]).repeat(1, 3, 1, 1)),
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(path), kid=True,
        kid_subset_size=2, cuda=False, cache=False, save_cpu_ram=True, verbose=False)
    assert ours["KID[inception]"] == pytest.approx(direct["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["KID[inception]"] != 0.0
    assert space.fingerprint == __import__("hashlib").sha256(path.read_bytes()).hexdigest()[:12]


# ---- Stacked MNIST -----------------------------------------------------------------------
@needs_mnist
def test_stacked_mnist_dataset_and_mode_count(mnist, mnist_extractor, cache):
    data = load("stacked-mnist", data_root=MNIST_ROOT, n=3000)
    idx = np.random.RandomState(1).randint(len(mnist), size=(3000, 3))  # the draw, recomputed
    assert data.x.shape == (3000, 3, 28, 28) and data.num_classes == 1000
    assert torch.equal(data.x[17, 2], mnist.x[idx[17, 2], 0])
    digits = mnist.y[torch.from_numpy(idx)]
    assert torch.equal(data.y, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])

    stacked = get_extractor("ganzoo-stacked-mnist", data_root=MNIST_ROOT, cache=cache)
    assert stacked.fingerprint == mnist_extractor.fingerprint
    feats, logits = stacked(data.x[:50])
    assert feats.shape == (50, 360) and logits.shape == (50, 1000)
    per_channel = stacked.digits(data.x[:50])
    assert torch.equal(logits.argmax(1), per_channel[:, 0] * 100 + per_channel[:, 1] * 10 + per_channel[:, 2])

    r = evaluate(data.x, data, n=3000, n_modes=3000, data_root=MNIST_ROOT, final=False, kid_subsets=5,
                 cache=cache)
    predicted = stacked.digits(data.x)
    triples = predicted[:, 0] * 100 + predicted[:, 1] * 10 + predicted[:, 2]
    assert r["modes"] == len(torch.unique(triples))
    assert float((triples == data.y).float().mean()) > 0.93  # ~0.987^3
    true_modes = len(torch.unique(data.y))
    assert abs(r["modes"] - true_modes) <= 30
    collapsed = data.x[data.y == data.y[0]][:1].repeat(500, 1, 1, 1)
    r = evaluate(collapsed, data, n=500, n_modes=500, data_root=MNIST_ROOT, final=False, kid_subsets=5,
                 cache=cache)
    assert r["modes"] == 1 and r["reverse_kl"] == pytest.approx(math.log(1000))
    assert r["protocol"]["mode_samples"] == 500
    assert data.info["mode_samples"] == 26000


# ---- conditional quality -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cgan_pair(cache, tmp_path_factory):
    """An untrained and a trained cgan on digits (400 steps, lr 1e-3: ~10 s on one core)."""
    from ganzoo.registry import VARIANTS
    from ganzoo.trainer import TrainConfig, Trainer

    if "cgan" not in VARIANTS:
        pytest.skip("variant cgan is not registered")
    data = load("digits")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small MLPs: one thread is faster, and steady on a busy machine
    try:
        config = TrainConfig(steps=400, batch_size=64, seed=0, device="cpu", log_every=100,
                             hparams={"lr_g": 1e-3, "lr_d": 1e-3})
        untrained = Trainer("cgan", data, config=config)
        ckpt = tmp_path_factory.mktemp("cgan") / "checkpoint.pt"
        trained = Trainer("cgan", data, config=config, checkpoint_path=ckpt)
        trained.fit()
    finally:
        torch.set_num_threads(threads)
    return untrained, trained, ckpt


def test_trained_cgan_obeys_labels_better_than_untrained(cgan_pair, cache):
    from ganzoo.metrics import label_accuracy

    untrained, trained, _ = cgan_pair
    clf = get_extractor("ganzoo-digits", cache=cache)
    labels = torch.arange(1000) % 10
    acc = {name: label_accuracy(t.sample(1000, labels=labels), labels, clf)
           for name, t in (("untrained", untrained), ("trained", trained))}
    assert acc["trained"] > acc["untrained"] + 0.3
    assert acc["trained"] > 0.6
    r = evaluate(trained, n=1000, final=True, kid_subsets=5, cache=cache)
    assert r["label_accuracy[ganzoo-digits]"] == pytest.approx(acc["trained"])  # same stream, same labels
    assert r["FID_intra[ganzoo-digits]"] > 0 and r["protocol"]["conditional"] is True
    r0 = evaluate(untrained, n=1000, final=True, kid_subsets=5, cache=cache)
    assert r0["FID_intra[ganzoo-digits]"] > r["FID_intra[ganzoo-digits]"]
    assert r0["FID[ganzoo-digits]"] > r["FID[ganzoo-digits]"]


def test_eval_command_prints_metrics_and_protocol(cgan_pair, cache, capsys):
    from ganzoo.cli import main

    _, _, ckpt = cgan_pair
    assert main(["eval", str(ckpt), "--n", "500", "--kid-subsets", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variant"] == "cgan" and out["step"] == 400
    assert {"FID[ganzoo-digits]", "KID[ganzoo-digits]", "label_accuracy[ganzoo-digits]",
            "FID_intra[ganzoo-digits]", "precision[ganzoo-digits]"} <= set(out)
    p = out["protocol"]
    assert p["generated"] == 500 and p["reference"]["split"] == "train"
    assert len(p["feature_spaces"]["ganzoo-digits"]["fingerprint"]) == 12
    assert main(["eval", str(ckpt), "--n", "300", "--kid-subsets", "5", "--data-root", str(ckpt.parent)]) == 0
    text = capsys.readouterr().out
    assert "FID[ganzoo-digits]" in text and "fingerprint" in text and "reference: digits train split" in text


def test_eval_command_errors_are_one_line(cgan_pair, monkeypatch, tmp_path, capsys):
    from ganzoo.cli import main

    _, _, ckpt = cgan_pair
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["eval", str(ckpt), "--extractor", "inception"]) == 2
    err = capsys.readouterr().err
    assert INCEPTION_FILE in err and "Traceback" not in err
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
