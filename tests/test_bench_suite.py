"""Suite files: strict parsing, the run matrix, run ids."""
import textwrap

import pytest

import ganzoo
from ganzoo.bench.suite import SuiteError, expand, find_suite, load_suite, parse_suite
from ganzoo.data import DataError
from ganzoo.data.base import TensorData
from ganzoo.registry import DATASETS, VARIANTS


def suite(**over):
    raw = {"seeds": [0, 1], "variants": ["nsgan", "lsgan"],
           "train": {"steps": 50, "batch_size": 32, "eval_every": 25},
           "datasets": {"ring8": {"metric": "modes", "threshold": 6}}}
    raw.update(over)
    return parse_suite(raw, name="t")


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("name", ["quick", "standard", "throughput", "mode-collapse"])
def test_shipped_suites_parse(name):
    s = load_suite(name)
    assert s.name == name and s.seeds and s.datasets


def test_find_suite_unknown_lists_known():
    with pytest.raises(FileNotFoundError, match="quick"):
        find_suite("no-such-suite")


@pytest.mark.parametrize("raw, match", [
    ({"seeds": [0], "datasets": {"ring8": {}}, "steps": 10}, r"unknown key\(s\) 'steps'.*valid keys:.*train"),
    ({"seeds": [0], "datasets": {"ring8": {"stepz": 10}}}, r"datasets.ring8.*unknown key\(s\) 'stepz'.*valid keys:.*steps"),
    ({"seeds": [0], "datasets": {"ring8": {}}, "train": {"steps": "many"}}, r"steps must be an integer"),
    ({"seeds": [0], "datasets": {"ring9": {}}}, r"unknown dataset 'ring9'.*ring8.*Did you mean 'ring8'"),
    ({"seeds": [0], "variants": ["nsgann"], "datasets": {"ring8": {}}}, r"unknown variant 'nsgann'.*Did you mean 'nsgan'"),
    ({"seeds": [0], "datasets": {"ring8": {"precision": "fp8"}}}, r"precision must be one of bf16, fp16, fp32, tf32, got 'fp8'"),
    ({"seeds": [0], "datasets": {}}, r"at least one \[datasets.NAME\]"),
    ({"datasets": {"ring8": {}}}, r"`seeds` is required"),
    ({"seeds": [0], "datasets": {"ring8": {"threshold": 3}}}, r"threshold needs the `metric`"),
    ({"seeds": [0], "datasets": {"ring8": {}}, "overrides": {"wgan": {"hparams": {"clipp": 1}}}},
     r"overrides.wgan.*unknown hyperparameter .clipp.*valid:.*clip"),
    ({"seeds": [0], "datasets": {"ring8": {}}, "overrides": {"wgan": {"archh": "mlp"}}}, r"unknown key\(s\) 'archh'"),
    ({"seeds": [0], "datasets": {"ring8": {"arch": "vgg"}}}, r"unknown architecture 'vgg'"),
    ({"seeds": [0], "datasets": {"ring8": {}}, "quality": 1}, r"quality must be true/false"),
])
def test_strict_errors_name_the_problem_and_the_choices(raw, match):
    with pytest.raises(SuiteError, match=match):
        parse_suite(raw, name="bad")


def test_toml_syntax_error_names_the_file(tmp_path):
    p = write(tmp_path, "seeds = [0,\n")
    with pytest.raises(SuiteError, match="s.toml: not valid TOML"):
        load_suite(p)


def test_matrix_is_datasets_by_variants_by_seeds_by_axes():
    s = suite(train={"steps": 50, "batch_size": [32, 64], "precision": ["fp32", "bf16"]},
              datasets={"ring8": {"metric": "modes"}, "grid25": {"steps": 70}})
    plan = expand(s)
    assert len(plan.specs) == 2 * 2 * 2 * 2 * 2  # datasets × variants × seeds × batch × precision
    assert len({sp.run_id for sp in plan.specs}) == len(plan.specs)
    combos = {(sp.dataset, sp.variant, sp.seed, sp.batch_size, sp.precision) for sp in plan.specs}
    assert len(combos) == len(plan.specs)
    assert {sp.steps for sp in plan.specs if sp.dataset == "grid25"} == {70}
    # seed-major: every run of seed 0 comes before any of seed 1
    seeds = [sp.seed for sp in plan.specs]
    assert seeds == sorted(seeds)


def test_overrides_from_the_command_line():
    plan = expand(suite(), seeds=[3], steps=7, variants=["vanilla"])
    assert [(sp.variant, sp.seed, sp.steps) for sp in plan.specs] == [("vanilla", 3, 7)]
    assert plan.specs[0].eval_every == 0  # eval_every 25 >= 7 steps: evaluate at the end only
    with pytest.raises(SuiteError, match="--datasets: suite 't' has no dataset 'mnist'"):
        expand(suite(), datasets=["mnist"])
    with pytest.raises(SuiteError, match="--variants: unknown variant"):
        expand(suite(), variants=["nope"])


def test_all_variants_and_conditional_ones_only_on_labelled_data():
    @DATASETS.register("test-unlabelled-2d")
    def _unlabelled(*, split=None, data_root=None, download=False):
        import torch
        return TensorData(name="test-unlabelled-2d", x=torch.randn(64, 2), kind="points")

    try:
        s = suite(variants="all", seeds=[0], datasets={"ring8": {}, "test-unlabelled-2d": {}})
        plan = expand(s)
    finally:
        DATASETS.unregister("test-unlabelled-2d")
    conditional = {n for n in VARIANTS if VARIANTS.get(n).conditional}
    assert conditional, "no conditional variant registered"
    on_ring = {sp.variant for sp in plan.specs if sp.dataset == "ring8"}
    on_unlabelled = {sp.variant for sp in plan.specs if sp.dataset == "test-unlabelled-2d"}
    assert on_ring == set(VARIANTS)
    assert on_unlabelled == set(VARIANTS) - conditional
    assert any("conditional" in note and "test-unlabelled-2d" in note for note in plan.skipped)


def test_run_id_hashes_the_resolved_config_only(monkeypatch):
    a = expand(suite()).specs[0]
    assert expand(suite()).specs[0].run_id == a.run_id  # stable
    # not hashed: the suite's name and the threshold (they do not change what a run measures)
    same = expand(parse_suite({**suite().raw, "name": "other",
                               "datasets": {"ring8": {"metric": "modes", "threshold": 8}}})).specs[0]
    assert same.run_id == a.run_id
    assert expand(suite(), steps=51).specs[0].run_id != a.run_id
    hp = expand(suite(overrides={"nsgan": {"hparams": {"lr_d": 1e-4}}})).specs[0]
    assert hp.hparams["lr_d"] == 1e-4 and hp.run_id != a.run_id
    monkeypatch.setattr(ganzoo, "__version__", "99.0")
    assert expand(suite()).specs[0].run_id != a.run_id


def test_optional_dataset_missing_is_skipped_with_a_note(tmp_path):
    s = suite(datasets={"ring8": {}, "mnist": {"optional": True, "data_root": str(tmp_path)}})
    plan = expand(s, data_root=str(tmp_path))
    assert {sp.dataset for sp in plan.specs} == {"ring8"}
    assert any(n.startswith("dataset mnist skipped") for n in plan.skipped)
    with pytest.raises(DataError, match="MNIST"):
        expand(suite(datasets={"mnist": {}}), data_root=str(tmp_path))


def test_data_root_candidates_relative_to_the_suite_file(tmp_path):
    from ganzoo.data import find_shared_mnist

    shared = find_shared_mnist()
    if shared is None:
        pytest.skip("no shared MNIST copy beside this checkout")
    p = write(tmp_path, f"""
        seeds = [0]
        variants = ["nsgan"]
        [datasets.mnist]
        data_root = ["does-not-exist", "{shared}"]
    """)
    plan = expand(load_suite(p))
    assert plan.specs[0].split == "test" and plan.specs[0].data_root == str(shared)


def test_a_dataset_has_its_own_seeds_variants_and_overrides():
    s = suite(overrides={"nsgan": {"hparams": {"lr_g": 5e-4, "lr_d": 5e-4}}},
              datasets={"ring8": {"overrides": {"nsgan": {"hparams": {"lr_g": 1e-3}}}},
                        "grid25": {"seeds": [7], "variants": ["nsgan", "wgan"], "note": "why"}})
    plan = expand(s)
    got = {(sp.dataset, sp.variant, sp.seed) for sp in plan.specs}
    assert got == {("ring8", v, seed) for v in ("nsgan", "lsgan") for seed in (0, 1)} | {
        ("grid25", "nsgan", 7), ("grid25", "wgan", 7)}
    hp = {(sp.dataset, sp.variant): sp.hparams for sp in plan.specs}
    assert hp[("ring8", "nsgan")]["lr_g"] == 1e-3       # the dataset's override wins ...
    assert hp[("ring8", "nsgan")]["lr_d"] == 5e-4       # ... over the suite's, key by key
    assert hp[("grid25", "nsgan")]["lr_g"] == 5e-4      # other datasets keep the suite's
    assert hp[("ring8", "lsgan")]["lr_g"] == 1e-3  # no override: ring8's protocol (ganzoo.protocols)
    assert s.datasets[1].note == "why"
    # --variants narrows a dataset's own list (and replaces the suite's); --seeds replaces both
    narrowed = expand(s, variants=["wgan", "vanilla"], seeds=[3])
    assert {(sp.dataset, sp.variant, sp.seed) for sp in narrowed.specs} == {
        ("ring8", "wgan", 3), ("ring8", "vanilla", 3), ("grid25", "wgan", 3)}


def test_an_override_can_run_one_variant_on_several_archs():
    s = suite(datasets={"ring8": {"arch": "toy-mlp",
                                  "overrides": {"nsgan": {"arch": ["mlp", "toy-mlp"]}}}})
    got = {(sp.variant, sp.arch) for sp in expand(s).specs}
    assert got == {("nsgan", "mlp"), ("nsgan", "toy-mlp"), ("lsgan", "toy-mlp")}


@pytest.mark.parametrize("table, match", [
    ({"seeds": [-1]}, r"\[datasets.ring8\]: seeds must be an integer >= 0"),
    ({"variants": ["nope"]}, r"\[datasets.ring8\]: unknown variant"),
    ({"overrides": {"nsgan": {"hparams": {"nope": 1}}}}, r"\[datasets.ring8.overrides.nsgan\]"),
    ({"overrides": {"nsgan": {"lr": 1}}}, r"\[datasets.ring8.overrides.nsgan\]: unknown key"),
    ({"overrides": {"nsgan": {"arch": ["mlp", "nope"]}}}, r"\[datasets.ring8.overrides.nsgan\]: .*nope"),
])
def test_dataset_level_settings_are_checked(table, match):
    with pytest.raises(SuiteError, match=match):
        suite(datasets={"ring8": table})


ON_CUDA = {"seeds": [0], "variants": ["nsgan"], "device": "auto", "workers": 2,
           "train": {"steps": 100, "batch_size": 64},
           "datasets": {"ring8": {"steps": 50, "note": "CPU length"}, "digits": {}},
           "on_cuda": {"workers": 1, "train": {"steps": 1000},
                       "datasets": {"ring8": {"steps": 5000, "note": "the paper's length"}}}}


def test_the_on_cuda_schedule_applies_only_where_the_device_is_cuda(monkeypatch):
    import ganzoo.bench.suite as suite_mod

    cpu = parse_suite(ON_CUDA, device="cpu")
    assert cpu.workers == 2
    assert {d.name: d.train["steps"] for d in cpu.datasets} == {"ring8": 50, "digits": 100}
    monkeypatch.setattr(suite_mod, "resolve_device", lambda d: "cuda:0")
    gpu = parse_suite(ON_CUDA)
    assert gpu.workers == 1
    assert {d.name: d.train["steps"] for d in gpu.datasets} == {"ring8": 5000, "digits": 1000}
    assert {d.name: d.train["batch_size"] for d in gpu.datasets} == {"ring8": 64, "digits": 64}
    assert [d.note for d in gpu.datasets] == ["the paper's length", ""]
    assert gpu.raw["datasets"]["ring8"]["note"] == "the paper's length"  # what the report shows


@pytest.mark.parametrize("on_cuda, match", [
    ({"seeds": [1]}, r"\[on_cuda\]: unknown key\(s\) 'seeds'"),
    ({"train": {"stepz": 5}}, r"\[on_cuda\] \[train\]: unknown key\(s\) 'stepz'"),
    ({"datasets": {"mnist": {"steps": 5}}}, r"no dataset 'mnist'; its datasets: ring8, digits"),
    ({"datasets": {"ring8": {"arch": "mlp"}}}, r"\[datasets.ring8\]: unknown key\(s\) 'arch'"),
])
def test_the_on_cuda_table_is_checked_on_the_cpu_too(on_cuda, match):
    with pytest.raises(SuiteError, match=match):
        parse_suite({**ON_CUDA, "on_cuda": on_cuda}, device="cpu")


def test_a_variant_can_have_its_own_seeds_on_a_dataset():
    """MNIST in the quick suite: more seeds for the central variants than for the rest."""
    s = suite(datasets={"ring8": {"metric": "modes", "overrides": {"nsgan": {"seeds": [0, 1, 2, 3]}}}})
    seeds = {}
    for spec in expand(s).specs:
        seeds.setdefault(spec.variant, []).append(spec.seed)
    assert sorted(seeds["nsgan"]) == [0, 1, 2, 3] and sorted(seeds["lsgan"]) == [0, 1]
    assert sorted(spec.seed for spec in expand(s, seeds=[7]).specs) == [7, 7]  # the command line wins
    with pytest.raises(SuiteError, match="seeds"):
        suite(datasets={"ring8": {"overrides": {"nsgan": {"seeds": [-1]}}}})
