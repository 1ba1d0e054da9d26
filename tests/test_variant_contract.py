"""The plugin contract beyond the losses: a variant's own state, trainer-owned updates,
declared attributes and the optimizer registry (docs/adding-a-variant.md)."""
import json
from pathlib import Path

import pytest
import torch
from perf_doubles import EmulatedGraph

from ganzoo import outcome, perf
from ganzoo.data import DataError, load
from ganzoo.optimizers import OPTIMIZERS
from ganzoo.registry import VARIANTS
from ganzoo.trainer import CheckpointError, TrainConfig, Trainer
from ganzoo.variants.base import D_OUTPUTS, StepContext
from ganzoo.variants.minimax import NonSaturating

ROOT = Path(__file__).resolve().parents[1]


class CountsItsSteps(NonSaturating):
    """Test variant: counts its D steps in ``self.state`` (in place, as the contract asks)."""

    def initial_state(self):
        return {"d_steps": 0, "last_d_loss": torch.zeros(())}

    def d_step(self, ctx):
        logs = super().d_step(ctx)
        self.state["d_steps"].add_(1)
        self.state["last_d_loss"].copy_(logs["d_loss"])
        return logs


class CountsInPythonToo(CountsItsSteps):
    """Test variant: also keeps a Python counter, which a CUDA graph would freeze."""

    def __init__(self, **hp):
        super().__init__(**hp)
        self.calls = 0

    def d_step(self, ctx):
        self.calls += 1
        return super().d_step(ctx)


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=2000)


def config(**kw):
    return TrainConfig(**{"steps": 12, "batch_size": 32, "z_dim": 4, "log_every": 4, "device": "cpu", **kw})


# ---- self.state ------------------------------------------------------------------
def test_variant_state_is_saved_and_restored_on_resume(ring8, tmp_path):
    trainer = Trainer(CountsItsSteps, ring8, config=config(hparams={"n_critic": 2}))
    assert trainer.variant.state["d_steps"].device == trainer.device
    trainer.fit(steps=5)
    trainer.save(tmp_path / "c.pt")
    assert int(trainer.variant.state["d_steps"]) == 10

    def rebuilt():
        from ganzoo.trainer import read_checkpoint

        state = read_checkpoint(tmp_path / "c.pt")
        again = Trainer(CountsItsSteps, ring8, config=TrainConfig.from_dict(state["config"]))
        again.load_state_dict(state)
        return again

    again = rebuilt()
    assert int(again.variant.state["d_steps"]) == 10
    assert torch.equal(again.variant.state["last_d_loss"], trainer.variant.state["last_d_loss"])
    again.fit(steps=8)
    assert int(again.variant.state["d_steps"]) == 16

    plain = Trainer(NonSaturating, ring8, config=config())  # a checkpoint whose state does not fit
    plain.save(tmp_path / "plain.pt")
    from ganzoo.trainer import read_checkpoint

    with pytest.raises(CheckpointError, match="holds nothing, this version's \\['d_steps', 'last_d_loss'\\]"):
        Trainer(CountsItsSteps, ring8, config=config()).load_state_dict(read_checkpoint(tmp_path / "plain.pt"))


@pytest.mark.parametrize("variant, mode_after", [(CountsItsSteps, "graph"), (CountsInPythonToo, "eager")])
def test_variant_state_counts_every_step_once_in_a_graph_and_after_a_failed_trial(ring8, variant, mode_after):
    """A mode's trial trains steps (the emulated graph runs the step during capture and
    again to check a replay), then puts everything back: a state the snapshot forgot would
    count those steps too."""
    trainer = Trainer(variant, ring8, config=config())
    trainer.runner = perf.Runner(trainer, "auto", modes=["graph", "eager"], graph_backend=EmulatedGraph)
    trainer.fit()
    assert trainer.runner.mode == mode_after  # the Python counter makes the graph fail its trial
    assert int(trainer.variant.state["d_steps"]) == 12 == trainer.step


# ---- updates through the context ---------------------------------------------------
class Spying(StepContext):
    calls: list

    def backward(self, loss, optimizer=None):
        self.calls.append({self.opt_d: "backward D", self.opt_g: "backward G"}.get(optimizer, "backward"))
        super().backward(loss, optimizer)

    def step(self, optimizer):
        self.calls.append("step D" if optimizer is self.opt_d else "step G")
        super().step(optimizer)


def test_the_default_steps_back_propagate_and_step_through_the_context(ring8):
    trainer = Trainer("wgan-gp", ring8, config=config())
    ctx = Spying(**{f: getattr(trainer.context(), f) for f in StepContext.__dataclass_fields__})
    ctx.calls = []
    trainer.variant.train_step(ctx)
    n = trainer.variant.n_critic
    assert ctx.calls == ["backward D", "step D"] * n + ["backward G", "step G"]
    assert all(p.requires_grad for p in trainer.D.parameters())  # D unfrozen after G's step


def test_frozen_takes_no_gradient_and_puts_the_flags_back_even_on_an_error(ring8):
    trainer = Trainer("nsgan", ring8, config=config())
    ctx, D = trainer.context(), trainer.D
    first = next(D.parameters())
    first.requires_grad_(False)  # a parameter frozen by the user stays frozen
    with pytest.raises(RuntimeError, match="inside"):
        with ctx.frozen(D):
            assert not any(p.requires_grad for p in D.parameters())
            raise RuntimeError("inside")
    assert not first.requires_grad and all(p.requires_grad for p in list(D.parameters())[1:])


# ---- declared attributes ----------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS.names())
def test_every_variant_declares_what_its_discriminator_outputs(name):
    cls = VARIANTS.get(name)
    assert cls.d_output in D_OUTPUTS
    undeclared = type("Undeclared", (cls,), {"d_output": ""})  # what the probe alone would say
    assert outcome.logistic_discriminator(cls()) == outcome.logistic_discriminator(undeclared()) \
        == (cls.d_output == "logits")


def test_a_variant_that_declares_graph_unsafe_never_runs_as_a_graph(ring8):
    unsafe = type("Unsafe", (CountsItsSteps,), {"graph_safe": False})
    trainer = Trainer(unsafe, ring8, config=config())
    trainer.runner = perf.Runner(trainer, "auto", modes=["graph", "eager"], graph_backend=EmulatedGraph)
    trainer.fit(steps=2)
    assert trainer.runner.mode == "eager" and "declares graph_safe = False" in trainer.runner.notices[0]


# ---- optimizers ------------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop),
                                       ("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_each_registered_optimizer_trains_with_its_own_settings(ring8, name, cls):
    trainer = Trainer("nsgan", ring8, config=config(hparams={"optimizer": name}))
    assert type(trainer.opt_g) is cls and type(trainer.opt_d) is cls
    for key, default in OPTIMIZERS.get(name).hparams.items():
        assert trainer.variant.hp[key] == default == trainer.opt_d.param_groups[0][key]
    history = trainer.fit(steps=5)
    assert history.status == "ok"


def test_an_optimizers_own_hyperparameters_exist_only_when_it_is_chosen():
    nsgan = VARIANTS.get("nsgan")
    assert "momentum" not in nsgan.resolve_hparams({})  # Adam runs keep their run ids
    assert nsgan.resolve_hparams({"optimizer": "sgd", "momentum": 0.9})["momentum"] == 0.9
    with pytest.raises(ValueError, match="unknown hyperparameter 'momentum'"):
        nsgan.resolve_hparams({"momentum": 0.9})
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; valid optimizers: adam, adamw, rmsprop, sgd"):
        nsgan.resolve_hparams({"optimizer": "lbfgs"})


def test_the_contract_left_the_stored_example_runs_keyed_as_they_were():
    """Every stored example run keeps its run id in today's quick plan (new settings such as
    g_ema do not re-key it), and the example covers the whole plan."""
    from ganzoo.bench.suite import expand, load_suite

    stored = {json.loads(line)["run_id"]: json.loads(line)["variant"]
              for line in (ROOT / "results/example-quick/runs.jsonl").open()}
    try:
        planned = {s.run_id: s.variant for s in expand(load_suite("quick", device="cpu")).specs}
    except (DataError, FileNotFoundError) as err:  # MNIST missing on this machine
        pytest.skip(f"the quick suite's data is not all here: {err}")
    assert set(stored) <= set(planned)
    new = {planned[r] for r in set(planned) - set(stored)}
    assert not new, (
        f"variants in the quick plan with no example runs: {sorted(set(new))}; make the example "
        f"again (results/example-quick/EXAMPLE.md says how)")
