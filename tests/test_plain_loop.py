"""The throughput baseline (ganzoo.throughput.PlainLoop) is a second, tutorial-style
implementation of the GAN step: it must train exactly what Variant.train_step trains, for
every registered variant, or the speed-ups measured against it compare different work."""
import pytest
import torch

from ganzoo.data import load
from ganzoo.registry import VARIANTS
from ganzoo.throughput import PlainLoop
from ganzoo.trainer import TrainConfig, Trainer

STEPS = 3


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=2000)  # labelled (mode labels): the conditional variants run too


@pytest.mark.parametrize("name", sorted(VARIANTS.names()))
def test_plain_loop_and_train_step_give_the_same_parameters(ring8, name):
    trainer = Trainer(name, ring8, arch="toy-mlp",
                      config=TrainConfig(steps=STEPS, batch_size=32, z_dim=2, device="cpu", perf="eager"))
    plain = PlainLoop(trainer, fused=bool(trainer._opt_options.get("fused")))  # copies of the fresh nets
    initial = [p.detach().clone() for p in trainer.G.parameters()]
    torch.manual_seed(7)
    ctx = trainer.context()
    for _ in range(STEPS):
        trainer.variant.train_step(ctx)
    torch.manual_seed(7)
    plain.run(STEPS)
    for module, copy in ((trainer.G, plain.G), (trainer.D, plain.D)):
        for (name_, mine), theirs in zip(module.named_parameters(), copy.parameters()):
            torch.testing.assert_close(theirs, mine, rtol=1e-5, atol=1e-6, msg=f"{name}: {name_}")
    assert any(not torch.equal(a, b) for a, b in zip(initial, trainer.G.parameters()))  # G did train
