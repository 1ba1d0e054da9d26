"""Running a suite: divergence and failures are results; stability figures."""
import math

import pytest
import torch
from toy_variants import NanAfter30, registered

import ganzoo.bench.runner as runner
from ganzoo import outcome
from ganzoo.bench import stability
from ganzoo.bench.driver import bench
from ganzoo.bench.store import RunStore
from ganzoo.bench.suite import parse_suite
from ganzoo.registry import VARIANTS
from ganzoo.variants.minimax import NonSaturating


class Raises(NonSaturating):
    """Test variant: its loss raises."""

    def d_loss(self, d_real, d_fake):
        raise RuntimeError("boom from a broken variant")


@pytest.fixture
def test_variants():
    with registered(test_nan=NanAfter30, test_raise=Raises):
        yield


def fake_quality(trainer, spec, final):
    """A stand-in for the metrics: share of samples within 3σ of a ring8 mode."""
    x = trainer.sample(200)
    d = torch.cdist(x, trainer.data.modes).min(dim=1).values
    return {"hq": float((d < 3 * trainer.data.mode_std).float().mean()), "spread": float(x.std()),
            "protocol": {"extractor": "fake"}}


def test_divergence_and_failure_are_recorded_and_the_suite_goes_on(tmp_path, test_variants, monkeypatch):
    monkeypatch.setattr(runner, "evaluate_quality", fake_quality)
    s = parse_suite({"seeds": [0], "variants": ["test-nan", "test-raise", "nsgan"],
                     "train": {"steps": 60, "batch_size": 32, "log_every": 20, "eval_every": 20, "z_dim": 8},
                     "datasets": {"ring8": {"metric": "hq", "threshold": 2.0, "options": {"n": 2000}}}}, name="t")
    result = bench(s, tmp_path, workers=1, report=False, progress=False, log=lambda *a: None)
    assert result.ran == 3 and result.statuses == {"diverged": 1, "failed": 1, "ok": 1}
    recs = {r["variant"]: r for r in RunStore(tmp_path).records()}
    nan = recs["test-nan"]
    assert nan["status"] == "diverged"
    assert nan["stability"]["diverged_at"] == 31 and nan["stability"]["divergence"] == "non-finite loss"
    assert [p["step"] for p in nan["curve"]] == [20]  # evaluated before, not after, divergence
    bad = recs["test-raise"]
    assert bad["status"] == "failed"
    assert "boom from a broken variant" in bad["error"]
    assert "d_loss" in bad["traceback"] and "boom from a broken variant" in bad["traceback"]
    ok = recs["nsgan"]
    assert ok["status"] == "ok" and ok["steps_done"] == 60
    assert [p["step"] for p in ok["curve"]] == [20, 40, 60]
    assert ok["final"]["hq"] == ok["curve"][-1]["hq"]
    assert ok["protocol"]["extractor"] == "fake"
    tp = ok["throughput"]
    assert tp["img_per_s"] == pytest.approx(60 * 32 / tp["train_s"])
    assert tp["s_per_kimg"] == pytest.approx(tp["train_s"] / (60 * 32 / 1000))  # from the raw time and count
    assert ok["timing"]["train_s"] <= ok["timing"]["wall_s"]
    assert ok["stability"]["reached_threshold"] is False  # hq never reaches 2.0
    assert ok["env"]["ganzoo"] and ok["env"]["torch"] == torch.__version__
    assert RunStore(tmp_path).load_samples(ok["run_id"])["samples"].shape == (runner.POINT_SAMPLES, 2)


def test_logistic_discriminator_is_recognised_from_the_loss():
    assert outcome.logistic_discriminator(VARIANTS.get("nsgan")())
    assert outcome.logistic_discriminator(VARIANTS.get("vanilla")())
    assert not outcome.logistic_discriminator(VARIANTS.get("wgan-gp")())
    assert not outcome.logistic_discriminator(VARIANTS.get("lsgan")())


def test_saturation_must_last_to_the_end():
    n = 100
    real = [0.5] * 60 + [9.0] * 40
    fake = [-0.5] * 60 + [-9.0] * 40
    assert outcome.saturated_from(real, fake) == 60
    assert outcome.saturated_from(real[:-1] + [1.0], fake) is None  # recovered at the end
    short = [0.5] * 90 + [9.0] * 10  # saturated for only 10% of the run
    assert outcome.saturated_from(short, [-x for x in short]) is None
    assert outcome.saturated_from([9.0] * n, [2.0] * n) is None  # fake not rejected


def test_curve_summary_and_time_to_quality():
    curve = [{"step": 10, "train_s": 1.0, "fid": 50.0}, {"step": 20, "train_s": 2.0, "fid": 20.0},
             {"step": 30, "train_s": 3.0, "fid": 35.0}]
    s = stability.curve_summary(curve, "fid")
    assert (s["best"], s["best_step"], s["final"], s["fall_back"]) == (20.0, 20, 35.0, 15.0)
    assert stability.time_to_quality(curve, "fid", 30.0) == (2.0, 20)
    assert stability.time_to_quality(curve, "fid", 10.0) == (None, None)
    modes = [{"step": 10, "train_s": 1.0, "modes": 3}, {"step": 20, "train_s": 2.5, "modes": 8}]
    assert stability.curve_summary(modes, "modes")["fall_back"] == 0
    assert stability.time_to_quality(modes, "modes", 8) == (2.5, 20)


def test_oscillation_measures_the_late_rolling_std():
    calm = [1.0] * 200
    wild = [1.0] * 100 + [(-1.0) ** i for i in range(100)]
    assert stability.oscillation(calm) == 0
    assert stability.oscillation(wild) == pytest.approx(1.0, rel=0.05)


def test_missing_metric_is_a_failure_naming_what_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "evaluate_quality", fake_quality)
    s = parse_suite({"seeds": [0], "variants": ["nsgan"], "train": {"steps": 10, "batch_size": 16, "z_dim": 4},
                     "datasets": {"ring8": {"metric": "fid", "options": {"n": 500}}}}, name="t")
    bench(s, tmp_path, workers=1, report=False, progress=False, log=lambda *a: None)
    rec = RunStore(tmp_path).records()[0]
    assert rec["status"] == "failed" and "no metric 'fid'" in rec["error"] and "hq" in rec["error"]
    assert math.isfinite(rec["timing"]["wall_s"])


def test_time_budget_stops_launching_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "evaluate_quality", fake_quality)
    s = parse_suite({"seeds": [0, 1], "variants": ["nsgan"], "train": {"steps": 10, "batch_size": 16, "z_dim": 4},
                     "datasets": {"ring8": {"options": {"n": 500}}}}, name="t")
    times = [0.0, 0.0]  # the start, the first launch; then the 1-minute budget is spent
    monkeypatch.setattr("ganzoo.bench.driver.time.time", lambda: times.pop(0) if times else 1000.0)
    result = bench(s, tmp_path, workers=1, max_minutes=1, report=False, progress=False, log=lambda *a: None)
    assert result.ran == 1 and result.not_launched == 1
    assert [r["seed"] for r in RunStore(tmp_path).records()] == [0]  # seed-major: seed 0 first


@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_quick_suite_metrics_are_what_the_evaluation_produces(dataset, tmp_path):
    """A misspelt `metric` in quick.toml would fail every run of the dataset after its training."""
    from ganzoo.bench.suite import expand, load_suite
    from ganzoo.trainer import TrainConfig, Trainer

    spec = next(s for s in expand(load_suite("quick"), seeds=[0], variants=["nsgan"],
                                  datasets=[dataset]).specs)
    spec.eval_samples = 200
    trainer = Trainer("nsgan", runner.load_data(spec), arch=spec.arch,
                      config=TrainConfig(steps=2, batch_size=16, device="cpu", log_every=1))
    trainer.fit()
    out = runner.evaluate_quality(trainer, spec, final=False)
    assert spec.metric in out and isinstance(out[spec.metric], (int, float))


def test_throughput_suite_records_ms_per_step_and_mfu_and_reports_them(tmp_path):
    """A throughput-only suite: no evaluation; MFU from the flop counter over the matmul peak."""
    from ganzoo.bench.report import write_report
    from ganzoo.throughput import matmul_peak

    s = parse_suite({"seeds": [0], "variants": ["nsgan"], "quality": False,
                     "train": {"steps": 30, "batch_size": [32, 64], "log_every": 10, "z_dim": 8},
                     "datasets": {"ring8": {"options": {"n": 500}}}}, name="tp")
    result = bench(s, tmp_path, workers=1, report=False, progress=False, log=lambda *a: None)
    assert result.statuses == {"ok": 2}
    recs = sorted(RunStore(tmp_path).records(), key=lambda r: r["batch_size"])
    for rec in recs:
        tp = rec["throughput"]
        assert rec["curve"] == [] and rec["final"] == {}
        assert tp["ms_per_step"] == pytest.approx(1e3 * tp["train_s"] / 30)
        assert tp["peak_flops"] == matmul_peak("cpu", "fp32")  # the run's own device and precision
        assert 0 < tp["mfu"] < 1  # a small MLP cannot beat a large matmul
    # twice the batch: twice the FLOPs of an iteration (the nets are the same)
    assert recs[1]["throughput"]["flops_per_step"] == 2 * recs[0]["throughput"]["flops_per_step"]
    text = write_report(tmp_path).read_text()
    assert "MFU" in text and "ms/step" in text


DYING_VARIANTS = '''
import os
from pathlib import Path

from ganzoo.variants.minimax import NonSaturating


class DiesOnce(NonSaturating):
    """Kills its worker process at its first D step, the first time it runs (a marker file)."""

    def d_loss(self, d_real, d_fake):
        marker = Path(os.environ["GANZOO_TEST_MARKER"])
        if not marker.exists():
            marker.write_text("died")
            os._exit(1)
        return super().d_loss(d_real, d_fake)


class AlwaysDies(NonSaturating):
    """Kills its worker process every time."""

    def d_loss(self, d_real, d_fake):
        os._exit(1)
'''


def test_a_dead_worker_costs_one_retry_not_the_runs_beside_it(tmp_path, monkeypatch):
    """A worker killed mid-run (OOM, a crash in native code) breaks the whole pool: every
    run in flight is retried once; a run that kills its worker twice is recorded failed."""
    import json

    from test_plugins import fake_distribution, ganzoo

    site = tmp_path / "site"
    fake_distribution(site, "dying-variants",
                      "[ganzoo.variants]\ntest-dies-once = dying:DiesOnce\ntest-always-dies = dying:AlwaysDies\n",
                      {"dying": DYING_VARIANTS})
    monkeypatch.setenv("GANZOO_TEST_MARKER", str(tmp_path / "marker"))
    suite = tmp_path / "suite.toml"
    suite.write_text('seeds = [0]\nquality = false\nworkers = 2\nthreads_per_worker = 1\n'
                     '[train]\nsteps = 20\nbatch_size = 16\nlog_every = 10\nz_dim = 4\n'
                     '[datasets.ring8]\noptions = { n = 500 }\n')

    first = ganzoo("bench", str(suite), "--out", str(tmp_path / "a"), "--variants", "test-dies-once,nsgan",
                   path=[site], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "marker").exists()  # it did kill its worker once
    records = [json.loads(line) for line in (tmp_path / "a" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["variant"] for r in records) == ["nsgan", "test-dies-once"]
    assert all(r["status"] == "ok" for r in records)

    second = ganzoo("bench", str(suite), "--out", str(tmp_path / "b"), "--variants", "test-always-dies",
                    path=[site], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    [record] = [json.loads(line) for line in (tmp_path / "b" / "runs.jsonl").read_text().splitlines()]
    assert record["status"] == "failed" and "died, 2 times" in record["error"]


def _resident_mib() -> float:
    status = open("/proc/self/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_training_peak_memory_counts_training_and_leaves_out_evaluation():
    from ganzoo.memory import TrainingPeakMemory

    memory = TrainingPeakMemory(torch.device("cpu"))
    if not memory.resettable:
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    start = _resident_mib()
    during_training = torch.ones(2 ** 25)  # 128 MiB, touched
    del during_training
    memory.pause()
    during_evaluation = torch.ones(2 ** 27)  # 512 MiB
    del during_evaluation
    memory.resume()
    result = memory.result()
    assert "evaluation excluded" in result["peak_mem_kind"]
    assert start + 120 <= result["peak_mem_mib"] < start + 128 + 200
