"""Density and coverage (Naeem et al. 2020): hand-made cases with known values, the
definition recomputed by brute force, and the metrics beside precision/recall."""
import math

import pytest
import torch

from ganzoo.metrics.density import density_coverage, knn_radii


def brute_force(real, fake, k):
    """The paper's definitions, one loop per sum (the reference implementation's strict <)."""
    n, m = len(real), len(fake)
    radii = []
    for i in range(n):
        d = sorted(float(torch.dist(real[i], real[j])) for j in range(n) if j != i)
        radii.append(d[k - 1])
    inside = [[float(torch.dist(fake[j], real[i])) < radii[i] for j in range(m)] for i in range(n)]
    density = sum(sum(row) for row in inside) / (k * m)
    coverage = sum(any(row) for row in inside) / n
    return density, coverage


def test_unit_square_by_hand():
    # Real: the corners of the unit square. With k = 1 every corner's ball has radius 1 (the
    # adjacent corners), open. (0.5, 0.5) lies in all four balls (0.707 < 1); (0.1, 0) in
    # those of (0, 0) (0.1) and (1, 0) (0.9), not (0, 1) (1.005) nor (1, 1) (1.345); (3, 3) in none.
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert knn_radii(real, k=1).tolist() == [1.0, 1.0, 1.0, 1.0]
    r = density_coverage(real, torch.tensor([[0.5, 0.5], [0.1, 0.0], [3.0, 3.0]]), k=1)
    assert r["density"] == pytest.approx((4 + 2 + 0) / (1 * 3))
    assert r["coverage"] == 1.0  # (0, 1) and (1, 1) both hold (0.5, 0.5)
    r = density_coverage(real, torch.tensor([[0.1, 0.0], [3.0, 3.0]]), k=1)
    assert r["density"] == pytest.approx((2 + 0) / (1 * 2))
    assert r["coverage"] == pytest.approx(2 / 4)
    # k = 2: the second nearest other corner is the other adjacent one, also at 1; k = 3: the opposite one
    assert knn_radii(real, k=2).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert knn_radii(real, k=3).tolist() == pytest.approx([math.sqrt(2)] * 4)


def test_identical_sets_have_full_coverage_and_density_one():
    real = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    for k in (1, 3, 5):
        r = density_coverage(real, real.clone(), k=k)
        assert r["coverage"] == 1.0
        # without ties each ball holds its centre and the k-1 nearer neighbours (the k-th sits on
        # its edge, outside the open ball): k per ball, so density is exactly 1
        assert r["density"] == pytest.approx(1.0)


def test_a_set_collapsed_onto_one_real_point_covers_one_ball():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(200, 4, generator=g)
    real[0] = 100.0  # far from the others: no other real ball reaches it
    collapsed = real[:1].repeat(500, 1)
    r = density_coverage(real, collapsed, k=5)
    assert r["coverage"] == pytest.approx(1 / len(real))
    assert r["density"] == pytest.approx(1 / 5)  # every sample in exactly one ball, over k
    # collapsed onto a typical point instead: it also lies in its neighbours' balls, still ~1/N
    typical = real[1:2].repeat(500, 1)
    r = density_coverage(real, typical, k=5)
    assert 1 / len(real) <= r["coverage"] <= 10 / len(real)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_definition_computed_by_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(40, 3, generator=g), torch.randn(30, 3, generator=g) * 1.5 + 0.3
    want_density, want_coverage = brute_force(real, fake, k=4)
    r = density_coverage(real, fake, k=4, block=7)  # several blocks, one ragged
    assert r["density"] == pytest.approx(want_density)
    assert r["coverage"] == pytest.approx(want_coverage)
    assert 0.0 < r["coverage"] < 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="k between 1 and 2"):
        density_coverage(torch.zeros(3, 2), torch.zeros(3, 2), k=3)
    with pytest.raises(ValueError, match="expected features"):
        density_coverage(torch.zeros(8, 2), torch.zeros(8, 3))


def test_fidelity_metrics_puts_density_and_coverage_beside_precision_recall(tmp_path):
    """In an offline space (digits), through the features torch-fidelity extracted: the same
    numbers as density_coverage on those features, computed here from torch-fidelity's
    extractor directly, and listed right after precision/recall."""
    import torch_fidelity

    from ganzoo.data import load
    from ganzoo.metrics import domain_space, fidelity_metrics

    data = load("digits", split="test")
    space = domain_space("ganzoo-digits", cache=tmp_path)
    gen = (data.x[:120] + 0.4 * torch.randn(data.x[:120].shape, generator=torch.Generator().manual_seed(3)))
    ours = fidelity_metrics(gen.clamp(-1, 1), data.x[120:260], space, kid=False, prc=True, cache=tmp_path)
    keys = list(ours)
    assert keys.index("density[ganzoo-digits]") == keys.index("recall[ganzoo-digits]") + 1
    assert keys.index("coverage[ganzoo-digits]") == keys.index("density[ganzoo-digits]") + 1
    fe = torch_fidelity.utils.create_feature_extractor(space.extractor, ["features"], cuda=False,
                                                       feature_extractor_weights_path=space.weights_path)

    def feats(x):
        return fe(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))[0]

    want = density_coverage(feats(data.x[120:260]), feats(gen))
    assert ours["density[ganzoo-digits]"] == pytest.approx(want["density"])
    assert ours["coverage[ganzoo-digits]"] == pytest.approx(want["coverage"])
    direct = torch_fidelity.calculate_metrics(
        input1=_U8(gen), input2=_U8(data.x[120:260]),
        feature_extractor=space.extractor, feature_extractor_weights_path=space.weights_path, fid=True,
        prc=True, cuda=False, cache=False, save_cpu_ram=True, verbose=False)
    assert ours["FID[ganzoo-digits]"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-6)
    assert ours["precision[ganzoo-digits]"] == pytest.approx(direct["precision"])


class _U8(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]
