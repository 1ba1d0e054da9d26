"""The fast path (ganzoo.perf) and throughput measurement (ganzoo.throughput).

On the CPU: mode checks, the choice of the mode once, before the first step, by a trial
whose effects are undone, the graph runner's code path through an emulated graph (static
buffers, warm-up, python-state check, replay verification, fallbacks), a failed compile
trial, optimizer flags across checkpoints, FLOP counting.
On a GPU (skipped elsewhere): a captured CUDA graph against the eager step.
"""
import dataclasses
import logging
import math
import os

import pytest
import torch
from perf_doubles import EmulatedGraph
from toy_variants import LossChangesAfter

from ganzoo import perf
from ganzoo.data import load
from ganzoo.throughput import flops_per_step, measure_throughput, synthetic_data
from ganzoo.trainer import ConfigError, TrainConfig, Trainer
from ganzoo.variants.minimax import NonSaturating

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=2000)


@pytest.fixture(scope="module")
def labelled2d():
    return synthetic_data("2", n=2000, num_classes=4)


def cpu_config(**kw):
    return TrainConfig(**{"steps": 9, "batch_size": 32, "log_every": 4, "device": "cpu", "seed": 5, **kw})


def emulated(trainer, mode="graph", modes=None):
    """Give ``trainer`` a runner whose graph mode runs through EmulatedGraph."""
    trainer.runner = perf.Runner(trainer, mode, modes=modes, graph_backend=EmulatedGraph)
    return trainer


# ---- settings ---------------------------------------------------------------------
def test_unknown_perf_mode_names_the_valid_ones():
    with pytest.raises(ConfigError, match="perf must be one of auto, compile, eager, graph"):
        TrainConfig(perf="turbo")


def test_graph_mode_on_cpu_is_a_clear_error(ring8):
    with pytest.raises(ConfigError, match="needs a CUDA device.*eager, compile or auto"):
        Trainer("nsgan", ring8, config=cpu_config(perf="graph"))


def test_cli_rejects_graph_on_cpu_in_one_line(capsys):
    from ganzoo.cli import main

    code = main(["train", "nsgan", "--dataset", "ring8", "--device", "cpu", "--perf", "graph",
                 "--steps", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "needs a CUDA device" in err and "Traceback" not in err


def test_auto_runs_eagerly_on_cpu_with_fused_adam(ring8):
    trainer = Trainer("nsgan", ring8, config=cpu_config())
    trainer.fit()
    assert trainer.config.perf == "auto" and trainer.runner.mode == "eager" and trainer.runner.notices == []
    assert trainer.opt_d.param_groups[0]["fused"] is True


# ---- the graph runner's code path, emulated on the CPU ----------------------------------
@pytest.fixture(scope="module")
def tiny_images():
    return synthetic_data("1x8x8", n=512)


@pytest.mark.parametrize("variant, data, arch", [("nsgan", "ring8", "mlp"), ("wgan-gp", "ring8", "mlp"),
                                                 ("cgan", "labelled2d", "mlp"), ("sngan", "ring8", "mlp"),
                                                 ("nsgan", "tiny_images", "dcgan")])
def test_emulated_graph_gives_exactly_the_eager_losses(variant, data, arch, request):
    data = request.getfixturevalue(data)
    hp = {"n_critic": 2} if variant in ("wgan-gp", "sngan") else {}  # several D steps, fewer of them
    eager = Trainer(variant, data, arch=arch, config=cpu_config(perf="eager", hparams=hp)).fit().values
    trainer = emulated(Trainer(variant, data, arch=arch, config=cpu_config(hparams=hp)))
    graphed = trainer.fit().values
    assert trainer.runner.mode == "graph" and trainer.runner.notices == []
    assert graphed == eager


def test_replays_write_into_one_static_buffer(ring8):
    trainer = emulated(Trainer("nsgan", ring8, config=cpu_config()))
    runner = trainer.runner
    rows = [runner.step() for _ in range(perf.GRAPH_WARMUP_STEPS + 3)]
    replayed = rows[perf.GRAPH_WARMUP_STEPS:]  # from the capture step on (checked in the trial, not again)
    assert all(r is replayed[0] for r in replayed)
    assert all(r is not replayed[0] for r in rows[:perf.GRAPH_WARMUP_STEPS])


CountingVariant = LossChangesAfter  # Python state in the step: a graph would freeze the branch


def test_python_state_in_the_step_falls_back_to_eager_with_a_notice(ring8, caplog):
    eager = Trainer(CountingVariant, ring8, config=cpu_config(perf="eager")).fit().values
    trainer = emulated(Trainer(CountingVariant, ring8, config=cpu_config()), "auto", modes=("graph", "eager"))
    with caplog.at_level(logging.WARNING, logger="ganzoo.perf"):
        values = trainer.fit().values
    assert trainer.runner.mode == "eager"
    assert len(trainer.runner.notices) == 1 and "variant.calls" in trainer.runner.notices[0]
    assert any("graph off" in r.getMessage() for r in caplog.records)
    assert values == eager


def test_an_explicit_mode_that_cannot_run_is_an_error_before_the_first_step(ring8, monkeypatch):
    trainer = Trainer(CountingVariant, ring8, config=cpu_config())
    with pytest.raises(perf.PerfError, match="Python-side state.*perf 'auto'"):
        emulated(trainer, "graph")
    assert trainer.step == 0 and trainer.variant.calls == 0 and not trainer.opt_d.state  # the trial undone
    # through fit: the run fails at its first step, having trained none
    monkeypatch.setattr(perf.torch, "compile", lambda m, **kw: Exploding())
    explicit = Trainer("nsgan", ring8, config=cpu_config(perf="compile"))
    with pytest.raises(perf.PerfError, match="compiler exploded.*perf 'auto'"):
        explicit.fit()
    assert explicit.history.status == "failed" and explicit.step == 0


class Exploding(torch.nn.Module):
    def forward(self, *args):
        raise RuntimeError("compiler exploded")


def test_graph_safe_false_skips_capture(ring8):
    class Declared(NonSaturating):
        graph_safe = False

    trainer = emulated(Trainer(Declared, ring8, config=cpu_config()), "auto", modes=("graph", "eager"))
    trainer.fit()
    assert trainer.runner.mode == "eager" and "graph_safe = False" in trainer.runner.notices[0]


class DriftingGraph(EmulatedGraph):
    """A 'graph' whose replay computes something else than the eager step."""

    def replay(self):
        super().replay()
        with torch.no_grad():
            for p in self.params:
                p.add_(1e-2)


def test_a_replay_that_differs_from_eager_is_never_used(ring8):
    eager = Trainer("nsgan", ring8, config=cpu_config(perf="eager")).fit().values
    trainer = Trainer("nsgan", ring8, config=cpu_config())

    def build(t, row):
        runner = perf.GraphRunner(t, row, backend_factory=EmulatedGraph)
        runner.backend = DriftingGraph(runner.snapshot)
        runner.backend.params = list(t.D.parameters())
        return runner

    trainer.runner = perf.Runner(trainer, "auto", modes=("graph", "eager"), builders={"graph": build})
    values = trainer.fit().values
    assert trainer.runner.mode == "eager" and "differs from the eager step" in trainer.runner.notices[0]
    assert values == eager


class CapturesOnce(EmulatedGraph):
    """A 'graph' that captures in the trial, and fails when the run captures again."""

    captures = 0

    def capture(self, fn):
        self.captures += 1
        if self.captures > 1:
            raise RuntimeError("out of graph memory")
        return super().capture(fn)


def test_a_mode_that_passed_its_trial_and_fails_in_the_run_is_an_error_not_a_fallback(ring8):
    trainer = Trainer("nsgan", ring8, config=cpu_config())
    trainer.runner = perf.Runner(trainer, "auto", modes=("graph", "eager"), graph_backend=CapturesOnce)
    assert trainer.runner.mode == "graph"
    with pytest.raises(perf.PerfError, match="passed its trial but not in the run.*out of graph memory"):
        trainer.fit()
    assert trainer.history.status == "failed" and trainer.runner.mode == "graph"
    assert trainer.step == perf.GRAPH_WARMUP_STEPS  # the warm-up steps trained; nothing fell back


# ---- the mode is chosen once, up front ---------------------------------------------------
class FailsItsTrial(perf.EagerRunner):
    """A mode whose trial trains a few real steps (RNG draws, optimizer state, the variant's
    state and Python attributes, the loss scaler), then fails. Counts its trials."""

    mode = "flaky"
    has_trial = True
    trials = []

    def trial(self):
        self.trials.append(self.trainer.step)
        for _ in range(3):
            self.eager_step()
        raise RuntimeError("trial broke")

    def step(self):
        raise AssertionError("a mode given up trains no step")


@pytest.fixture
def flaky_auto(monkeypatch):
    """``auto`` tries the mode 'flaky' (FailsItsTrial), then eager."""
    perf.PERF_MODES.register("flaky", perf.PerfMode("test: fails its trial", runner=FailsItsTrial))
    monkeypatch.setattr(perf, "chain", lambda mode, device: ("flaky", "eager") if mode == "auto" else (mode,))
    monkeypatch.setattr(FailsItsTrial, "trials", [])
    yield FailsItsTrial.trials
    perf.PERF_MODES.unregister("flaky")


@pytest.fixture
def scaled_fp32():
    """fp32 with loss scaling (exact: scaling by 2^16 and back): the scaler's state moves every step."""
    from ganzoo.precisions import PRECISIONS, PrecisionMode

    PRECISIONS.register("fp32-scaled", PrecisionMode("test: fp32 with a grad scaler", grad_scaler=True))
    yield "fp32-scaled"
    PRECISIONS.unregister("fp32-scaled")


def test_fit_picks_the_mode_once_before_its_first_step(ring8, flaky_auto):
    trainer = Trainer("nsgan", ring8, config=cpu_config())
    assert trainer.runner is None
    trainer.fit(steps=4)
    assert flaky_auto == [0]  # tried once, before step 1
    assert trainer.runner.mode == "eager" and trainer.runner.notices == [
        "perf: flaky off for nsgan (its trial step failed: RuntimeError: trial broke); using eager"]
    trainer.fit()
    assert flaky_auto == [0] and trainer.step == 9  # the second fit does not choose again


@pytest.mark.parametrize("variant", [CountingVariant, "began"])  # a Python counter; state tensors (k_t)
def test_a_failed_trial_leaves_no_trace_in_the_run(ring8, flaky_auto, scaled_fp32, variant):
    """The trial's steps drew noise and batches, created and moved optimizer state, moved
    the variant's state and the loss scaler: all undone, so the run is the eager run."""
    config = cpu_config(precision=scaled_fp32, perf="eager")
    eager = Trainer(variant, ring8, config=config)
    want = eager.fit().values
    trainer = Trainer(variant, ring8, config=dataclasses.replace(config, perf="auto"))
    got = trainer.fit().values
    assert flaky_auto == [0] and trainer.runner.mode == "eager"
    assert got == want
    assert trainer.scaler.state_dict() == eager.scaler.state_dict()
    for k, v in eager.variant.state.items():
        assert torch.equal(trainer.variant.state[k], v), k
    assert vars(trainer.variant).get("calls") == vars(eager.variant).get("calls")


# ---- compile: failure restores the state ------------------------------------------------
def test_a_compile_failure_mid_step_restores_everything_and_falls_back(ring8, monkeypatch):
    """The fake compiled D fails in the G step, after D's optimizer already stepped."""
    class FailsInGStep(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args):
            if not next(self.module.parameters()).requires_grad:  # D is frozen: the G step
                raise RuntimeError("compiler exploded")
            return self.module(*args)

    monkeypatch.setattr(perf.torch, "compile", lambda m, **kw: FailsInGStep(m) if m is trainer.D else m)
    eager = Trainer("nsgan", ring8, config=cpu_config(perf="eager")).fit().values
    trainer = Trainer("nsgan", ring8, config=cpu_config())
    trainer.runner = perf.Runner(trainer, "auto", modes=("compile", "eager"))
    values = trainer.fit().values
    assert trainer.runner.mode == "eager" and "compiler exploded" in trainer.runner.notices[0]
    assert values == eager


@pytest.mark.parametrize("variant", ["wgan-gp", "r1", "dragan", "unrolled"])
def test_compile_is_not_tried_for_a_double_backward(ring8, monkeypatch, variant):
    """aot_autograd refuses a double backward, after tens of seconds of compiling: auto skips
    compile for such a step at once, and an explicit --perf compile says why."""
    def never(*args, **kwargs):
        raise AssertionError("torch.compile called for a step it cannot compile")

    monkeypatch.setattr(perf.torch, "compile", never)
    trainer = Trainer(variant, ring8, config=cpu_config(steps=2))
    trainer.runner = perf.Runner(trainer, "auto", modes=("compile", "eager"))
    trainer.fit()
    assert trainer.runner.mode == "eager" and "double backward" in trainer.runner.notices[0]
    explicit = Trainer(variant, ring8, config=cpu_config(steps=2, perf="compile"))
    with pytest.raises(perf.PerfError, match="double backward.*torch.compile"):
        explicit.fit()


def test_compile_is_tried_where_no_double_backward_is_declared():
    from ganzoo.registry import VARIANTS

    refused = {name for name in VARIANTS.names() if perf.compile_refusal(VARIANTS.get(name))}
    assert refused == {"wgan-gp", "r1", "dragan", "unrolled"}
    assert perf.compile_refusal(NonSaturating()) == ""


def test_conv_nets_in_channels_last_get_channels_last_data(monkeypatch):
    """On CUDA conv nets are channels_last, and so are the real images (no layout copy per
    batch); emulated here by converting the nets as on CUDA."""
    def as_on_cuda(G, D, device):
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
        return True

    monkeypatch.setattr(perf, "prepare_nets", as_on_cuda)
    data = synthetic_data("1x8x8", n=256)
    trainer = Trainer("nsgan", data, arch="dcgan", config=cpu_config(steps=2))
    assert trainer.data.x.is_contiguous(memory_format=torch.channels_last)
    real, _ = trainer.data.batch(16)
    assert real.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(trainer.data.x, data.x)  # same values, another layout
    assert trainer.fit().status == "ok"
    points = Trainer("nsgan", synthetic_data("2", n=256), config=cpu_config(steps=1)).data.x
    assert points.is_contiguous()  # 2-D data as it was


@pytest.mark.skipif(not os.environ.get("GANZOO_TEST_COMPILE"),
                    reason="torch.compile on the CPU takes 20-50 s here; set GANZOO_TEST_COMPILE=1")
def test_compile_mode_matches_eager_on_cpu(ring8):
    eager = Trainer("vanilla", ring8, config=cpu_config(perf="eager")).fit().values
    trainer = Trainer("vanilla", ring8, config=cpu_config(perf="compile"))
    compiled = trainer.fit().values
    assert trainer.runner.mode == "compile"
    for key in ("d_loss", "g_loss"):
        assert compiled[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-5)


# ---- state ------------------------------------------------------------------------
def test_snapshot_restores_parameters_optimizer_state_and_rng(ring8):
    trainer = Trainer("wgan-gp", ring8, config=cpu_config())
    runner = perf.EagerRunner(trainer, perf.LogRow())
    snap = runner.snapshot()  # before the first step: no optimizer state yet
    first = runner.step().clone()
    assert len(trainer.opt_d.state) > 0
    snap.restore()
    assert len(trainer.opt_d.state) == 0
    assert torch.equal(runner.step(), first)  # same parameters, same RNG draws
    snap = runner.snapshot()
    params = [p.detach().clone() for p in trainer.D.parameters()]
    moments = [s["exp_avg"].clone() for s in trainer.opt_d.state.values()]
    runner.step()
    snap.restore()
    assert all(torch.equal(a, b) for a, b in zip(params, trainer.D.parameters()))
    assert all(torch.equal(a, s["exp_avg"]) for a, s in zip(moments, trainer.opt_d.state.values()))


def test_optimizer_flags_are_this_runs_after_loading_a_checkpoint(ring8, tmp_path):
    trainer = Trainer("nsgan", ring8, config=cpu_config(), checkpoint_path=tmp_path / "c.pt")
    trainer.fit()
    state = torch.load(tmp_path / "c.pt", weights_only=False)
    for group in state["opt_d"]["param_groups"]:  # as if saved by a CUDA graph run
        group.update(fused=None, capturable=True)
    torch.save(state, tmp_path / "c.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt", data=ring8)
    group = resumed.opt_d.param_groups[0]
    assert group["fused"] is True and group["capturable"] is False
    resumed.fit(steps=15)
    assert resumed.history.status == "ok" and resumed.step == 15


def test_a_graph_runs_checkpoint_loads_on_the_cpu(ring8, tmp_path):
    Trainer("nsgan", ring8, config=cpu_config(), checkpoint_path=tmp_path / "c.pt").fit()
    state = torch.load(tmp_path / "c.pt", weights_only=False)
    state["config"].update(perf="graph", device="cuda")  # as saved on a GPU
    torch.save(state, tmp_path / "c.pt")
    again = Trainer.from_checkpoint(tmp_path / "c.pt", data=ring8, device="cpu")
    assert again.config.perf == "auto" and again.sample(4).shape == (4, 2)


# ---- throughput ----------------------------------------------------------------------
def test_flops_per_step_of_the_seed_mlp_match_its_layer_sizes():
    """nsgan on the seed's MLP: every matmul of one iteration, counted by hand."""
    data = synthetic_data("1x28x28", n=256)
    trainer = Trainer("nsgan", data, config=cpu_config(batch_size=8))
    g = [(m.in_features, m.out_features) for m in trainer.G.modules() if isinstance(m, torch.nn.Linear)]
    d = [(m.in_features, m.out_features) for m in trainer.D.modules() if isinstance(m, torch.nn.Linear)]
    pg, pd = sum(i * o for i, o in g), sum(i * o for i, o in d)
    # D step: G forward, D forward ×2, D backward ×2 (weights; inputs past the first layer)
    # G step: G and D forward, D backward (inputs only), G backward (weights; inputs past the first)
    d_step = pg + 2 * pd + 2 * (2 * pd - d[0][0] * d[0][1])
    g_step = pg + pd + pd + (2 * pg - g[0][0] * g[0][1])
    per_sample = 2 * (d_step + g_step)  # a multiply-add is 2 FLOPs
    before = [p.detach().clone() for p in trainer.G.parameters()]
    assert flops_per_step(trainer) == 8 * per_sample
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))  # state put back


def test_measure_throughput_reports_rates_memory_and_mfu():
    r = measure_throughput("wgan-gp", data="2", batch=32, steps=4, warmup=2, device="cpu", baseline=True)
    assert r["perf_used"] == "eager" and r["n_critic"] == 5 and r["steps"] == 4
    # 5 critic steps of 32 real images per G step: a step shows D 160 images
    assert r["img_per_s"] > 0 and math.isclose(r["s_per_kimg"], r["ms_per_step"] / 160, rel_tol=1e-9)
    assert math.isclose(r["ms_per_step"] * r["img_per_s"], 1000 * 5 * 32, rel_tol=1e-9)
    assert r["flops_per_img"] > 0 and 0 < r["mfu"] <= 1.5  # a CPU's measured peak is noisy
    assert r["plain_img_per_s"] > 0 and r["speedup"] > 0


# ---- on a GPU ---------------------------------------------------------------------------
def gpu_config(**kw):
    return TrainConfig(**{"steps": 16, "batch_size": 64, "log_every": 8, "device": "cuda", "seed": 11, **kw})


@needs_cuda
@pytest.mark.parametrize("variant, precision", [("nsgan", "fp32"), ("wgan-gp", "fp32"), ("wgan", "fp32"),
                                                ("cgan", "fp32"), ("sngan", "fp32"), ("nsgan", "bf16")])
def test_cuda_graph_gives_the_eager_losses(variant, precision):
    data = synthetic_data("1x28x28", n=2048, num_classes=10)
    eager = Trainer(variant, data, arch="mlp", config=gpu_config(perf="eager", precision=precision)).fit().values
    trainer = Trainer(variant, data, arch="mlp", config=gpu_config(perf="graph", precision=precision))
    graphed = trainer.fit().values
    assert trainer.runner.mode == "graph"
    tol = 3e-2 if precision == "bf16" else 1e-3
    for key in eager:
        assert graphed[key] == pytest.approx(eager[key], rel=tol, abs=tol), key


@needs_cuda
def test_cuda_graph_run_resumes_like_an_uninterrupted_one(tmp_path):
    data = synthetic_data("1x28x28", n=2048)
    full = Trainer("nsgan", data, config=gpu_config(perf="graph")).fit().values
    first = Trainer("nsgan", data, config=gpu_config(perf="graph"), checkpoint_path=tmp_path / "c.pt")
    first.fit(steps=8)
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt", data=data)
    values = resumed.fit().values
    assert values["d_loss"] == pytest.approx(full["d_loss"], rel=1e-3, abs=1e-4)


@needs_cuda
def test_cuda_conv_nets_and_their_data_are_channels_last():
    data = synthetic_data("3x64x64", n=256)
    trainer = Trainer("nsgan", data, arch="dcgan", config=gpu_config(batch_size=32, steps=4, precision="bf16"))
    assert trainer.channels_last and trainer.data.x.is_contiguous(memory_format=torch.channels_last)
    assert trainer.fit().status == "ok"


@needs_cuda
def test_auto_on_cuda_falls_back_for_python_state():
    data = synthetic_data("2", n=2048)
    trainer = Trainer(CountingVariant, data, config=gpu_config(perf="auto"))
    trainer.runner = perf.Runner(trainer, "auto", modes=("graph", "eager"))
    trainer.fit()
    assert trainer.runner.mode == "eager" and "variant.calls" in trainer.runner.notices[0]
