"""The variant zoo: every variant trains, and what makes each one that variant holds."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.data import TensorData, load
from ganzoo.registry import VARIANTS, first_line
from ganzoo.trainer import ConfigError, TrainConfig, Trainer
from ganzoo.variants import VariantError
from ganzoo.variants.base import Variant
from ganzoo.variants.regularized import dragan_points

BUILTIN = ["acgan", "cgan", "cgan-pd", "dragan", "lsgan", "nsgan", "r1", "sngan", "vanilla", "wgan", "wgan-gp"]
CONDITIONAL = ["acgan", "cgan", "cgan-pd"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small nets: faster on one thread


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=4000)


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def config(**kw):
    return TrainConfig(**{"steps": 20, "batch_size": 32, "log_every": 50, "device": "cpu", **kw})


class LinearCritic(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, of norm |w|."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32).flatten())

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


def test_builtins_are_registered_with_paper_description_and_defaults():
    names = set(VARIANTS)
    assert set(BUILTIN) <= names
    for name in BUILTIN:
        cls = VARIANTS.get(name)
        assert "arXiv:" in cls.paper and first_line(cls), name
        hp = cls().hp
        assert hp["lr_g"] > 0 and hp["lr_d"] > 0 and hp["n_critic"] >= 1, name
    assert [n for n in BUILTIN if VARIANTS.get(n).conditional] == CONDITIONAL


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_trains_with_finite_losses(name, ring8):
    trainer = Trainer(name, ring8, config=config(steps=200, log_every=100))
    history = trainer.fit()
    assert history.status == "ok"
    assert len(history.values["d_loss"]) == 200 and "g_loss" in history.values
    assert all(math.isfinite(v) for values in history.values.values() for v in values)
    assert torch.isfinite(trainer.sample(64)).all()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_trains_conv_nets_on_images(name, digits):
    trainer = Trainer(name, digits, arch="dcgan", config=config(steps=4, batch_size=16))
    history = trainer.fit()
    assert history.status == "ok"
    assert all(math.isfinite(v) for values in history.values.values() for v in values)
    assert trainer.sample(4).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_variant_on_unlabelled_data_is_a_clear_error(name, ring8):
    unlabelled = dataclasses.replace(ring8, y=None, num_classes=0)
    with pytest.raises(ConfigError, match=f"{name}.*conditional.*needs labels"):
        Trainer(name, unlabelled, config=config())


def test_preferred_architectures_and_override(digits):
    assert Trainer("wgan-gp", digits, config=config()).arch == "dcgan"
    assert Trainer("cgan", digits, config=config()).arch == "mlp"  # Mirza & Osindero used MLPs
    assert Trainer("wgan-gp", digits, arch="mlp", config=config()).arch == "mlp"


def test_gradient_penalty_critics_have_no_batchnorm(digits, ring8):
    def norms(trainer):
        return {type(m).__name__ for m in trainer.D.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))}

    for name in ("wgan-gp", "r1", "dragan", "sngan", "cgan-pd"):
        assert norms(Trainer(name, digits, arch="dcgan", config=config())) == set(), name
    assert norms(Trainer("lsgan", digits, arch="dcgan", config=config())) == {"BatchNorm2d"}
    layer = Trainer("wgan-gp", digits, arch="dcgan", config=config(hparams={"d_norm": "layer"}))
    assert norms(layer) == {"GroupNorm"} and layer.variant.hp["d_norm"] == "layer"
    with pytest.raises(ValueError, match="mlp.*d_norm"):
        Trainer("wgan-gp", ring8, config=config(hparams={"d_norm": "batch"}))


def test_resnet_trains_with_projection_and_spectral_norm():
    torch.manual_seed(0)
    data = TensorData(name="tiny-cifar", x=torch.rand(16, 3, 32, 32) * 2 - 1, y=torch.randint(10, (16,)),
                      num_classes=10, kind="image")
    # The CIFAR ResNet is heavy for a CPU: one D step and one G step on two images.
    trainer = Trainer("cgan-pd", data, arch="resnet", config=config(steps=1, batch_size=2, hparams={"n_critic": 1}))
    history = trainer.fit()
    assert history.status == "ok"
    assert all(math.isfinite(v) for values in history.values.values() for v in values)
    assert trainer.sample(2, labels=torch.tensor([0, 9])).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name", ["sngan", "wgan-gp", "acgan"])
def test_resume_keeps_the_variants_state(name, ring8, tmp_path):
    # Spectral norm's power-iteration vectors, penalties' random draws, AC-GAN's head: all resume exactly.
    full = Trainer(name, ring8, config=config(steps=6, seed=2)).fit()
    first = Trainer(name, ring8, config=config(steps=6, seed=2), checkpoint_path=tmp_path / "c.pt")
    first.fit(steps=3)
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt", data=ring8).fit()
    for key in full.values:
        assert resumed.values[key] == full.values[key], key


# ---- WGAN ------------------------------------------------------------------------
def test_wgan_clips_critic_weights_after_every_critic_step(ring8):
    trainer = Trainer("wgan", ring8, config=config())
    c = trainer.variant.hp["clip"]
    assert c == 0.01 and trainer.variant.hp["optimizer"] == "rmsprop" and trainer.variant.n_critic == 5
    assert max(p.abs().max().item() for p in trainer.D.parameters()) > c  # the init is wider than ±c
    trainer.variant.d_step(trainer.context())  # one critic step
    assert max(p.abs().max().item() for p in trainer.D.parameters()) <= c
    trainer.fit()
    weights = torch.cat([p.detach().flatten() for p in trainer.D.parameters()])
    assert weights.abs().max().item() <= c
    assert (weights.abs() == c).float().mean() > 0.1  # the clip is active, not a no-op
    assert max(p.abs().max().item() for p in trainer.G.parameters()) > c  # only the critic is clipped


# ---- WGAN-GP ---------------------------------------------------------------------
def wgan_gp_penalty(D, real, fake):
    return VARIANTS.get("wgan-gp")().d_penalty(D, real, fake, None, None)


def test_wgan_gp_penalty_is_zero_for_a_unit_slope_linear_critic():
    torch.manual_seed(0)
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 3
    assert wgan_gp_penalty(LinearCritic([0.6, 0.8]), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    w = torch.randn(64)
    images = torch.randn(16, 1, 8, 8)
    assert wgan_gp_penalty(LinearCritic(w / w.norm()), images, -images).item() == pytest.approx(0.0, abs=1e-10)


def test_wgan_gp_penalty_is_positive_otherwise_and_trains_the_critic():
    torch.manual_seed(0)
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 3
    D = LinearCritic([1.2, 1.6])  # slope 2: penalty λ(2 − 1)² = 10
    penalty = wgan_gp_penalty(D, real, fake)
    assert penalty.item() == pytest.approx(10.0, rel=1e-5)
    penalty.backward()  # only possible with create_graph=True: d/dw λ(|w| − 1)² = 2λ(|w| − 1) w/|w| = 10 w
    assert torch.allclose(D.w.grad, 10 * D.w.detach(), rtol=1e-5)
    mlp = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    assert wgan_gp_penalty(lambda x, y=None: mlp(x).squeeze(1), real, fake).item() > 0


def test_penalties_run_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    critic = lambda x, y=None: D(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    for name in ("wgan-gp", "r1", "dragan"):
        variant = VARIANTS.get(name)()
        torch.manual_seed(1)
        plain = variant.d_penalty(critic, real, fake, None, None)
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert D(real).dtype == torch.bfloat16  # autocast is on around the penalty...
            torch.manual_seed(1)
            auto = variant.d_penalty(critic, real, fake, None, None)
            from_bf16 = variant.d_penalty(critic, real, fake.bfloat16(), None, None)  # G's output under autocast
        # ...but not inside it: the same number as in float32, not one rounded to bf16's 8 bits.
        assert auto.dtype == torch.float32 and auto.item() == pytest.approx(plain.item(), rel=1e-6), name
        assert from_bf16.dtype == torch.float32 and math.isfinite(from_bf16.item()), name


@pytest.mark.parametrize("name", ["wgan-gp", "r1", "dragan"])
def test_penalised_variants_train_in_bf16(name, ring8):
    history = Trainer(name, ring8, config=config(steps=10, precision="bf16")).fit()
    assert history.status == "ok" and all(math.isfinite(v) for v in history.values["d_penalty"])


# ---- R1 and DRAGAN ---------------------------------------------------------------
def test_r1_penalty_is_half_gamma_squared_slope_on_real_data_only():
    r1 = VARIANTS.get("r1")()
    assert r1.hp["r1_gamma"] == 10.0
    real = torch.randn(32, 2)
    garbage = torch.full((32, 2), float("nan"))  # the fakes play no part
    for slope in (0.5, 1.0, 3.0):
        D = LinearCritic(torch.tensor([0.6, 0.8]) * slope)
        assert r1.d_penalty(D, real, garbage, None, None).item() == pytest.approx(5.0 * slope ** 2, rel=1e-5)


def test_dragan_penalises_around_perturbed_real_data():
    torch.manual_seed(0)
    real = torch.randn(256, 2)
    points = dragan_points(real)
    shift = points - real  # α · 0.5 · std(x) · U[0, 1]: between 0 and half the data's spread
    assert shift.min() >= 0 and shift.max() <= 0.5 * real.std() + 1e-6 and shift.std() > 0
    dragan = VARIANTS.get("dragan")()
    garbage = torch.full((256, 2), float("nan"))
    assert dragan.d_penalty(LinearCritic([0.6, 0.8]), real, garbage, None, None).item() == pytest.approx(0, abs=1e-10)
    assert dragan.d_penalty(LinearCritic([1.8, 2.4]), real, garbage, None, None).item() == pytest.approx(40.0, rel=1e-5)


# ---- SNGAN and the projection discriminator --------------------------------------
def largest_singular_values(module):
    out = {}
    with torch.no_grad():
        for name, m in module.named_modules():
            if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
                w = m.weight
                out[name] = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()
    return out


@pytest.mark.parametrize("name,arch", [("sngan", "mlp"), ("cgan-pd", "mlp"), ("sngan", "dcgan"), ("cgan-pd", "dcgan")])
def test_spectral_norm_of_every_d_layer_is_about_one_after_a_step(name, arch, ring8, digits):
    data = ring8 if arch == "mlp" else digits
    trainer = Trainer(name, data, arch=arch, config=config(steps=1, batch_size=16))
    trainer.fit()  # one G step after five D steps
    trainer.D.eval()  # read the weights without another power iteration
    sigmas = largest_singular_values(trainer.D)
    layers = [m for m in trainer.D.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))]
    assert len(sigmas) == len(layers) >= 3  # every layer of D, the projection embedding too
    # One power iteration per step (the paper's) trails the weights a little: a reshaped conv
    # kernel's top singular vectors are the slower to track. Unnormalised, these layers have
    # sigma 0.2-0.9 (DCGAN init) or 0.3-2 (PyTorch's Linear init).
    low, high = (0.99, 1.05) if arch == "mlp" else (0.99, 1.2)
    assert all(low < s < high for s in sigmas.values()), sigmas
    assert largest_singular_values(trainer.G) == {}  # G is left alone


def test_without_spectral_norm_the_layers_are_not_normalised(ring8, digits):
    for data, arch in ((ring8, "mlp"), (digits, "dcgan")):
        trainer = Trainer("nsgan", data, arch=arch, config=config(steps=1, batch_size=16))
        trainer.fit()
        sigmas = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
                  for m in trainer.D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        assert max(abs(s - 1) for s in sigmas) > 0.3, arch


def test_hinge_loss_of_sngan_and_cgan_pd():
    torch.manual_seed(0)
    d_real, d_fake = torch.randn(100) * 2, torch.randn(100) * 2
    for name in ("sngan", "cgan-pd"):
        v = VARIANTS.get(name)()
        expected = torch.clamp(1 - d_real, min=0).mean() + torch.clamp(1 + d_fake, min=0).mean()
        assert torch.allclose(v.d_loss(d_real, d_fake), expected)
        assert torch.allclose(v.g_loss(d_fake), -d_fake.mean())
        assert v.hp["betas"] == (0.0, 0.9) and v.n_critic == 5 and v.hp["lr_d"] == 2e-4


# ---- LSGAN -----------------------------------------------------------------------
def test_lsgan_least_squares_losses_with_0_1_coding_and_override():
    torch.manual_seed(0)
    d_real, d_fake = torch.randn(50), torch.randn(50)
    v = VARIANTS.get("lsgan")()
    assert torch.allclose(v.d_loss(d_real, d_fake), 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean())
    assert torch.allclose(v.g_loss(d_fake), 0.5 * ((d_fake - 1) ** 2).mean())
    eq8 = VARIANTS.get("lsgan")(fake_target=-1, real_target=1, g_target=0)
    assert torch.allclose(eq8.d_loss(d_real, d_fake), 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * ((d_fake + 1) ** 2).mean())
    assert torch.allclose(eq8.g_loss(d_fake), 0.5 * (d_fake ** 2).mean())


# ---- conditional -----------------------------------------------------------------
def test_cgan_samples_obey_the_requested_label(ring8):
    trainer = Trainer("cgan", ring8, config=config(steps=300, batch_size=64, log_every=100, seed=1))
    trainer.fit()
    labels = torch.arange(800) % 8
    samples = trainer.sample(800, labels=labels)
    nearest = torch.cdist(samples, ring8.modes).argmin(dim=1)
    agreement = (nearest == labels).float().mean().item()
    assert agreement > 0.6, agreement  # chance: 1/8


def test_acgan_class_losses_on_real_and_fake():
    v = VARIANTS.get("acgan")()
    torch.manual_seed(0)
    real_out, fake_out = (torch.randn(6), torch.randn(6, 4)), (torch.randn(6), torch.randn(6, 4))
    y_real, y_fake = torch.randint(4, (6,)), torch.randint(4, (6,))
    expected = F.cross_entropy(real_out[1], y_real) + F.cross_entropy(fake_out[1], y_fake)
    assert torch.allclose(v.aux_losses(real_out, fake_out, y_real, y_fake), expected)
    assert torch.allclose(v.g_aux_loss(fake_out, y_fake), F.cross_entropy(fake_out[1], y_fake))
    with pytest.raises(TypeError, match="auxiliary"):
        v.g_aux_loss(torch.randn(6), y_fake)


def test_acgan_classifier_learns_the_real_labels(ring8):
    trainer = Trainer("acgan", ring8, config=config(steps=300, batch_size=64, log_every=100, seed=1))
    history = trainer.fit()
    assert "d_aux" in history.values and "g_aux" in history.values
    trainer.D.eval()
    with torch.no_grad():
        _, class_logits = trainer.D(ring8.x[:2000], None)
    accuracy = (class_logits.argmax(dim=1) == ring8.y[:2000]).float().mean().item()
    assert accuracy > 0.8, accuracy  # chance: 1/8


# ---- failures --------------------------------------------------------------------
class Exploding(Variant):
    """A variant whose D loss raises at its third step."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0

    def d_loss(self, d_real, d_fake):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom in d_loss")
        return (d_fake - d_real).mean()

    def g_loss(self, d_fake):
        return -d_fake.mean()


def test_a_variant_that_raises_fails_the_run_naming_variant_and_step(ring8):
    trainer = Trainer(Exploding, ring8, config=config(steps=10))
    with pytest.raises(VariantError, match=r"'Exploding' failed at training step 3: RuntimeError: boom in d_loss") as info:
        trainer.fit()
    assert trainer.history.status == "failed"
    assert isinstance(info.value.__cause__, RuntimeError) and "boom in d_loss" in info.value.traceback
