"""Bad input, through the public command line: exit 2 and one line that says what was wrong
and what is valid, no traceback unless --debug. Then hypothesis fuzzes the suite parser,
the --hp parser and the CLI: any input ends in success or such an error, never an
unhandled exception. docs/reliability.md lists these cases; keep the two in step."""
import math
import string
import sys

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganzoo.bench.suite import SuiteError, parse_suite
from ganzoo.cli import main
from ganzoo.commands.train import parse_hparams
from ganzoo.data import DataError
from ganzoo.registry import VARIANTS
from ganzoo.trainer import ConfigError, Trainer


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real files to point commands at: a 2D and an image checkpoint, and wrong ones."""
    d = tmp_path_factory.mktemp("files")
    for name, dataset in (("points", "ring8"), ("digits", "digits")):
        assert main(["train", "nsgan", "--dataset", dataset, "--steps", "2", "--batch-size", "16",
                     "--no-progress", "--out", str(d / name)]) == 0
    state = torch.load(d / "points" / "checkpoint.pt", weights_only=False)
    state["format"] = 99
    torch.save(state, d / "future.pt")
    (d / "garbage.pth").write_bytes(b"\x00not the inception weights" * 100)
    (d / "empty.toml").write_text("")
    (d / "typo.toml").write_text('seeds = [0]\n[datasets.ring8]\nstepz = 10\n')
    return d


BAD = [  # (argv, what the message must say); {d} is the files fixture's folder
    (["train", "vanila", "--dataset", "ring8"], "unknown variant 'vanila'; valid variants: acgan"),
    (["train", "vanila", "--dataset", "ring8"], "Did you mean 'vanilla'?"),
    (["train", "nsgan", "--dataset", "ring9"], "unknown dataset 'ring9'"),
    (["train", "nsgan", "--dataset", "ring8", "--arch", "transformer"], "unknown architecture 'transformer'"),
    (["train", "nsgan", "--dataset", "mnist", "--data-root", "/nonexistent/ganzoo-data", "--split", "train"],
     "train-images-idx3-ubyte"),
    (["train", "nsgan", "--dataset", "ring8", "--split", "validation"], "split"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "lr=1"], "unknown hyperparameter 'lr'"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "lr_d"], "--hp takes KEY=VALUE"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "lr_d=fast"], "'lr_d' must be a number"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "lr_d=-1"], "'lr_d' must be a learning rate > 0"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "lr_d=NaN"], "'lr_d' must be a finite number"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "betas=[0.5]"], "'betas' must be a list of 2"),
    (["train", "wgan", "--dataset", "ring8", "--hp", "n_critic=0"], "'n_critic' must be an integer >= 1"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "optimizer=[0.5, 0.9]"], "unknown optimizer [0.5, 0.9]"),
    (["train", "nsgan", "--dataset", "ring8", "--hp", "optimizer=lbfgs"], "unknown optimizer 'lbfgs'; valid optimizers: adam, adamw"),
    (["train", "nsgan", "--dataset", "ring8", "--batch-size", "100000"], "batch_size 100000 is larger than dataset"),
    (["train", "nsgan", "--dataset", "ring8", "--precision", "fp8"], "precision must be one of bf16, fp16, fp32, tf32"),
    (["train", "nsgan", "--dataset", "ring8", "--g-ema", "1"], "g_ema must be an EMA decay in [0, 1)"),
    (["train", "nsgan", "--dataset", "ring8", "--g-ema", "nan"], "g_ema must be an EMA decay in [0, 1)"),
    (["train", "began", "--dataset", "ring8", "--hp", "h_dim=0"], "'h_dim' must be an integer >= 1"),
    (["train", "nsgan", "--dataset", "ring8", "--device", "cuda"], "CUDA is not available here"),
    (["train", "nsgan", "--dataset", "ring8", "--device", "tpu"], "device"),
    (["train", "nsgan", "--dataset", "digits", "--arch", "resnet"], "builds nets for square images"),
    (["train", "lsgan", "--dataset", "ring8", "--resume", "--out", "{d}/points"], "holds nsgan on ring8, not lsgan"),
    (["train", "nsgan", "--dataset", "ring8", "--resume", "--out", "{d}/points", "--g-ema", "0.9"],
     "was trained with g_ema=0, which a resumed run keeps"),
    (["sample", "/nonexistent/checkpoint.pt"], "no checkpoint at /nonexistent/checkpoint.pt"),
    (["sample", "{d}/garbage.pth"], "is not a readable ganzoo checkpoint"),
    (["sample", "{d}/future.pt"], "in format 99, written by another ganzoo version"),
    (["sample", "{d}/points/checkpoint.pt", "--label", "42"], "--label must be in 0..7"),
    (["eval", "{d}/future.pt"], "in format 99"),
    (["eval", "{d}/digits/checkpoint.pt", "--extractor", "ganzoo-mnistt"], "unknown extractor 'ganzoo-mnistt'"),
    (["eval", "{d}/digits/checkpoint.pt", "--extractor", "inception", "--inception-weights", "/nonexistent.pth"],
     "points at /nonexistent.pth, which does not exist"),
    (["eval", "{d}/digits/checkpoint.pt", "--extractor", "inception", "--inception-weights", "{d}/garbage.pth"],
     "is not a torch weights file"),
    (["eval", "{d}/points/checkpoint.pt", "--extractor", "ganzoo-mnist"], "apply to image datasets only"),
    (["eval", "{d}/points/checkpoint.pt", "--n", "1"], "--n must be at least 2, got 1"),
    (["eval", "{d}/points/checkpoint.pt", "--n", "8", "--n-reference", "1"], "--n-reference must be at least 2"),
    (["eval", "{d}/points/checkpoint.pt", "--seed", "99999999999999999999"], "--seed must be in 0.."),
    (["eval", "{d}/digits/checkpoint.pt", "--extractor", "ganzoo-mnist"],
     "extractor 'ganzoo-mnist' reads images of shape [1, 28, 28]; 'digits' has [1, 8, 8]"),
    (["sample", "{d}/points/checkpoint.pt", "--out", "{d}/s.bogus"], "cannot write a bogus file; valid suffixes:"),
    (["train", "nsgan", "--dataset", "ring8", "--seed", "99999999999999999999"],
     "seed must be an integer >= 0 and <= 9223372036854775807"),
    (["bench", "nosuch"], "no suite 'nosuch'"),
    (["bench", "{d}/empty.toml", "--out", "{d}/b"], "`seeds` is required"),
    (["bench", "{d}/typo.toml", "--out", "{d}/b"], "unknown key(s) 'stepz'"),
    (["bench", "quick", "--variants", "nsgann", "--out", "{d}/b"], "Did you mean 'nsgan'"),
    (["bench", "quick", "--datasets", "ring9", "--out", "{d}/b"], "has no dataset 'ring9'"),
    (["report", "{d}/nothing-here"], "runs.jsonl"),
    (["compare", "{d}/nothing-here", "{d}/nor-here"], "runs.jsonl"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_clear_line_and_exit_2(capsys, files, tmp_path, argv, message):
    argv = [a.replace("{d}", str(files)) for a in argv]
    if argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "run"), "--steps", "2"]
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "summary.json").exists()


def test_debug_shows_the_traceback_of_a_user_error(capsys, tmp_path):
    code, _, err = run(capsys, "--debug", "train", "nsgan", "--dataset", "ring8", "--hp", "lr=1",
                       "--out", str(tmp_path))
    assert code == 2 and "Traceback" in err and "unknown hyperparameter 'lr'" in err
    code, _, err = run(capsys, "train", "nsgan", "--dataset", "ring9", "--debug", "--out", str(tmp_path))
    assert code == 2 and "Traceback" in err and "unknown dataset 'ring9'" in err


def test_a_bug_is_not_mistaken_for_a_user_error(monkeypatch):
    """Only a GanzooError is answered in one line: a ValueError from inside ganzoo (a bug, not
    the user's input) escapes with its traceback, where it used to be printed as a user error."""
    from ganzoo import commands

    def broken(args):
        raise ValueError("an internal inconsistency")

    monkeypatch.setitem(commands.COMMANDS, "list", (commands.COMMANDS["list"][0], broken))
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["list"])


def test_every_user_error_class_is_a_ganzoo_error():
    """The errors the CLI used to catch by builtin type now share one base."""
    from ganzoo.bench.lock import FolderBusyError, StoreWriteError
    from ganzoo.bench.references import ReferenceError
    from ganzoo.bench.suite import SuiteError
    from ganzoo.data.base import DataError
    from ganzoo.errors import GanzooError
    from ganzoo.metrics.quality import InceptionWeightsMissing
    from ganzoo.perf import PerfError
    from ganzoo.registry import UnknownNameError
    from ganzoo.trackers import TrackerError
    from ganzoo.trainer import CheckpointError, ConfigError
    from ganzoo.variants.base import HyperparameterError

    for cls in (FolderBusyError, StoreWriteError, ReferenceError, SuiteError, DataError, InceptionWeightsMissing,
                PerfError, UnknownNameError, TrackerError, CheckpointError, ConfigError, HyperparameterError):
        assert issubclass(cls, GanzooError), cls


@pytest.mark.parametrize("steps", ["0", "-3", "many"])
def test_non_positive_steps_are_rejected_by_the_parser(capsys, steps):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "nsgan", "--dataset", "ring8", "--steps", steps])
    assert exit_info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_a_conditional_variant_on_unlabelled_data_is_refused(tmp_path):
    from PIL import Image

    from ganzoo.bench.suite import expand
    from ganzoo.data import load

    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / f"{i}.png")
    data = load("folder", path=tmp_path, size=8, channels=1)
    with pytest.raises(ConfigError, match="'cgan' is conditional and needs labels, but dataset 'folder' has none"):
        Trainer("cgan", data)
    suite = parse_suite({"seeds": [0], "variants": ["cgan", "nsgan"],
                         "datasets": {"folder": {"options": {"path": str(tmp_path), "size": 8, "channels": 1}}}})
    plan = expand(suite)
    assert [s.variant for s in plan.specs] == ["nsgan"]
    assert plan.skipped == ["cgan × folder: conditional variant, dataset has no labels"]


# ---- fuzzing ------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
toml_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.booleans(),
                         st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=3))
suite_keys = st.sampled_from(["seeds", "variants", "train", "eval", "datasets", "workers", "max_minutes",
                              "run_timeout_minutes", "quality", "device", "overrides", "on_cuda", "steps",
                              "exclude_variants", "threads_per_worker", "name"])
inner_keys = st.sampled_from(["steps", "batch_size", "precision", "perf", "z_dim", "log_every", "eval_every",
                              "checkpoint_every", "g_ema", "samples", "metric", "threshold", "arch", "variants",
                              "seeds", "options", "hparams", "ring8", "grid25", "nsgan", "wgan", "bogus"])
tables = st.recursive(toml_scalars, lambda kids: st.dictionaries(inner_keys, kids, max_size=4), max_leaves=12)


suites = st.fixed_dictionaries(
    {"seeds": st.one_of(st.just([0]), tables),
     "datasets": st.dictionaries(st.sampled_from(["ring8", "grid25", "digits", "ring9"]),
                                 st.dictionaries(inner_keys, tables, max_size=3), min_size=1, max_size=2)},
    optional={"train": st.dictionaries(inner_keys, tables, max_size=3), "variants": tables,
              "overrides": st.dictionaries(st.sampled_from(["nsgan", "wgan", "nope"]), tables, max_size=2),
              "workers": tables, "max_minutes": tables, "run_timeout_minutes": tables, "quality": tables,
              "device": st.sampled_from(["cpu", "auto", "tpu", "cuda:7", ""])})


@FUZZ
@given(st.one_of(suites, st.dictionaries(suite_keys, tables, max_size=6)))
def test_fuzz_the_suite_parser_gives_a_plan_or_a_suite_error(raw):
    from ganzoo.bench.suite import expand

    try:
        plan = expand(parse_suite(raw, name="fuzz"))
    except (SuiteError, ConfigError, DataError) as err:  # DataError: a loader option the loader refuses
        assert str(err)
        event(f"{type(err).__name__}")
        return
    event("parsed and expanded")
    assert all(s.steps >= 1 and s.batch_size >= 1 for s in plan.specs)


hp_keys = st.sampled_from(["lr_g", "lr_d", "betas", "n_critic", "optimizer", "clip", "gp_weight", "", "x"])
hp_values = st.one_of(st.text(string.printable, max_size=12), st.floats().map(str), st.sampled_from(
    ["1e-4", "-1", "0", "NaN", "Infinity", "[0.5, 0.999]", "[1]", "true", "null", '"adam"', "rmsprop", "1e999"]))


@FUZZ
@given(st.sampled_from(["nsgan", "wgan", "wgan-gp", "cgan"]),
       st.lists(st.tuples(hp_keys, st.sampled_from(["=", ""]), hp_values), max_size=3))
def test_fuzz_the_hp_parser_gives_hyperparameters_or_a_clear_error(variant, pairs):
    try:
        hp = VARIANTS.get(variant).resolve_hparams(parse_hparams([k + sep + v for k, sep, v in pairs]))
    except ValueError as err:
        assert str(err)
        event("clear error")
        return
    event("accepted")
    assert all(math.isfinite(v) for v in hp.values() if isinstance(v, float))
    assert hp["lr_g"] > 0 and hp["lr_d"] > 0 and hp["n_critic"] >= 1


options = st.tuples(
    st.sampled_from(["--steps", "--batch-size", "--hp", "--arch", "--precision", "--perf", "--seed",
                     "--split", "--device", "--n", "--label", "--log-every", "--checkpoint-every"]),
    st.sampled_from(["1", "2", "0", "-1", "16", "100000", "lr_d=2e-4", "x=1", "n_critic=2", "mlp", "dcgan",
                     "toy-mlp", "bf16", "fp32", "eager", "graph", "test", "train", "cpu", "cuda:1", "1e9", ""]))
commands = st.one_of(
    st.tuples(st.just("train"), st.sampled_from(["nsgan", "wgan-gp", "cgan", "acgan", "nosuch"]),
              st.sampled_from(["--dataset"]), st.sampled_from(["ring8", "grid25", "digits", "ring9"])),
    st.tuples(st.sampled_from(["sample", "eval"]), st.sampled_from(["{ckpt}", "/nonexistent.pt", ""])),
    st.tuples(st.sampled_from(["list", "report", "compare", "bench", "frobnicate"])))


@FUZZ
@given(commands, st.lists(options, max_size=4),
       st.one_of(st.just([]), st.just([]), st.just([]), st.lists(st.text(max_size=6), min_size=1, max_size=1)))
def test_fuzz_the_cli_ends_in_success_or_a_clear_error(capsys, files, tmp_path, command, opts, junk):
    argv = [a.replace("{ckpt}", str(files / "points" / "checkpoint.pt")) for a in command]
    argv += [x for pair in opts for x in pair] + junk
    if argv[0] == "train":  # the last --steps wins: any training stays this short
        argv += ["--steps", "2", "--out", str(tmp_path / "o")]
    elif argv[0] == "sample":
        argv += ["--out", str(tmp_path / "s.png")]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: usage errors (2) and --help (0)
        assert exit_.code in (0, 2)
        event(f"argparse exit {exit_.code}")
        return
    err = capsys.readouterr().err
    event(f"{argv[0]} exit {code}")
    assert code in (0, 2), err
    if code == 2:
        assert "error:" in err and "Traceback" not in err


def test_the_ray_executor_without_ray_is_one_clear_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["bench", "quick", "--datasets", "ring8", "--executor", "ray", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "--executor ray needs Ray: pip install 'ganzoo[ray]'" in err
    assert "Traceback" not in err and not (tmp_path / "b" / "runs.jsonl").exists()


def test_a_ray_cluster_too_small_for_one_run_is_a_clear_error(monkeypatch):
    from types import SimpleNamespace

    from ganzoo.bench import ray_executor

    fake = SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    executor = ray_executor.RayExecutor(workers=4, num_cpus=1)
    assert executor._slots(0.0) == 2  # 4 asked, 2 fit: none would wait in Ray's queue
    with pytest.raises(ValueError, match="has 2 CPUs and 0 GPUs; one run asks for 1 CPUs and 1 GPUs"):
        executor._slots(1.0)
