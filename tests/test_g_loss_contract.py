"""The G-loss contract: a ``g_loss(d_fake, d_real)`` gets D's outputs on a real batch from
the default G step; a one-argument ``g_loss`` is untouched. And the example plugin's loss
is the relativistic formula."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from toy_variants import registered as registered_variants

from ganzoo.data import load
from ganzoo.registry import VARIANTS
from ganzoo.trainer import TrainConfig, Trainer
from ganzoo.variants.conditional import ConditionalGAN
from ganzoo.variants.minimax import NonSaturating

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganzoo-relativistic" / "ganzoo_relativistic.py"


class SeesReal(NonSaturating):
    """Test variant: a relativistic G loss on the nsgan D loss; keeps what it was given."""

    def g_loss(self, d_fake, d_real):
        self.seen = (d_fake.detach(), d_real.detach())
        return F.softplus(-(d_fake - d_real)).mean()


class ConditionalSeesReal(ConditionalGAN):
    """Test variant: cGAN with a two-argument G loss."""

    def g_loss(self, d_fake, d_real):
        return F.softplus(-(d_fake - d_real)).mean()


@pytest.fixture
def registered():
    with registered_variants(test_sees_real=SeesReal, test_cond_sees_real=ConditionalSeesReal):
        yield


def example_module():
    spec = importlib.util.spec_from_file_location("ganzoo_relativistic_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_signature_decides_and_one_argument_losses_are_unchanged():
    assert SeesReal.g_loss_sees_real() and not NonSaturating.g_loss_sees_real()
    assert {n for n in VARIANTS.names() if VARIANTS.get(n).g_loss_sees_real()} == {"rsgan", "ragan"}
    assert SeesReal().real_images_per_step(64) == 2 * 64
    assert NonSaturating().real_images_per_step(64) == 64
    assert VARIANTS.get("wgan-gp")().real_images_per_step(64) == 5 * 64


def test_the_g_step_passes_d_on_a_real_batch_and_leaves_d_without_gradient(registered):
    data = load("ring8", n=2000)
    tr = Trainer("test-sees-real", data, config=TrainConfig(steps=5, batch_size=32, z_dim=4, seed=0))
    calls = []
    hook = tr.D.register_forward_hook(lambda m, args, out: calls.append(args[0].detach().clone()))
    for p in tr.D.parameters():
        p.grad = None
    tr.variant.g_step(tr.context())
    hook.remove()
    assert all(p.grad is None for p in tr.D.parameters())  # G's step trains G only
    assert len(calls) == 2  # D on the fakes, then on a real batch
    fake_in, real_in = calls
    d_fake, d_real = tr.variant.seen
    assert d_real.shape == d_fake.shape == (32,)
    # The real batch is data (every row is a point of the dataset), not G's output.
    assert (real_in[:, None, :] - data.x[None]).abs().amax(dim=2).min(dim=1).values.max() < 1e-6
    with torch.no_grad():
        torch.testing.assert_close(tr.D(real_in).reshape(-1).float(), d_real)
    history = tr.fit()
    assert history.status == "ok" and history.real_images == 5 * 2 * 32


def test_a_conditional_two_argument_loss_gets_the_real_labels(registered):
    data = load("ring8", n=2000)
    tr = Trainer("test-cond-sees-real", data, config=TrainConfig(steps=3, batch_size=16, z_dim=4, seed=0))
    seen = []
    hook = tr.D.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    tr.variant.g_step(tr.context())
    hook.remove()
    assert len(seen) == 2 and all(y is not None and y.shape == (16,) for y in seen)
    assert tr.fit().status == "ok"


def test_the_example_plugin_is_the_relativistic_average_least_squares_formula():
    v = example_module().RelativisticAverageLSGAN()
    assert v.g_loss_sees_real()
    r, f = [1.0, 4.0], [0.0, -1.0]  # by hand: mean r = 2.5, mean f = -0.5 (the terms differ)
    # L_D = mean((r + 0.5 - 1)^2) + mean((f - 2.5 + 1)^2) = mean(0.25, 12.25) + mean(2.25, 6.25) = 10.5
    # L_G = mean((f - 2.5 - 1)^2) + mean((r + 0.5 + 1)^2) = mean(12.25, 20.25) + mean(6.25, 30.25) = 34.5
    r, f = torch.tensor(r, dtype=torch.float64), torch.tensor(f, dtype=torch.float64)
    assert v.d_loss(r, f).item() == pytest.approx(10.5)
    assert v.g_loss(f, r).item() == pytest.approx(34.5)
