"""Precisions as registry entries (ganzoo.precisions): loss scaling through ctx.backward /
ctx.step is exact where it should be, skips a step with non-finite gradients, and fp16 (one
entry) trains, checkpoints and resumes through the command line."""
import json
import math

import pytest
import torch

from ganzoo.cli import main
from ganzoo.data import load
from ganzoo.precisions import PRECISIONS, PrecisionMode
from ganzoo.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=2000)


def config(**kw):
    return TrainConfig(**{"steps": 12, "batch_size": 32, "z_dim": 2, "log_every": 4, "device": "cpu", **kw})


@pytest.fixture
def scaled_fp32():
    """fp32 arithmetic with loss scaling: scaling by 2^16 and back is exact in fp32."""
    PRECISIONS.register("fp32-scaled", PrecisionMode("test: fp32 with a grad scaler", grad_scaler=True))
    yield "fp32-scaled"
    PRECISIONS.unregister("fp32-scaled")


@pytest.mark.parametrize("variant", ["nsgan", "wgan-gp"])  # wgan-gp: a penalty term in D's loss
def test_loss_scaling_changes_nothing_in_exact_arithmetic(ring8, scaled_fp32, variant):
    plain = Trainer(variant, ring8, arch="toy-mlp", config=config()).fit().values
    trainer = Trainer(variant, ring8, arch="toy-mlp", config=config(precision=scaled_fp32))
    assert trainer.scaler is not None and trainer.scaler.get_scale() == 2.0 ** 16
    scaled = trainer.fit().values
    # the same losses and the same (true, unscaled) gradient norms at every step
    assert scaled == plain


def test_a_step_with_non_finite_gradients_is_skipped_and_the_scale_backs_off(ring8):
    trainer = Trainer("nsgan", ring8, arch="toy-mlp", config=config(precision="fp16"))
    ctx = trainer.context()
    before = [p.detach().clone() for p in trainer.D.parameters()]
    ctx.opt_d.zero_grad(set_to_none=True)
    with ctx.autocast():
        loss = trainer.D(ring8.x[:32].to(trainer.device)).float().mean()
    ctx.backward(loss, ctx.opt_d)
    next(trainer.D.parameters()).grad.view(-1)[0] = float("inf")
    ctx.step(ctx.opt_d)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.D.parameters()))
    assert trainer.scaler.get_scale() == 2.0 ** 15


def test_fp16_trains_checkpoints_and_resumes_through_the_cli(tmp_path, capsys):
    def train(steps, *extra):
        code = main(["train", "nsgan", "--dataset", "ring8", "--arch", "toy-mlp", "--steps", str(steps),
                     "--batch-size", "32", "--log-every", "4", "--precision", "fp16", "--no-progress",
                     "--out", str(tmp_path), *extra])
        assert code == 0, capsys.readouterr().err
        return json.loads((tmp_path / "summary.json").read_text())

    train(8)
    summary = train(16, "--resume")
    assert summary["precision"] == "fp16" and summary["steps"] == 16 and summary["status"] == "ok"
    assert all(math.isfinite(v) for v in summary["final"].values())
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["grad_scaler"]["scale"] > 0  # the scaler's state travels with the run
