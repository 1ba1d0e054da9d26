"""The variants the mode-collapse literature compares against: relativistic GANs (formulas
by hand), PacGAN (a packed D sees m samples per decision), Unrolled GAN (G's gradient
through k unrolled D updates) and BEGAN (autoencoder D, k_t kept across a resume), each
trained through the command line."""
import json
import math

import pytest
import torch

from ganzoo.cli import main
from ganzoo.data import load
from ganzoo.registry import VARIANTS
from ganzoo.trainer import TrainConfig, Trainer

NEW = ["rsgan", "ragan", "pacgan", "unrolled", "began"]


def config(**kw):
    return TrainConfig(**{"steps": 5, "batch_size": 16, "z_dim": 4, "log_every": 5, "device": "cpu", **kw})


# ---- relativistic ------------------------------------------------------------------
def log_sigmoid(x):
    return math.log(1 / (1 + math.exp(-x)))


def test_relativistic_losses_by_hand():
    r, f = [1.0, 4.0], [0.0, -1.0]  # mean r = 2.5, mean f = -0.5 (asymmetric: the two terms differ)
    rt, ft = torch.tensor(r, dtype=torch.float64), torch.tensor(f, dtype=torch.float64)
    rsgan, ragan = VARIANTS.get("rsgan")(), VARIANTS.get("ragan")()
    # RSGAN: pairs by position: r − f = (1, 5)
    assert rsgan.d_loss(rt, ft).item() == pytest.approx(-(log_sigmoid(1) + log_sigmoid(5)) / 2)
    assert rsgan.g_loss(ft, rt).item() == pytest.approx(-(log_sigmoid(-1) + log_sigmoid(-5)) / 2)
    # RaGAN: r − mean f = (1.5, 4.5); f − mean r = (−2.5, −3.5); log(1 − σ(x)) = log σ(−x)
    d = -(log_sigmoid(1.5) + log_sigmoid(4.5)) / 2 - (log_sigmoid(2.5) + log_sigmoid(3.5)) / 2
    g = -(log_sigmoid(-2.5) + log_sigmoid(-3.5)) / 2 - (log_sigmoid(-1.5) + log_sigmoid(-4.5)) / 2
    assert ragan.d_loss(rt, ft).item() == pytest.approx(d)
    assert ragan.g_loss(ft, rt).item() == pytest.approx(g)
    assert rsgan.g_loss_sees_real() and ragan.g_loss_sees_real()


# ---- PacGAN -------------------------------------------------------------------------
@pytest.mark.parametrize("dataset, pack", [("ring8", 2), ("ring8", 4), ("digits", 3)])
def test_a_packed_discriminator_receives_m_samples_per_decision(dataset, pack):
    data = load(dataset, **({"n": 2000} if dataset == "ring8" else {}))
    trainer = Trainer("pacgan", data, arch="toy-mlp" if dataset == "ring8" else "mlp-small",
                      config=config(hparams={"pack": pack}))
    seen = []
    hook = trainer.D.inner.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    x = data.x[: 5 * pack]
    out = trainer.D(x)
    out = out[0] if isinstance(out, tuple) else out
    assert out.reshape(-1).shape == (5,)  # one decision per pack
    inner = seen[0]
    per_sample = x[0].numel()
    assert inner.shape[0] == 5 and inner[0].numel() == pack * per_sample
    for i in range(5):  # pack i is samples i·m .. i·m + m − 1, side by side (features or channels)
        want = torch.cat([x[i * pack + j].reshape(x.shape[1], -1) for j in range(pack)], dim=0)
        assert torch.equal(inner[i].reshape(pack * x.shape[1], -1), want)
    seen.clear()
    trainer.variant.train_step(trainer.context())  # the step draws B·m samples: B decisions per batch
    hook.remove()
    assert {t.shape[0] for t in seen} == {16}
    assert trainer.variant.real_images_per_step(16) == 16 * pack


def test_pack_must_be_positive():
    with pytest.raises(ValueError, match="'pack' must be an integer >= 1"):
        VARIANTS.get("pacgan")(pack=0)


# ---- Unrolled GAN -----------------------------------------------------------------------
def g_gradients(variant: str, steps: int = 0, **hp):
    """G's gradient from one G step, after ``steps`` ordinary training steps from seed 0
    (which are the variant's own steps: two variants' states differ after them)."""
    trainer = Trainer(variant, load("ring8", n=2000), arch="toy-mlp",
                      config=config(seed=0, hparams=hp, batch_size=64, z_dim=2))
    if steps:
        trainer.fit(steps=steps)
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    for p in trainer.D.parameters():
        p.grad = None
    torch.manual_seed(123)  # the same noise for both G steps
    trainer.opt_g.step = lambda *a, **k: None  # keep G where it is: compare the gradients only
    trainer.variant.g_step(trainer.context())
    assert all(p.grad is None for p in trainer.D.parameters())  # G's step never trains D
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    return torch.cat([p.grad.reshape(-1) for p in trainer.G.parameters()])


def test_unrolled_with_no_steps_is_the_minimax_gradient_and_with_k_steps_is_not():
    common = dict(lr_g=1e-3, lr_d=1e-4)  # from the same fresh nets (same seed, same arch)
    plain = g_gradients("vanilla", **common)
    k0 = g_gradients("unrolled", unroll_steps=0, **common)
    k5 = g_gradients("unrolled", unroll_steps=5, **common)
    torch.testing.assert_close(k0, plain, rtol=1e-5, atol=1e-7)
    assert (k5 - plain).norm() > 0.05 * plain.norm()  # the unrolled D changes G's direction
    assert torch.isfinite(k5).all()


def test_unrolled_counts_the_real_batches_its_unrolled_steps_see():
    assert VARIANTS.get("unrolled")(unroll_steps=5).real_images_per_step(64) == (1 + 5 + 1) * 64
    with pytest.raises(ValueError, match="'unroll_steps' must be an integer >= 0"):
        VARIANTS.get("unrolled")(unroll_steps=-1)


# ---- BEGAN -------------------------------------------------------------------------------
def test_began_losses_and_equilibrium_update_by_hand(monkeypatch):
    from ganzoo.variants.base import Variant

    began = VARIANTS.get("began")(gamma=0.5, lambda_k=0.01)
    began.state = {"k": torch.tensor(0.2)}
    real, fake = torch.tensor([0.3, 0.5]), torch.tensor([0.1, 0.3])  # per-sample L1 errors
    assert began.d_loss(real, fake).item() == pytest.approx(0.4 - 0.2 * 0.2)  # L(x) − k_t L(G(z))
    assert began.g_loss(fake).item() == pytest.approx(0.2)
    # k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z_G))), 0, 1) from the step's own L(x) and L(G(z_G))
    steps = iter([{"d_real": torch.tensor(0.4), "g_loss": torch.tensor(0.1)},
                  {"d_real": torch.tensor(0.4), "g_loss": torch.tensor(100.0)},  # k would go below 0
                  {"d_real": torch.tensor(300.0), "g_loss": torch.tensor(0.0)}])  # ... above 1
    monkeypatch.setattr(Variant, "train_step", lambda self, ctx: dict(next(steps)))
    logs = began.train_step(None)
    assert began.state["k"].item() == pytest.approx(0.2 + 0.01 * (0.5 * 0.4 - 0.1))
    assert logs["k_t"].item() == pytest.approx(0.201)
    assert logs["convergence"].item() == pytest.approx(0.4 + abs(0.5 * 0.4 - 0.1))  # M_global
    began.train_step(None)
    assert began.state["k"].item() == 0.0
    began.train_step(None)
    assert began.state["k"].item() == 1.0


@pytest.mark.parametrize("dataset, arch", [("ring8", "toy-mlp"), ("digits", "mlp-small"), ("digits", "dcgan-small")])
def test_began_discriminator_is_the_per_sample_reconstruction_error(dataset, arch):
    data = load(dataset, **({"n": 2000} if dataset == "ring8" else {}))
    trainer = Trainer("began", data, arch=arch, config=config(hparams={"h_dim": 8}))
    D, x = trainer.D, data.x[:6]
    assert D.encoder(x, None).shape == (6, 8)  # D's scalar head became the embedding h
    recon = D.reconstruct(x)
    assert recon.shape == x.shape
    want = torch.stack([(x[i] - recon[i]).abs().mean() for i in range(6)])
    torch.testing.assert_close(D(x), want)
    assert trainer.variant.state["k"].item() == 0.0  # k_0 = 0


def test_began_resumed_from_a_checkpoint_gives_the_losses_of_an_uninterrupted_run(tmp_path, capsys):
    def train(out, steps, *extra):
        code = main(["train", "began", "--dataset", "digits", "--arch", "mlp-small", "--steps", str(steps),
                     "--batch-size", "16", "--log-every", "4", "--no-progress", "--out", str(out), *extra])
        assert code == 0, capsys.readouterr().err
        return torch.load(out / "checkpoint.pt", weights_only=False)

    whole = train(tmp_path / "whole", 16)
    train(tmp_path / "split", 8)
    resumed = train(tmp_path / "split", 16, "--resume")
    assert resumed["step"] == 16 and resumed["variant_state"]["k"].item() > 0  # k_t moved, and was kept
    assert resumed["history"]["values"] == whole["history"]["values"]  # k_t and convergence included
    assert torch.equal(resumed["variant_state"]["k"], whole["variant_state"]["k"])
    assert all(torch.equal(a, b) for a, b in zip(resumed["G"].values(), whole["G"].values()))


# ---- through the command line ------------------------------------------------------------
@pytest.mark.parametrize("variant", NEW)
@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_each_new_variant_trains_through_the_cli(variant, dataset, tmp_path, capsys):
    code = main(["train", variant, "--dataset", dataset, "--steps", "6", "--batch-size", "16",
                 "--log-every", "3", "--no-progress", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["variant"] == variant and summary["status"] == "ok" and summary["steps"] == 6
    assert all(math.isfinite(v) for v in summary["final"].values())
