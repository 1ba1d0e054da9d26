"""Metrics without images: Fréchet distance, 2D mode statistics, the evaluate hook on 2D
data, KL helpers, input errors. Each checked against an independent computation."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ganzoo.data import load
from ganzoo.metrics import evaluate, frechet_distance, make_evaluator, mode_stats
from ganzoo.metrics.modes import kl_to_uniform


# ---- Fréchet distance ------------------------------------------------------------------
def closed_form_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)), with SciPy's sqrtm."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("dim", [2, 5, 16])
def test_frechet_distance_matches_closed_form(dim):
    rng = np.random.default_rng(dim)
    a = rng.normal(size=(dim, dim))
    x = rng.normal(size=(3000, dim)) @ a + 0.5
    y = rng.normal(size=(2000, dim)) * rng.uniform(0.5, 2.0, size=dim) - 1.0
    expected = closed_form_frechet(x, y)
    got = frechet_distance(torch.from_numpy(x), torch.from_numpy(y).float())
    assert expected > 1.0
    assert got == pytest.approx(expected, rel=1e-4)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 3.0])
    assert abs(frechet_distance(x, x)) < 1e-8
    assert frechet_distance(x, x + torch.tensor([3.0, 4.0])) == pytest.approx(25.0, rel=1e-6)


def test_frechet_distance_rejects_bad_shapes_and_is_nan_for_diverged_samples():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.randn(1, 2), torch.randn(10, 2))
    bad = torch.randn(10, 2)
    bad[3, 0] = float("nan")
    assert math.isnan(frechet_distance(bad, torch.randn(10, 2)))


# ---- mode statistics -------------------------------------------------------------------
def hand_built(data, covered, per_mode, n_off, sigmas=1.0, seed=0):
    """``per_mode`` points at ``sigmas``·σ (random directions) around each covered mode,
    plus ``n_off`` points far (> 10σ) from every mode."""
    g = torch.Generator().manual_seed(seed)
    modes, std = data.modes.double(), float(data.mode_std)
    pts = []
    for m in covered:
        angle = torch.rand(per_mode, generator=g, dtype=torch.float64) * 2 * math.pi
        pts.append(modes[m] + sigmas * std * torch.stack([angle.cos(), angle.sin()], 1))
    far = []
    while len(far) < n_off:  # uniform in the bounding box, kept only when far from every mode
        p = (torch.rand(2, generator=g, dtype=torch.float64) - 0.5) * 12
        if torch.cdist(p[None], modes).min() > 10 * std:
            far.append(p)
    return torch.cat(pts + ([torch.stack(far)] if far else [])).float()


@pytest.mark.parametrize("name", ["ring8", "grid25"])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_mode_stats_counts_the_covered_modes(name, k):
    data = load(name, n=100)
    kk = data.modes.shape[0]
    covered = list(range(0, kk, max(1, kk // k)))[:k]
    per_mode, n_off = 40, 37
    x = hand_built(data, covered, per_mode, n_off, seed=k)
    s = mode_stats(x, data)
    assert s["modes"] == k
    assert s["hq_fraction"] == pytest.approx(k * per_mode / (k * per_mode + n_off))
    assert s["reverse_kl"] == pytest.approx(math.log(kk / k), abs=1e-9)  # uniform over k of kk modes
    assert sorted(i for i, c in enumerate(s["counts"]) if c) == sorted(covered)
    assert s["num_modes"] == kk and s["n"] == len(x)


def test_mode_stats_all_modes_of_grid25_and_the_3_sigma_boundary():
    data = load("grid25", n=100)
    x = hand_built(data, range(25), 4, 0)
    assert mode_stats(x, "grid25")["modes"] == 25
    inside = hand_built(data, [7], 10, 0, sigmas=2.95)
    outside = hand_built(data, [7], 10, 0, sigmas=3.05)
    s = mode_stats(torch.cat([inside, outside]), data)
    assert s["modes"] == 1 and s["hq_fraction"] == pytest.approx(0.5)


def test_mode_stats_on_real_samples_and_diverged_ones():
    data = load("ring8", split="test", n=2500)
    s = mode_stats(data.x, data)
    assert s["modes"] == 8
    assert s["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)  # P(chi2_2 < 9): 98.9%
    hist = torch.bincount(data.y, minlength=8).double()
    assert s["reverse_kl"] == pytest.approx(float((hist / hist.sum() * (hist / hist.sum() * 8).log()).sum()), abs=0.01)
    nan = torch.full((10, 2), float("nan"))
    s = mode_stats(nan, data)
    assert s["modes"] == 0 and s["hq_fraction"] == 0.0 and math.isnan(s["reverse_kl"])


def test_mode_stats_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="samples \\[N, 2\\]"):
        mode_stats(torch.zeros(5, 3), "ring8")
    digits = load("digits", split="test")
    with pytest.raises(ValueError, match="not a mixture"):
        mode_stats(torch.zeros(5, 2), digits)


def test_kl_to_uniform():
    assert kl_to_uniform(torch.tensor([5, 5, 5, 5])) == pytest.approx(0.0)
    assert kl_to_uniform(torch.tensor([10, 0, 0, 0])) == pytest.approx(math.log(4))
    p = np.array([0.5, 0.25, 0.25])
    assert kl_to_uniform(torch.tensor([2, 1, 1]), 3) == pytest.approx(float((p * np.log(p * 3)).sum()))
    assert math.isnan(kl_to_uniform(torch.zeros(3)))


# ---- evaluate on 2D data ------------------------------------------------------------------
def test_evaluate_points_from_a_callable_and_a_tensor():
    data = load("ring8", n=5000)
    sample = lambda n, labels=None: data.x[torch.randint(len(data), (n,))]  # noqa: E731
    r = evaluate(sample, data, n=2000)
    assert r["modes"] == 8 and r["hq_fraction"] > 0.95 and r["frechet"] < 0.01
    p = r["protocol"]
    assert p["mode_samples"] == 2500 and p["generated"] == 2000 and p["reference"]["n"] == 2000
    collapsed = data.modes[:1].repeat(1000, 1)  # fewer than asked for: all are used
    r = evaluate(collapsed, data, n=2000)
    assert r["modes"] == 1 and r["reverse_kl"] == pytest.approx(math.log(8))
    assert r["frechet"] > 0.5
    assert r["protocol"]["generated"] == 1000 and r["protocol"]["mode_samples"] == 1000


def test_evaluate_is_the_trainer_hook(tiny_config):
    from ganzoo.trainer import Trainer

    trainer = Trainer("nsgan", load("ring8", n=2000), config=tiny_config(steps=20, eval_every=10))
    history = trainer.fit(evaluate=make_evaluator(n=300, n_modes=300))
    assert [e["step"] for e in history.evals] == [10, 20]
    assert {"modes", "hq_fraction", "reverse_kl", "frechet", "protocol"} <= set(history.evals[-1])
    assert history.evals[-1]["protocol"]["sampler"].startswith("Trainer.sample")
    assert history.eval_s > 0


def test_conditional_evaluation_on_points_uses_the_label_modes():
    data = load("ring8", n=1000)
    labels = torch.arange(800) % 8
    obeying = data.modes[labels]
    r = evaluate(obeying, data, labels=labels, n=800, n_modes=800)
    assert r["label_accuracy"] == pytest.approx(1.0)
    r = evaluate(data.modes[(labels + 1) % 8], data, labels=labels, n=800, n_modes=800)
    assert r["label_accuracy"] == 0.0 and r["modes"] == 8
    # Obeying but sloppy (10 sigma off the labelled mode, still nearest to it): label
    # accuracy is about the label, hq_fraction about the landing.
    r = evaluate(obeying * (1 + 10 * float(data.mode_std)), data, labels=labels, n=800, n_modes=800)
    assert r["label_accuracy"] == pytest.approx(1.0) and r["hq_fraction"] == 0.0
    labels[0] = 1  # sample 0 still sits on mode 0 but now asks for mode 1: one miss in 800
    r = evaluate(obeying, data, labels=labels, n=800, n_modes=800)
    assert r["label_accuracy"] == pytest.approx(799 / 800)
