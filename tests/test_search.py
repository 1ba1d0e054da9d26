"""The equal-budget search (ganzoo.bench.search): strict spaces, reproducible draws, a sweep that
resumes exactly, best-of-budget against a hand count, and the top-k re-runs."""
import copy
import itertools
import json
import math

import numpy as np
import pytest

from ganzoo.bench.search import (
    BEST,
    TRIAL,
    SearchError,
    TrialResult,
    best_of_budget,
    draw,
    sweep_specs,
    top_k,
    trial_results,
)
from ganzoo.bench.suite import SuiteError, expand, parse_suite
from ganzoo.errors import ConfigError

BASE = {
    "seeds": [1, 2],
    "variants": ["nsgan", "wgan-gp", "wgan"],
    "device": "cpu",
    "train": {"steps": 20, "log_every": 10, "eval_every": 0},
    "eval": {"samples": 200, "final_samples": 200, "sample_grid": 4},
    "datasets": {"ring8": {"metric": "overlap", "options": {"n": 2000}}},
    "search": {
        "trials": 4, "seed": 0, "best": 1,
        "space": {"lr": {"low": 1e-5, "high": 1e-2, "scale": "log"},
                  "beta1": {"choices": [0.0, 0.5, 0.9]},
                  "n_critic": {"choices": [1, 5]}},
        "spaces": {"wgan-gp": {"gp_weight": {"low": 0.1, "high": 100.0, "scale": "log"}}},
    },
}


def suite_with(**search):
    raw = copy.deepcopy(BASE)
    for key, value in search.items():
        if value is None:
            raw["search"].pop(key, None)
        else:
            raw["search"][key] = value
    return raw


# ---- strict parsing ---------------------------------------------------------------------------
def test_a_valid_search_parses_with_every_variants_space():
    suite = parse_suite(BASE)
    s = suite.search
    assert (s.trials, s.seed, s.best, s.include_defaults) == (4, 0, 1, True)
    assert set(s.variant_space("wgan-gp")) == {"lr", "beta1", "n_critic", "gp_weight"}
    assert set(s.variant_space("wgan")) == {"lr", "n_critic"}  # RMSprop: no β1 to draw
    assert s.variant_space("nsgan")["lr"].describe() == "log-uniform [1e-05, 0.01]"


@pytest.mark.parametrize("change, message", [
    ({"budget": 3}, r"unknown key\(s\) 'budget'.*valid keys: .*trials"),
    ({"trials": None}, r"`trials` is required"),
    ({"trials": 0}, r"trials must be an integer >= 1"),
    ({"best": 5}, r"best \(5\) cannot exceed trials \(4\)"),
    ({"space": {"lr": {"low": 1e-3, "high": 1e-3, "scale": "log"}}}, r"empty range: low \(0.001\) must be below high"),
    ({"space": {"lr": {"low": 1e-2, "high": 1e-5}}}, r"empty range"),
    ({"space": {"lr": {"low": 0.0, "high": 1e-2, "scale": "log"}}}, r"a log scale needs a range above 0, got low = 0"),
    ({"space": {"lr": {"low": -1.0, "high": 1e-2, "scale": "log"}}}, r"a log scale needs a range above 0"),
    ({"space": {"lr": {"low": 1e-5, "high": 1e-2, "scale": "ln"}}}, r"scale must be one of linear, log"),
    ({"space": {"lr": {"low": 1e-5, "high": 1e-2, "step": 2}}}, r"unknown key\(s\) 'step'.*valid keys: choices, high, low, scale"),
    ({"space": {"lr": {"low": 1e-5}}}, r"a range needs low and high \(missing high\)"),
    ({"space": {"n_critic": {"choices": []}}}, r"choices must not be empty"),
    ({"space": {"n_critic": {"choices": [0, 5]}}}, r"n_critic.*must be an integer >= 1"),
    ({"space": {"n_critic": {"low": 1.5, "high": 5}}}, r"whole number"),
    ({"space": {"clip": {"low": 1e-3, "high": 1.0}}}, r"nsgan has no hyperparameter 'clip'; valid keys: .*lr.*n_critic"),
    ({"spaces": {"nsgan": {"gp_weight": {"low": 1.0, "high": 10.0}}}}, r"nsgan has no hyperparameter 'gp_weight'"),
    ({"spaces": {"wgan": {"beta1": {"choices": [0.5]}}}}, r"wgan trains with rmsprop, which has no beta1"),
    ({"spaces": {"nsgam": {"lr": {"low": 1e-4, "high": 1e-3}}}}, r"unknown variant 'nsgam'; valid variants: .*nsgan"),
    ({"spaces": {"nsgan": {"gamma": "fixed"}}}, r"\[search.space\] has no 'gamma' to fix"),
    ({"space": {}, "spaces": None}, r"nothing to search"),
    ({"seed": 1}, r"seed 1 is the search's seed .*winner's curse"),
    ({"datasets": ["grid25"]}, r"the suite has no dataset 'grid25'; its datasets: ring8"),
])
def test_a_bad_search_table_names_what_is_valid(change, message):
    with pytest.raises(SuiteError, match=message):
        parse_suite(suite_with(**change))


def test_a_searched_dataset_needs_a_metric_and_on_cuda_may_change_the_search():
    raw = copy.deepcopy(BASE)
    del raw["datasets"]["ring8"]["metric"]
    with pytest.raises(SuiteError, match=r"a searched dataset needs a `metric`"):
        parse_suite(raw)
    raw = copy.deepcopy(BASE)
    raw["datasets"]["digits"] = {"metric": "FID[ganzoo-digits]"}
    raw["search"]["datasets"] = ["ring8"]
    raw["on_cuda"] = {"search": {"trials": 6, "datasets": ["ring8", "digits"]}}
    cpu = parse_suite(raw, device="cpu")
    assert [d.name for d in cpu.datasets] == ["ring8"] and cpu.search.trials == 4  # digits: not searched here
    with pytest.raises(SuiteError, match=r"unknown key\(s\) 'trails'"):
        parse_suite({**raw, "on_cuda": {"search": {"trails": 6}}}, device="cpu")


# ---- the same seed, the same trials ---------------------------------------------------------------
def test_the_same_suite_seed_draws_the_same_trials_and_another_seed_others():
    a, b = parse_suite(BASE).search, parse_suite(BASE).search
    other = parse_suite(suite_with(seed=7)).search
    first = draw(a, "wgan-gp")
    assert first == draw(b, "wgan-gp")
    assert first[0] == {}  # trial 0: the variant's own settings
    assert first[1:] != draw(other, "wgan-gp")[1:]
    assert draw(a, "wgan-gp", n=8)[:4] == first  # a larger budget keeps the first draws
    for params in first[1:]:
        assert 1e-5 <= params["lr"] <= 1e-2 and params["beta1"] in (0.0, 0.5, 0.9)
        assert params["n_critic"] in (1, 5) and 0.1 <= params["gp_weight"] <= 100
    assert draw(a, "nsgan") != draw(a, "wgan-gp")  # each variant its own stream


def test_trial_specs_are_ordinary_specs_whose_ids_follow_their_settings():
    plan = expand(parse_suite(BASE))
    specs = sweep_specs(parse_suite(BASE).search, plan.specs, [])
    again = sweep_specs(parse_suite(BASE).search, expand(parse_suite(BASE)).specs, [])
    other = sweep_specs(parse_suite(suite_with(seed=7)).search, plan.specs, [])
    assert [s.run_id for s in specs] == [s.run_id for s in again]
    assert len(specs) == 4 * 3 and len({s.run_id for s in specs}) == 12  # no re-run before the trials
    assert {s.run_id for s in specs[3:]}.isdisjoint(s.run_id for s in other)  # trial 0 is the same
    assert all(s.seed == 0 and s.search["stage"] == TRIAL for s in specs)
    assert [s.search["trial"] for s in specs] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # trial-major
    wgp = [s for s in specs if s.variant == "wgan-gp"]
    assert wgp[0].hparams["lr_g"] == 1e-4 and wgp[0].hparams["n_critic"] == 5  # its own settings
    for s in wgp[1:]:
        p = s.search["params"]
        assert s.hparams["lr_g"] == s.hparams["lr_d"] == p["lr"] and s.hparams["betas"] == [p["beta1"], 0.9]
        assert s.hparams["gp_weight"] == p["gp_weight"] and "search" not in s.hashed()
    from ganzoo.bench.suite import RunSpec

    for s in specs[:4]:  # as the Ray executor ships a spec: its flat form, read back
        back = RunSpec.from_dict(json.loads(json.dumps(s.to_dict())))
        assert back.run_id == s.run_id == back.compute_id() and back.search == s.search
    nsgan0 = next(s for s in specs if s.variant == "nsgan")
    assert nsgan0.hparams["lr_g"] == 1e-3  # trial 0 on ring8: the toy protocol's rate
    with pytest.raises(ConfigError, match="search's seed"):
        sweep_specs(parse_suite(BASE).search, expand(parse_suite(BASE), seeds=[0, 1]).specs, [])


# ---- best quality against the budget ----------------------------------------------------------------
def test_best_of_budget_matches_a_hand_count():
    # Higher is better. Every 2-subset of {0.1, 0.5, 0.3, 0.2}: best 0.2, 0.3, 0.5, 0.3, 0.5, 0.5.
    c = best_of_budget([0.1, 0.5, 0.3, 0.2], higher_better=True)
    assert list(c.budget) == [1, 2, 3, 4]
    assert c.mean == pytest.approx([0.275, 2.3 / 6, (0.3 + 3 * 0.5) / 4, 0.5])
    # b = 3: P(best <= 0.3) = C(3,3)/C(4,3) = 1/4, so the 2.5 % quantile is 0.3 and the 97.5 % one 0.5
    assert (c.lo[2], c.hi[2]) == (0.3, 0.5)
    assert (c.lo[0], c.hi[0]) == (0.1, 0.5) and (c.lo[3], c.hi[3]) == (0.5, 0.5)
    # Lower is better (a FID): subsets of {30, 10, 20} of size 2 give 10, 20, 10.
    f = best_of_budget([30.0, 10.0, 20.0], higher_better=False)
    assert f.mean == pytest.approx([20.0, 40.0 / 3, 10.0])
    assert (f.lo[1], f.hi[1]) == (10.0, 20.0)


def test_best_of_budget_is_the_mean_over_orderings():
    rng = np.random.default_rng(0)
    values = rng.normal(size=7)
    exact = best_of_budget(values, higher_better=False)
    orders = np.array(list(itertools.permutations(values)))
    running = np.minimum.accumulate(orders, axis=1)  # best of the first b, every ordering
    assert exact.mean == pytest.approx(running.mean(axis=0))
    assert exact.lo == pytest.approx(np.quantile(running, 0.025, axis=0, method="inverted_cdf"))
    assert exact.hi == pytest.approx(np.quantile(running, 0.975, axis=0, method="inverted_cdf"))
    with pytest.raises(ValueError, match="finite"):
        best_of_budget([1.0, math.nan], higher_better=True)


# ---- top k ---------------------------------------------------------------------------------------------
def test_top_k_picks_the_best_trials_once_each_and_skips_the_failed():
    t = [TrialResult(0, {}, {"lr": 1}, 0.2), TrialResult(1, {"lr": 2}, {"lr": 2}, None),
         TrialResult(2, {"lr": 3}, {"lr": 3}, 0.7), TrialResult(3, {"lr": 4}, {"lr": 4}, 0.7),
         TrialResult(4, {"lr": 3}, {"lr": 3}, 0.9)]  # trial 4 drew trial 2's setting again
    assert [x.trial for x in top_k(t, 2, lower_better=False)] == [4, 3]
    assert [x.trial for x in top_k(t, 3, lower_better=True)] == [0, 2, 3]  # a tie: the earlier trial
    assert [x.trial for x in top_k(t, 9, lower_better=False)] == [4, 3, 0]  # the failed one never


def _record(spec, value, status="ok"):
    return {"run_id": spec.run_id, "variant": spec.variant, "dataset": spec.dataset, "status": status,
            "spec": spec.to_dict(), "final": {"overlap": value}}


def test_the_re_runs_are_the_settings_the_trials_ranked_best():
    suite = parse_suite(suite_with(best=2))
    base = expand(suite).specs
    trials = sweep_specs(suite.search, base, [])
    values = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.4}
    records = [_record(s, values[s.search["trial"]]) for s in trials if s.variant != "wgan"]
    records += [_record(s, 0.9, status="diverged") if s.search["trial"] == 1 else _record(s, values[s.search["trial"]])
                for s in trials if s.variant == "wgan"]
    plan = sweep_specs(suite.search, base, records[:-1])  # wgan's last trial missing: no wgan re-run yet
    best = [s for s in plan if s.search["stage"] == BEST]
    assert {s.variant for s in best} == {"nsgan", "wgan-gp"}
    plan = sweep_specs(suite.search, base, records)
    best = [s for s in plan if s.search["stage"] == BEST]
    by_variant = {v: [(s.seed, s.search["trial"], s.search["rank"]) for s in best if s.variant == v]
                  for v in ("nsgan", "wgan-gp", "wgan")}
    assert by_variant["nsgan"] == [(1, 1, 1), (1, 3, 2), (2, 1, 1), (2, 3, 2)]
    assert by_variant["wgan"] == [(1, 3, 1), (1, 2, 2), (2, 3, 1), (2, 2, 2)]  # trial 1 diverged
    trial_hp = {(s.variant, s.search["trial"]): s.hparams for s in trials}
    for s in best:
        assert s.hparams == trial_hp[(s.variant, s.search["trial"])]
    assert len({s.run_id for s in plan}) == len(plan)
    cell = trials[0].search["cell"]
    assert [t.trial for t in trial_results(records, cell)] == [0, 1, 2, 3]


def test_a_folder_holding_another_search_is_refused():
    suite = parse_suite(BASE)
    base = expand(suite).specs
    trials = sweep_specs(suite.search, base, [])
    other = sweep_specs(parse_suite(suite_with(space={"lr": {"low": 1e-4, "high": 1e-3, "scale": "log"}})).search,
                        base, [])
    with pytest.raises(Exception, match="holds another search"):
        sweep_specs(suite.search, base, [_record(s, 0.1) for s in other])
    assert sweep_specs(suite.search, base, [_record(s, 0.1) for s in trials[:3]])  # its own trials: fine


# ---- a sweep through the bench: killed, resumed, each run once -------------------------------------------
class Interrupted(Exception):
    pass


class StopAfter:
    """The in-process executor, dying after ``n`` runs have been stored (the next one is lost)."""

    workers = 1

    def __init__(self, n):
        from ganzoo.bench.executor import LocalExecutor

        self.inner, self.n, self.done = LocalExecutor(workers=1, threads=1), n, 0

    def map(self, specs, **kw):  # called once per stage: the trials, then the re-runs
        for item in self.inner.map(specs, **kw):
            if self.done == self.n:
                raise Interrupted
            self.done += 1
            yield item


def sweep_suite(tmp_path):
    raw = copy.deepcopy(BASE)
    raw["variants"] = ["nsgan", "lsgan"]
    raw["search"]["trials"] = 3
    raw["search"]["space"] = {"lr": {"low": 1e-4, "high": 1e-2, "scale": "log"}}
    raw["search"].pop("spaces")
    return parse_suite(raw, name="sweep")


@pytest.mark.parametrize("cut", [4, 7])  # in the trials; in the re-runs of the best
def test_a_killed_sweep_resumes_with_every_run_once(tmp_path, one_torch_thread, cut):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.store import RunStore

    suite = sweep_suite(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        bench(suite, out, executor=StopAfter(cut), progress=False, report=False, log=lambda *a: None)
    assert len(RunStore(out).records()) == cut
    result = bench(suite, out, progress=False, report=False, log=lambda *a: None, workers=1)
    lines = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    ids = [r["run_id"] for r in lines]
    assert len(ids) == len(set(ids)) == 2 * 3 + 2 * 2  # 3 trials and 2 re-run seeds per variant
    assert result.ran == len(ids) - cut and result.not_launched == 0
    stages = [r["spec"]["search"]["stage"] for r in lines]
    assert stages.count(TRIAL) == 6 and stages.count(BEST) == 4
    whole = tmp_path / "whole"  # the same sweep, never interrupted: the same runs
    bench(suite, whole, progress=False, report=False, log=lambda *a: None, workers=1)
    assert sorted(ids) == sorted(r["run_id"] for r in RunStore(whole).records())
    again = bench(suite, out, progress=False, report=False, log=lambda *a: None, workers=1)
    assert again.ran == 0  # nothing left: every trial and re-run exactly once
    for v in ("nsgan", "lsgan"):  # each re-run is the setting its trials ranked best
        trials = [r for r in lines if r["variant"] == v and r["spec"]["search"]["stage"] == TRIAL]
        best = max(trials, key=lambda r: (r["final"]["overlap"], -r["spec"]["search"]["trial"]))
        reruns = [r for r in lines if r["variant"] == v and r["spec"]["search"]["stage"] == BEST]
        assert {r["spec"]["search"]["trial"] for r in reruns} == {best["spec"]["search"]["trial"]}
        assert all(r["spec"]["hparams"] == best["spec"]["hparams"] for r in reruns)
        assert sorted(r["seed"] for r in reruns) == [1, 2]


def test_the_report_shows_the_search(tmp_path, one_torch_thread):
    from ganzoo.bench.driver import bench

    out = tmp_path / "out"
    bench(sweep_suite(tmp_path), out, progress=False, log=lambda *a: None, workers=1)
    text = (out / "REPORT.md").read_text()
    assert "## Equal budget" in text and "### ring8: 3 trials × 2 variants" in text
    assert "The best settings, re-seeded" in text and "lr log-uniform [0.0001, 0.01]" in text
    assert (out / "figures" / "ring8_search_trials.png").is_file()
    assert (out / "figures" / "ring8_search_budget.png").is_file()
    assert (out / "trials.csv").is_file()
    import pandas as pd

    assert len(pd.read_csv(out / "runs.csv")) == 2 * 2  # the ordinary tables: the re-runs only
    assert len(pd.read_csv(out / "trials.csv")) == 2 * 3
    from ganzoo.bench.report import write_report

    write_report(out, figures=False)  # `ganzoo report --no-figures`: the section without its figures
    text = (out / "REPORT.md").read_text()
    assert "### ring8: 3 trials × 2 variants" in text and "search_trials.png" not in text


SWEEP_TOML = """
name = "sweep-kill"
seeds = [1, 2]
variants = ["nsgan", "lsgan"]
device = "cpu"
workers = 1
threads_per_worker = 1
[train]
steps = 20
log_every = 10
eval_every = 0
[eval]
samples = 200
final_samples = 200
sample_grid = 4
[datasets.ring8]
metric = "overlap"
options = { n = 2000 }
[search]
trials = 3
[search.space]
lr = { low = 1e-4, high = 1e-2, scale = "log" }
"""


@pytest.mark.slow
def test_a_sweep_killed_in_the_middle_of_a_write_resumes_with_every_run_once(tmp_path):
    """A real kill (SIGKILL half-way through the 8th record, a re-run of the best settings)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    suite = tmp_path / "sweep.toml"
    suite.write_text(SWEEP_TOML)
    out = tmp_path / "out"

    def bench(**env):
        import os

        full = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", **env}
        return subprocess.run([sys.executable, "-m", "ganzoo.cli", "bench", str(suite), "--out", str(out),
                               "--no-progress", "--no-report"], env=full, capture_output=True, text=True,
                              timeout=300)

    killed = bench(GANZOO_KILL_AT="store-append@8")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert (out / "runs.jsonl").read_bytes().count(b"\n") == 7  # 6 trials and 1 re-run; half a line after
    done = bench()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    ids = [r["run_id"] for r in lines]
    assert len(ids) == len(set(ids)) == 10
    assert [r["spec"]["search"]["stage"] for r in lines].count(BEST) == 4


def test_each_setting_is_drawn_once_and_a_space_too_small_for_the_budget_is_refused():
    """Two equal settings would be one run id (one record): a cell would wait for ever."""
    small = {"space": {"beta1": {"choices": [0.0, 0.5, 0.9]}, "n_critic": {"choices": [1, 5]}}, "spaces": {}}
    search = parse_suite(suite_with(**small, trials=7)).search  # trial 0 + the 6 combinations
    drawn = draw(search, "nsgan")
    assert len(drawn) == 7 and all(drawn.count(p) == 1 for p in drawn)
    with pytest.raises(SearchError, match="fewer distinct settings than trials = 8"):
        draw(parse_suite(suite_with(**small, trials=8)).search, "nsgan")
