"""How long evaluation takes: FID + KID + precision/recall of MNIST-size samples with
ganzoo's offline MNIST extractor, the real reference statistics already cached.

    make bench-micro
    .venv/bin/python -m pytest benchmarks/test_metrics_speed.py --benchmark-only \
        --benchmark-columns=mean,min,max,rounds

Target (issue 4): 10,000 samples in under 30 s on a 2-core CPU. ``n2000`` is the size
the quick benchmark suite uses along its curves. The "generated" samples are MNIST test
digits with noise added (what they are does not change the cost). The extractor and
the reference statistics go to the usual cache ($GANZOO_CACHE or ~/.cache/ganzoo): the
first run trains the extractor (~15 s) and caches the reference during the warm-up round.
"""
from __future__ import annotations

import pytest
import torch

from ganzoo.data import find_shared_mnist, load

ROOT = find_shared_mnist()
pytestmark = pytest.mark.skipif(ROOT is None, reason="needs the MNIST IDX files (shared/data/mnist-t10k)")


@pytest.fixture(scope="module")
def mnist():
    return load("mnist", data_root=ROOT)


def fake(mnist, n):
    g = torch.Generator().manual_seed(0)
    x = mnist.x[torch.randint(len(mnist), (n,), generator=g)]
    return (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


@pytest.mark.parametrize("n", [10_000, 2_000], ids=["n10000", "n2000"])
def test_fid_kid_pr(benchmark, mnist, n):
    """``fidelity_metrics``: FID + KID (100 subsets of 1000) + precision/recall (k=3)."""
    from ganzoo.metrics import domain_space, fidelity_metrics
    from ganzoo.metrics.quality import reference_cache_name

    space = domain_space("ganzoo-mnist", data_root=ROOT)
    gen, ref = fake(mnist, n), mnist.x[:n]
    name = reference_cache_name("mnist", mnist.split, ref, space)
    benchmark.group = f"metrics {n} MNIST samples"
    result = benchmark.pedantic(lambda: fidelity_metrics(gen, ref, space, fid=True, kid=True, prc=True,
                                                         reference_name=name),
                                rounds=2 if n > 5000 else 3, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update({k: round(v, 4) for k, v in result.items()})
    benchmark.extra_info["torch_threads"] = torch.get_num_threads()


def test_evaluate_everything(benchmark, mnist):
    """``evaluate``: the above plus IS and the class-mode count, from samples to numbers."""
    from ganzoo.metrics import evaluate

    gen = fake(mnist, 10_000)
    benchmark.group = "metrics 10000 MNIST samples"
    result = benchmark.pedantic(lambda: evaluate(gen, mnist, n=10_000, data_root=ROOT, final=True),
                                rounds=1, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "protocol"})
