"""Micro-benchmarks of one training step per variant on the CPU: ganzoo's trainer
against a plain eager loop over the same nets, data, batch and losses, in the same run.

    make bench-micro            # pytest benchmarks --benchmark-only
    .venv/bin/python -m pytest benchmarks --benchmark-only -k nsgan --benchmark-columns=mean,min,rounds

One group per workload (variant × nets × batch); in each, ``ganzoo`` is
``Trainer.fit`` over STEPS more steps (its history kept, read back once per call, as
in a real run) and ``plain`` is :class:`ganzoo.throughput.PlainLoop` over STEPS steps —
default optimizers, no logging, no framework. ``plain-fused`` (the seed MLP only) is
the plain loop with fused Adam, to show where ganzoo's margin comes from. Every row's
``extra_info`` holds its real images per second; a row's time is for STEPS iterations.

Data: synthetic MNIST-shaped samples (1×28×28, 10 labels) and a 2D set shaped like
ring8; nothing is read from disk. Timings on a shared machine are noisy: compare
rows of one run, and prefer ``min``.
"""
from __future__ import annotations

import pytest
import torch

from ganzoo.registry import VARIANTS
from ganzoo.throughput import PlainLoop, synthetic_data
from ganzoo.trainer import TrainConfig, Trainer

STEPS = 5  # iterations per timed call
ROUNDS = 5

# (label, sample shape, batch): the seed's MNIST MLP at batch 64 for every variant.
WORKLOADS = [("mlp-28px-b64", "1x28x28", 64)]
TOY = ("mlp-2d-b64", "2", 64)  # the small 2D nets: framework overhead shows most here


@pytest.fixture(scope="module")
def datasets():
    return {shape: synthetic_data(shape, n=4096) for _, shape, _ in WORKLOADS + [TOY]}


def make_trainer(variant: str, shape: str, batch: int, datasets):
    torch.manual_seed(0)
    config = TrainConfig(steps=10 ** 9, batch_size=batch, device="cpu", perf="auto", log_every=100)
    return Trainer(variant, datasets[shape], arch="mlp", config=config)


def run_rows(benchmark, label: str, trainer: Trainer, impl: str) -> None:
    benchmark.group = f"{trainer.variant.name} {label}"
    if impl == "ganzoo":
        def run():
            trainer.fit(trainer.step + STEPS)
        images = trainer.images_per_step
    else:
        plain = PlainLoop(trainer, fused=impl == "plain-fused")

        def run():
            plain.run(STEPS)
        images = plain.images_per_step
    run()  # warm-up (lazy optimizer state, allocator)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats:
        benchmark.extra_info["img_per_s_mean"] = STEPS * images / stats.stats.mean
        benchmark.extra_info["img_per_s_best"] = STEPS * images / stats.stats.min
    if impl == "ganzoo":
        assert trainer.runner.mode == "eager"  # the CPU runs eagerly under auto


@pytest.mark.parametrize("impl", ["ganzoo", "plain"])
@pytest.mark.parametrize("variant", VARIANTS.names())
@pytest.mark.parametrize("workload", WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_step(benchmark, datasets, variant, workload, impl):
    label, shape, batch = workload
    run_rows(benchmark, label, make_trainer(variant, shape, batch, datasets), impl)


@pytest.mark.parametrize("impl", ["ganzoo", "plain", "plain-fused"])
@pytest.mark.parametrize("variant", ["nsgan"])
def test_step_seed_mlp(benchmark, datasets, variant, impl):
    """The seed's MLP GAN (nsgan), with the plain loop also on fused Adam."""
    label, shape, batch = WORKLOADS[0]
    run_rows(benchmark, label + " (seed)", make_trainer(variant, shape, batch, datasets), impl)


@pytest.mark.parametrize("impl", ["ganzoo", "plain"])
@pytest.mark.parametrize("variant", ["nsgan", "wgan-gp"])
def test_step_toy(benchmark, datasets, variant, impl):
    label, shape, batch = TOY
    run_rows(benchmark, label, make_trainer(variant, shape, batch, datasets), impl)
