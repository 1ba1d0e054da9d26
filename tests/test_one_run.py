"""One run, one protocol per dataset, one status (issue #27).

- ``ganzoo train`` and ``ganzoo bench`` go through one run function
  (:func:`ganzoo.bench.runner.train_run`) and write equal records for the same settings;
- a dataset's protocol (ganzoo.protocols) is what both use unless told otherwise;
- :func:`ganzoo.outcome.run_status` alone decides a run's status.
"""
import json
import math
from pathlib import Path

import pytest

from ganzoo import outcome
from ganzoo.bench.suite import RunSpec, SuiteError, expand, load_suite, parse_suite
from ganzoo.cli import main
from ganzoo.trainer import History

ROOT = Path(__file__).resolve().parents[1]

# What differs between two runs of one spec: when and how fast they ran, and where.
TIMES = ("timing", "env", "throughput", "checkpoint")


def comparable(record):
    out = {k: v for k, v in record.items() if k not in TIMES and k != "suite"}
    out["spec"] = {k: v for k, v in record["spec"].items() if k not in ("suite", "checkpoint_every")}
    out["curve"] = [{k: v for k, v in p.items() if k != "train_s"} for p in record["curve"]]
    out["stability"] = {k: v for k, v in record["stability"].items() if k != "time_to_quality_s"}
    out["protocol"] = {k: v for k, v in record["protocol"].items() if k != "eval_s"}
    return out


def test_train_and_bench_write_equal_records_for_the_same_settings(tmp_path, capsys):
    suite = tmp_path / "one.toml"
    suite.write_text('name = "one"\nseeds = [1]\nvariants = ["nsgan"]\n'
                     '[train]\nsteps = 40\nlog_every = 10\n[eval]\nfinal_samples = 500\n'
                     '[datasets.ring8]\n')
    assert main(["bench", str(suite), "--out", str(tmp_path / "bench"), "--device", "cpu"]) == 0
    assert main(["train", "nsgan", "--dataset", "ring8", "--steps", "40", "--seed", "1", "--perf", "eager",
                 "--log-every", "10", "--eval", "--eval-samples", "500", "--device", "cpu",
                 "--out", str(tmp_path / "train"), "--no-progress"]) == 0
    capsys.readouterr()
    (bench,) = [json.loads(line) for line in (tmp_path / "bench" / "runs.jsonl").open()]
    train = json.loads((tmp_path / "train" / "record.json").read_text())
    assert train["run_id"] == bench["run_id"] == RunSpec.from_dict(train["spec"]).compute_id()
    assert bench["status"] == "ok" and bench["final"]["modes"] >= 0
    assert comparable(train) == comparable(bench)
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())
    assert summary["run_id"] == train["run_id"] and summary["metrics"] == train["final"]
    assert summary["img_per_s"] == pytest.approx(train["throughput"]["img_per_s"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_readme_first_example_covers_six_of_eight_modes(seed, tmp_path, capsys):
    """`ganzoo train nsgan --dataset ring8 --steps 2000` (the README's first example) under
    ring8's protocol: at least 6 of the 8 modes hold more samples within 3σ than a uniform
    cloud would leave there (about 5 s a seed here)."""
    assert main(["train", "nsgan", "--dataset", "ring8", "--steps", "2000", "--seed", str(seed),
                 "--eval", "--eval-samples", "2500", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "protocol: toy-2d (toy-mlp, z 2, batch 256" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["arch"] == "toy-mlp" and summary["hparams"]["lr_g"] == 1e-3
    assert summary["metrics"]["covered_modes"] >= 6, summary["metrics"]


def test_the_protocol_yields_to_what_a_suite_or_command_line_sets(tmp_path, capsys):
    def spec(**tables):
        raw = {"seeds": [0], "variants": ["nsgan", "wgan-gp", "began"], **tables}
        raw.setdefault("datasets", {"ring8": {}})
        return {s.variant: s for s in expand(parse_suite(raw, name="t"), device="cpu").specs}

    plain = spec()
    assert (plain["nsgan"].arch, plain["nsgan"].z_dim, plain["nsgan"].batch_size) == ("toy-mlp", 2, 256)
    assert plain["nsgan"].hparams["lr_g"] == 1e-3 and plain["wgan-gp"].hparams["lr_g"] == 1e-4  # its paper's
    assert plain["began"].hparams["h_dim"] == 1
    assert spec(train={"batch_size": 64})["nsgan"].batch_size == 64  # the suite's [train] over the protocol
    table = spec(train={"batch_size": 64}, datasets={"ring8": {"batch_size": 128, "arch": "mlp"}})["nsgan"]
    assert (table.batch_size, table.arch) == (128, "mlp")
    paper = spec(datasets={"ring8": {"learning_rates": "paper"}})
    assert paper["nsgan"].hparams["lr_g"] == 2e-4 and paper["began"].hparams["h_dim"] == 1
    over = spec(overrides={"nsgan": {"hparams": {"lr_g": 5e-4}}})["nsgan"]
    assert over.hparams["lr_g"] == 5e-4 and over.hparams["lr_d"] == 1e-3
    digits = spec(datasets={"digits": {}})["nsgan"]  # no protocol of its own: the generic one
    assert (digits.arch, digits.z_dim, digits.batch_size, digits.hparams["lr_g"]) == ("mlp", 100, 64, 2e-4)
    with pytest.raises(SuiteError, match="learning_rates.*protocol, paper"):
        spec(datasets={"ring8": {"learning_rates": "fast"}})
    # and on the command line: an explicit flag wins over ring8's protocol
    assert main(["train", "nsgan", "--dataset", "ring8", "--steps", "5", "--batch-size", "32", "--z-dim", "4",
                 "--arch", "mlp", "--hp", "lr_g=3e-4", "--out", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    record = json.loads((tmp_path / "record.json").read_text())["spec"]
    assert (record["batch_size"], record["z_dim"], record["arch"]) == (32, 4, "mlp")
    assert (record["hparams"]["lr_g"], record["hparams"]["lr_d"]) == (3e-4, 1e-3)


@pytest.mark.parametrize("folder, suite", [("example-mode-collapse", "mode-collapse"),
                                           ("example-mode-collapse-25k", "mode-collapse")])
def test_the_other_examples_keep_their_run_ids(folder, suite):
    """Stored runs of the mode-collapse examples are in today's plan of their suite (with the
    steps and seeds they ran), so the protocol moved no run id (example-quick: see
    test_variant_contract)."""
    lines = [json.loads(line) for line in (ROOT / "results" / folder / "runs.jsonl").open()]
    steps = {r["spec"]["steps"] for r in lines}
    assert len(steps) == 1
    plan = expand(load_suite(suite, device="cpu"), steps=steps.pop(), device="cpu",
                  seeds=sorted({r["seed"] for r in lines}))
    planned = {s.run_id for s in plan.specs}
    missing = [(r["variant"], r["dataset"], r["seed"]) for r in lines if r["run_id"] not in planned]
    assert not missing, f"stored runs whose settings the plan no longer gives: {missing}"


# ---- one status --------------------------------------------------------------------------
def history(n=40, **values):
    h = History(keys=list(values), values={k: list(v) for k, v in values.items()})
    h.log_steps = list(range(10, n + 1, 10))
    return h


SATURATED = dict(d_real=[0.0] * 20 + [9.0] * 20, d_fake=[0.0] * 20 + [-9.0] * 20)


@pytest.mark.parametrize("make, kw, want", [
    (lambda: history(d_loss=[1.0] * 40), {}, ("ok", None, None)),
    (lambda: history(d_loss=[1.0] * 40), {"finished": False}, ("running", None, None)),
    (lambda: history(d_loss=[1.0] * 40), {"error": RuntimeError("boom")}, ("failed", None, "RuntimeError: boom")),
    (lambda: _diverged_at(history(d_loss=[1.0] * 30 + [math.nan] * 10), 31), {"finished": False},
     ("diverged", 31, "non-finite loss")),
    (lambda: history(**SATURATED), {"logistic": True}, ("diverged", 21, "D saturated")),
    (lambda: history(**SATURATED), {"logistic": False}, ("ok", None, None)),  # a critic's outputs may be large
    (lambda: _evaluated(history(d_loss=[1.0] * 40), math.nan), {"metric": "fid"}, ("diverged", 40, "non-finite metric")),
    (lambda: _evaluated(history(d_loss=[1.0] * 40), 12.5), {"metric": "fid"}, ("ok", None, None)),
])
def test_run_status_decides_ok_running_failed_and_each_divergence(make, kw, want):
    got = outcome.run_status(make(), **kw)
    assert (got.status, got.at, got.reason) == want


def _diverged_at(h, step):
    h.diverged_at = step
    return h


def _evaluated(h, value):
    h.evals = [{"step": 40, "train_s": 1.0, "fid": value}]
    return h


def test_the_trainer_and_the_record_take_their_status_from_run_status(tmp_path, capsys):
    from toy_variants import NanAfter30, registered

    with registered(test_nan=NanAfter30):
        code = main(["train", "test-nan", "--dataset", "ring8", "--steps", "60", "--log-every", "10",
                     "--out", str(tmp_path), "--no-progress"])
        out = capsys.readouterr().out
    assert code == 0 and "diverged at step 31 (non-finite loss)" in out
    record = json.loads((tmp_path / "record.json").read_text())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert record["status"] == summary["status"] == "diverged"
    assert record["stability"]["diverged_at"] == summary["diverged_at"] == 31
    import torch

    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["history"]
    assert kept["status"] == "diverged" and kept["diverged_at"] == 31  # the checkpoint says so too


def test_an_evaluation_that_cannot_run_fails_before_training_not_after(tmp_path, capsys, monkeypatch):
    """`ganzoo train --eval` on images with no feature space: the one-line error comes first,
    not after the whole run has trained (and lost its checkpoint)."""
    import ganzoo.metrics.extractors as extractors

    monkeypatch.setattr(extractors, "extractor_for", lambda dataset: None)  # as for a folder of images
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    code = main(["train", "nsgan", "--dataset", "digits", "--steps", "5", "--eval", "--out", str(tmp_path),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no offline feature extractor" in err
    assert not (tmp_path / "checkpoint.pt").exists()
