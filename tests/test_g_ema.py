"""The EMA of G's weights (ganzoo.ema), an option of every variant: the average by hand,
what is sampled, exact resume, and run ids that do not change for runs that leave it off."""
import pytest
import torch

from ganzoo.bench.suite import SuiteError, expand, parse_suite
from ganzoo.data import load
from ganzoo.trainer import ConfigError, TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def config(**kw):
    return TrainConfig(**{"steps": 6, "batch_size": 16, "z_dim": 8, "log_every": 1, "device": "cpu",
                          "g_ema": 0.9, **kw})


def params(module):
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("arch", ["mlp-small", "dcgan-small"])  # dcgan-small: G has BatchNorm buffers
def test_the_average_follows_g_step_by_step(digits, arch):
    trainer = Trainer("nsgan", digits, arch=arch, config=config())
    want = params(trainer.G)  # the average starts at G's initial weights
    seen = []

    def after_each_step(t):  # log_every = 1: called after every step
        seen.append(params(t.G))

    trainer.fit(on_log=after_each_step)
    assert len(seen) == 6
    for g in seen:
        want = [0.9 * e + 0.1 * p for e, p in zip(want, g)]
    for got, w, last in zip(trainer.g_average.module.parameters(), want, seen[-1]):
        torch.testing.assert_close(got, w)
        assert not torch.equal(got, last) or got.numel() == 0  # the average is not the last G
    for mine, theirs in zip(trainer.g_average.module.buffers(), trainer.G.buffers()):
        assert torch.equal(mine, theirs)  # running statistics copied, not averaged


def test_sampling_and_evaluation_use_the_average(digits):
    trainer = Trainer("nsgan", digits, arch="mlp-small", config=config())
    trainer.fit()
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(trainer.config.seed + 12345))
    with torch.no_grad():
        torch.testing.assert_close(trainer.sample(10), trainer.g_average.module(z))
        assert not torch.allclose(trainer.sample(10), trainer.G.eval()(z))


def test_a_resumed_run_keeps_its_average_exactly(digits, tmp_path):
    whole = Trainer("nsgan", digits, arch="mlp-small", config=config(steps=8, log_every=4))
    whole.fit()
    split = Trainer("nsgan", digits, arch="mlp-small", config=config(steps=8, log_every=4),
                    checkpoint_path=tmp_path / "c.pt")
    split.fit(steps=4)
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt", data=digits)
    resumed.fit(steps=8)
    for a, b in zip(resumed.g_average.module.state_dict().values(), whole.g_average.module.state_dict().values()):
        assert torch.equal(a, b)
    # a checkpoint without an average cannot feed a run that keeps one
    plain = Trainer("nsgan", digits, arch="mlp-small", config=config(g_ema=0.0))
    with pytest.raises(ValueError, match="holds none"):
        Trainer("nsgan", digits, arch="mlp-small", config=config()).load_state_dict(plain.state_dict())


@pytest.mark.parametrize("bad, message", [(1.0, r"an EMA decay in \[0, 1\)"), (-0.1, r"an EMA decay in \[0, 1\)"),
                                          (float("nan"), r"an EMA decay in \[0, 1\)"), (True, "a number"),
                                          ("0.9", "a number")])
def test_a_decay_outside_0_1_is_refused(bad, message):
    with pytest.raises(ConfigError, match=f"g_ema must be {message}"):
        TrainConfig(g_ema=bad)


def suite(**train):
    return parse_suite({"seeds": [0], "variants": ["nsgan"],
                        "train": {"steps": 10, "batch_size": 16, "log_every": 5, **train},
                        "datasets": {"ring8": {"metric": "modes", "options": {"n": 500}}}}, name="t")


def test_run_ids_change_only_for_runs_that_use_the_average():
    (off,) = expand(suite()).specs
    (zero,) = expand(suite(g_ema=0.0)).specs
    (on,) = expand(suite(g_ema=0.999)).specs
    assert "g_ema" not in off.hashed() and off.run_id == zero.run_id  # stored runs keep their ids
    assert on.hashed()["g_ema"] == 0.999 and on.run_id != off.run_id
    assert on.label.endswith("ema 0.999")
    with pytest.raises(SuiteError, match=r"g_ema must be an EMA decay in \[0, 1\)"):
        expand(suite(g_ema=1.5))


def test_a_bench_run_with_the_average_says_so_in_its_record_and_report(tmp_path):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.store import RunStore

    bench(suite(g_ema=0.99), tmp_path, workers=1, report=True, progress=False, log=lambda *a: None)
    (record,) = RunStore(tmp_path).records()
    assert record["status"] == "ok" and record["spec"]["g_ema"] == 0.99
    report = (tmp_path / "REPORT.md").read_text()
    assert "EMA of G's weights, decay 0.99" in report
