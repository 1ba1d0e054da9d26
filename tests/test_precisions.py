"""Precisions as registry entries (ganzoo.precisions): loss scaling through ctx.backward /
ctx.step is exact where it should be, skips a step with non-finite gradients, and fp16 (one
entry) trains, checkpoints and resumes through the command line."""
import dataclasses
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


def d_update(trainer, ring8, ctx, poison=None):
    """One D update through ctx.backward / ctx.step; ``poison`` (a hook) may put an inf into
    D's first gradient before the scaler sees it. D's parameters before and after."""
    before = [p.detach().clone() for p in trainer.D.parameters()]
    first = next(trainer.D.parameters())
    handle = first.register_hook(poison) if poison else None
    ctx.opt_d.zero_grad(set_to_none=True)
    with ctx.autocast():
        loss = trainer.D(ring8.x[:32].to(trainer.device)).float().mean()
    ctx.backward(loss, ctx.opt_d)
    ctx.step(ctx.opt_d)
    if handle:
        handle.remove()
    return before, [p.detach() for p in trainer.D.parameters()]


def with_inf(grad):
    grad = grad.clone()
    grad.view(-1)[0] = float("inf")
    return grad


def test_a_step_with_non_finite_gradients_is_skipped_and_the_scale_backs_off(ring8, scaled_fp32):
    # fp32 with a scaler: nothing overflows by itself, so only the injected inf can skip a step
    trainer = Trainer("nsgan", ring8, arch="toy-mlp", config=config(precision=scaled_fp32))
    ctx = trainer.context()
    before, after = d_update(trainer, ring8, ctx)
    assert not all(torch.equal(a, b) for a, b in zip(before, after))  # a clean step is applied
    assert trainer.scaler.get_scale() == 2.0 ** 16
    before, after = d_update(trainer, ring8, ctx, poison=with_inf)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert trainer.scaler.get_scale() == 2.0 ** 15


def test_under_several_processes_the_scaler_judges_the_averaged_gradients(ring8, scaled_fp32):
    """Another rank's overflow reaches this rank through the gradient average: the step must
    be skipped here too (as on that rank), not applied with an inf."""
    trainer = Trainer("nsgan", ring8, arch="toy-mlp", config=config(precision=scaled_fp32))
    calls = []

    def average_with_an_overflowing_rank(opt):
        calls.append(opt)
        first = opt.param_groups[0]["params"][0]
        first.grad.view(-1)[0] = float("inf")

    ctx = dataclasses.replace(trainer.context(), sync=average_with_an_overflowing_rank)
    before, after = d_update(trainer, ring8, ctx)
    assert calls == [ctx.opt_d]  # averaged once per step
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.isfinite(p).all() for p in after)
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


def cuda_flags():
    return torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark


def test_precision_flags_hold_inside_the_block_pause_for_evaluation_and_are_put_back():
    """What fit does around training segments and evaluation (the flags are process-wide
    settings, so a CUDA device object is enough; no GPU is touched)."""
    from ganzoo.precisions import precision_mode

    before = cuda_flags()
    cuda = torch.device("cuda")
    try:
        with precision_mode("tf32", cuda) as flags:
            assert cuda_flags() == ("high", True, True)
            with flags.paused():  # evaluation and checkpoints: the flags from before
                assert cuda_flags() == before
            assert cuda_flags() == ("high", True, True)
            with precision_mode("fp32", cuda):
                assert cuda_flags() == ("highest", False, True)
            assert cuda_flags() == ("high", True, True)
        assert cuda_flags() == before
        with precision_mode("tf32", torch.device("cpu")):
            assert cuda_flags() == before  # nothing changes off CUDA
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = before[1], before[2]
