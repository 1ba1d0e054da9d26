"""One config mechanism (ganzoo.config): suites, TrainConfig and hyperparameters share its rules,
and run ids survive a hyperparameter or setting added later."""
import json
import math
from pathlib import Path

import pytest

from ganzoo import config
from ganzoo.bench.suite import EVAL_DEFAULTS, TRAIN_DEFAULTS, SuiteError, expand, hashed_fields, load_suite, parse_suite
from ganzoo.config import Setting
from ganzoo.errors import ConfigError, GanzooError
from ganzoo.registry import VARIANTS
from ganzoo.trainer import TrainConfig
from ganzoo.variants import base

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example-quick" / "runs.jsonl"


@pytest.mark.parametrize("value, rule, message", [
    (True, Setting(int), "must be an integer, got True"),  # TOML true is not 1
    ("3", Setting(int), "must be an integer, got '3'"),
    (0, Setting(int, minimum=1), "must be an integer >= 1, got 0"),
    (2.5, Setting(int, whole_floats=True), "must be a whole number, got 2.5"),
    (math.inf, Setting(float), "must be a finite number, got inf"),
    ([], Setting(int, axis=True), "must not be an empty list"),
    ([1, "x"], Setting(int, axis=True), "must be an integer, got 'x'"),
    ("fp8", Setting(str, choices=lambda: ["fp32", "bf16"]), "must be one of fp32, bf16, got 'fp8'"),
    ([0.5], Setting(list, length=2), "must be a list of 2 finite numbers, got [0.5]"),
])
def test_check_value_refuses_with_what_is_valid(value, rule, message):
    with pytest.raises(ConfigError, match=f"^what {message}".replace("[", r"\[").replace("]", r"\]")):
        config.check_value(value, rule, "what")


def test_check_value_accepts_and_coerces_as_declared():
    assert config.check_value(1, Setting(float, coerce=True), "x") == 1.0
    assert isinstance(config.check_value(1, Setting(float, coerce=True), "x"), float)
    assert config.check_value(2.0, Setting(int, whole_floats=True), "x") == 2
    assert config.check_value([64, 64, 32], Setting(int, axis=True), "x") == [64, 32]
    assert config.check_value(7, Setting(int, axis=True), "x") == [7]
    assert config.check_value([0.5, 1], Setting(list, length=2, coerce=True), "x") == (0.5, 1.0)


def test_one_wrong_value_gets_the_same_words_everywhere():
    """steps = 0 in TrainConfig and in a suite's [train], n_critic = 0 as a hyperparameter in a
    suite and in resolve_hparams: one rule, one message, each a GanzooError the CLI answers in a line."""
    with pytest.raises(ConfigError, match="steps must be an integer >= 1, got 0") as direct:
        TrainConfig(steps=0)
    with pytest.raises(SuiteError, match=r"\[train\]: steps must be an integer >= 1, got 0") as suite:
        parse_suite({"seeds": [0], "datasets": {"ring8": {}}, "train": {"steps": 0}})
    with pytest.raises(ConfigError, match="hyperparameter 'n_critic' must be an integer >= 1, got 0"):
        VARIANTS.get("wgan").resolve_hparams({"n_critic": 0})
    with pytest.raises(SuiteError, match="hyperparameter 'n_critic' must be an integer >= 1, got 0"):
        parse_suite({"seeds": [0], "datasets": {"ring8": {}}, "overrides": {"wgan": {"hparams": {"n_critic": 0}}}})
    assert isinstance(direct.value, GanzooError) and isinstance(suite.value, GanzooError)


def test_a_suite_reads_the_trainers_defaults():
    """[train] defaults are TrainConfig's (no second list of them), except the pinned perf mode."""
    fresh = TrainConfig()
    assert {k: v for k, v in TRAIN_DEFAULTS.items() if k != "perf"} == \
        {k: getattr(fresh, k) for k in TRAIN_DEFAULTS if k != "perf"}
    assert TRAIN_DEFAULTS["perf"] == "eager"
    assert set(EVAL_DEFAULTS) == {"samples", "final_samples", "sample_grid", "kid_subsets"}


def test_suite_axes_come_from_the_declarations():
    suite = parse_suite({"seeds": [0], "datasets": {"ring8": {}},
                         "train": {"batch_size": [32, 64], "precision": ["fp32"], "perf": "eager"}})
    assert suite.datasets[0].train["batch_size"] == [32, 64]
    with pytest.raises(SuiteError, match="precision must be one of"):
        parse_suite({"seeds": [0], "datasets": {"ring8": {}}, "train": {"precision": ["fp32", "fp8"]}})
    with pytest.raises(SuiteError, match="z_dim must be an integer"):  # not an axis
        parse_suite({"seeds": [0], "datasets": {"ring8": {}}, "train": {"z_dim": [2, 4]}})


def _example_ids():
    if not EXAMPLE.is_file():
        pytest.skip("no committed example runs")
    return {json.loads(line)["run_id"] for line in EXAMPLE.read_text().splitlines() if line.strip()}


def _plan_ids():
    try:
        return {s.run_id for s in expand(load_suite("quick")).specs}
    except GanzooError as err:  # the optional MNIST files missing
        pytest.skip(f"quick plan cannot expand here: {err}")


def test_a_hyperparameter_added_later_keeps_every_stored_run_id(monkeypatch):
    """Adding a key to BASE_DEFAULTS re-keys every run unless it is declared with the value
    earlier runs had; declared, the committed example's ids stay, and setting it changes one."""
    stored = _example_ids()
    assert _plan_ids() == stored
    monkeypatch.setitem(base.BASE_DEFAULTS, "grad_clip", 0.0)
    assert not _plan_ids() & stored  # undeclared: every id changes
    monkeypatch.setattr(base.Variant, "hp_added_later", {"grad_clip": 0.0})
    assert _plan_ids() == stored
    spec = json.loads(EXAMPLE.read_text().splitlines()[0])["spec"]
    spec["hparams"]["grad_clip"] = 0.0
    same = hashed_fields(spec)
    spec["hparams"]["grad_clip"] = 1.0
    assert hashed_fields(spec) != same


def test_a_run_spec_field_added_later_is_hashed_only_when_set():
    spec = json.loads(_example_lines()[0])["spec"]
    assert "g_ema" not in hashed_fields({**spec, "g_ema": 0.0})
    assert hashed_fields({**spec, "g_ema": 0.999})["g_ema"] == 0.999


def _example_lines():
    if not EXAMPLE.is_file():
        pytest.skip("no committed example runs")
    return EXAMPLE.read_text().splitlines()
