import pytest
import torch
from toy_variants import LossChangesAfter

from ganzoo.data import load
from ganzoo.registry import UnknownNameError
from ganzoo.trainer import ConfigError, TrainConfig, Trainer
from ganzoo.variants.base import HyperparameterError


@pytest.fixture(scope="module")
def ring8():
    return load("ring8", n=4000)


def mean_distance_to_nearest_mode(samples, data):
    return torch.cdist(samples.cpu(), data.modes.cpu()).min(dim=1).values.mean().item()


def test_short_training_moves_samples_toward_the_modes(ring8):
    trainer = Trainer("nsgan", ring8, config=TrainConfig(steps=600, batch_size=128, log_every=100, seed=1))
    before = mean_distance_to_nearest_mode(trainer.sample(2000), ring8)
    history = trainer.fit()
    after = mean_distance_to_nearest_mode(trainer.sample(2000), ring8)
    assert history.status == "ok"
    assert after <= 0.5 * before, (before, after)
    assert len(history.values["d_loss"]) == 600 and history.real_images == 600 * 128
    assert history.train_s > 0


def test_same_seed_gives_identical_losses(ring8, tiny_config):
    runs = [Trainer("vanilla", ring8, config=tiny_config(seed=3)).fit().values for _ in range(2)]
    assert runs[0] == runs[1]
    other = Trainer("vanilla", ring8, config=tiny_config(seed=4)).fit().values
    assert other["d_loss"] != runs[0]["d_loss"]


def test_evaluation_does_not_move_the_training_stream(ring8, tiny_config):
    """Metrics may draw from torch's RNG (subsets, feature nets); training must not notice."""
    plain = Trainer("nsgan", ring8, config=tiny_config(seed=3)).fit().values

    def greedy_metric(trainer):
        return {"noise": float(torch.rand(1000).mean()), "more": float(torch.randn(7).sum())}

    evaluated = Trainer("nsgan", ring8, config=tiny_config(seed=3, eval_every=5))
    history = evaluated.fit(evaluate=greedy_metric)
    assert [e["step"] for e in history.evals] == [5, 10, 15, 20]
    assert history.values == plain


def test_resume_continues_exactly_like_an_uninterrupted_run(ring8, tiny_config, tmp_path):
    full = Trainer("nsgan", ring8, config=tiny_config(steps=40, seed=7)).fit()

    ckpt = tmp_path / "ckpt.pt"
    first = Trainer("nsgan", ring8, config=tiny_config(steps=40, seed=7), checkpoint_path=ckpt)
    first.fit(steps=20)
    assert first.step == 20 and ckpt.is_file()
    del first
    torch.manual_seed(999)  # whatever happens in between must not matter
    resumed = Trainer.from_checkpoint(ckpt, data=ring8)
    assert resumed.step == 20
    history = resumed.fit()
    for key in ("d_loss", "g_loss", "grad_norm_d", "grad_norm_g"):
        assert history.values[key] == full.values[key], key


def test_checkpoint_reloads_the_dataset_by_itself(ring8, tiny_config, tmp_path):
    trainer = Trainer("nsgan", ring8, config=tiny_config(), checkpoint_path=tmp_path / "c.pt",
                      dataset_spec={"name": "ring8", "split": None, "n": 4000})
    trainer.fit()
    again = Trainer.from_checkpoint(tmp_path / "c.pt")
    assert again.data.name == "ring8" and torch.equal(again.data.x, ring8.x)
    torch.testing.assert_close(again.sample(10), trainer.sample(10))


class NanAfter13(LossChangesAfter):
    """A broken variant: D's loss turns NaN at its 14th call (step 14)."""

    after = 13
    factor = float("nan")


def test_divergence_is_a_result_with_its_step(ring8, tiny_config):
    history = Trainer(NanAfter13, ring8, config=tiny_config(steps=50)).fit()
    assert history.status == "diverged"
    assert history.diverged_at == 14
    assert len(history.values["d_loss"]) == 20  # stopped at the first read-back after it


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=-5), "steps must be an integer >= 1"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(precision="fp8"), "precision must be one of"),
])
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_unknown_variant_and_hyperparameter_are_clear_errors(ring8):
    with pytest.raises(UnknownNameError, match="Did you mean 'nsgan'"):
        Trainer("nsgn", ring8)
    with pytest.raises(HyperparameterError, match="unknown hyperparameter 'lr'.*valid: .*lr_d"):
        Trainer("nsgan", ring8, config=TrainConfig(hparams={"lr": 0.1}))
    with pytest.raises(HyperparameterError, match="must be a number"):
        Trainer("nsgan", ring8, config=TrainConfig(hparams={"lr_d": "fast"}))
    with pytest.raises(HyperparameterError, match="'n_critic' must be a whole number, got 2.5"):
        Trainer("nsgan", ring8, config=TrainConfig(hparams={"n_critic": 2.5}))
    assert Trainer("nsgan", ring8, config=TrainConfig(hparams={"n_critic": 2.0})).variant.n_critic == 2
    with pytest.raises(ConfigError, match="training settings: unknown key"):
        TrainConfig.from_dict({"stpes": 3})


def test_seed_mlp_matches_the_seed_architecture():
    from ganzoo import nets

    G, D = nets.build("mlp", (1, 28, 28), z_dim=100)
    g_linear = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    d_linear = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linear] == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [(m.in_features, m.out_features) for m in d_linear] == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    out = G(torch.randn(5, 100))
    assert out.shape == (5, 1, 28, 28) and out.abs().max() <= 1
    assert D(out).shape == (5,)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in D.modules())  # the sigmoid is in the loss


def test_a_batch_larger_than_the_dataset_is_an_error_naming_the_valid_range():
    from ganzoo.data import load

    data = load("ring8", n=500)
    with pytest.raises(ConfigError, match=r"batch_size 501 is larger than dataset 'ring8' \(500 samples\); valid: 1 to 500"):
        Trainer("nsgan", data, config=TrainConfig(batch_size=501))
    assert Trainer("nsgan", data, config=TrainConfig(batch_size=500)).config.batch_size == 500
