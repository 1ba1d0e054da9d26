"""Runs logged to TensorBoard and MLflow (ganzoo.trackers), read back with each tool's own
reader; a tracker that fails never stops a run; a missing library is a clear error."""
import json
import sys

import pytest

from ganzoo import trackers
from ganzoo.cli import main

pytest.importorskip("tensorboard", reason="the trackers extra is part of the dev extra; this install lacks it")
pytest.importorskip("mlflow", reason="the trackers extra is part of the dev extra; this install lacks it")


def tensorboard_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return run.name, acc


def mlflow_runs(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(trackers.EXPERIMENT)
    return client, client.search_runs([exp.experiment_id])


def test_a_train_run_reaches_tensorboard_and_mlflow(tmp_path, capsys):
    out, tb = tmp_path / "run", tmp_path / "tb"
    code = main(["train", "nsgan", "--dataset", "ring8", "--arch", "toy-mlp", "--steps", "20",
                 "--batch-size", "32", "--log-every", "10", "--no-progress", "--out", str(out),
                 "--tensorboard", str(tb), "--mlflow"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())

    name, acc = tensorboard_events(tb)
    assert name.startswith("nsgan-ring8-seed0")
    d_loss = acc.Scalars("loss/d_loss")
    assert [e.step for e in d_loss] == list(range(1, 21))  # every step, sent at each read-back
    assert d_loss[-1].value == pytest.approx(summary["final"]["d_loss"])
    assert acc.Images("samples")[0].step == 20
    assert "protocol/text_summary" in acc.Tags()["tensors"]  # the protocol table, as text

    client, (run,) = mlflow_runs(f"sqlite:///{out / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.data.tags["ganzoo.status"] == "ok"
    assert run.data.params["variant"] == "nsgan" and float(run.data.params["hp.lr_g"]) == summary["hparams"]["lr_g"]
    history = client.get_metric_history(run.info.run_id, "loss/g_loss")
    assert sorted(m.step for m in history) == list(range(1, 21))
    assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")] == ["samples/samples.png"]


def test_bench_runs_reach_mlflow_with_their_metric_curve(tmp_path):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.store import RunStore
    from ganzoo.bench.suite import parse_suite

    suite = parse_suite({"seeds": [0, 1], "variants": ["nsgan"],
                         "train": {"steps": 40, "batch_size": 32, "log_every": 10, "eval_every": 20, "z_dim": 2},
                         "eval": {"samples": 500, "final_samples": 500},
                         "datasets": {"ring8": {"metric": "modes", "arch": "toy-mlp", "options": {"n": 1000}}}},
                        name="t")
    chosen = trackers.Trackers(trackers.backends(None, "", tmp_path))
    bench(suite, tmp_path, workers=1, report=False, progress=False, log=lambda *a: None, trackers=chosen)
    records = {r["run_id"]: r for r in RunStore(tmp_path).records()}
    client, runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert sorted(r.data.params["run_id"] for r in runs) == sorted(records)
    for run in runs:
        record = records[run.data.params["run_id"]]
        curve = client.get_metric_history(run.info.run_id, "metric/modes")
        assert [(m.step, m.value) for m in curve] == [(p["step"], p["modes"]) for p in record["curve"]]
        assert client.list_artifacts(run.info.run_id, "samples")  # the stored samples, drawn


class Broken:
    def start(self, name, params):
        pass

    def log_metrics(self, metrics, step):
        raise OSError("disk full")


def test_an_image_metric_curve_reaches_mlflow_under_a_name_it_accepts(tmp_path):
    """Image metrics are named like FID[ganzoo-mnist]; MLflow refuses brackets, and a refused
    name used to drop the tracker for the rest of the command."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    warnings = []
    chosen = trackers.Trackers([trackers.MLflowBackend(uri, tmp_path / "artifacts")], warn=warnings.append)
    curve = [{"step": s, "FID[ganzoo-mnist]": 90.0 - s, "KID[ganzoo-mnist]": 0.1, "train_s": 1.0}
             for s in (10, 20)]
    chosen.log_record({"run_id": "abc", "variant": "nsgan", "dataset": "mnist", "seed": 0, "spec": {},
                       "losses": {"step": [10, 20], "d_loss": [1.0, 0.9]}, "curve": curve,
                       "steps_done": 20, "status": "ok"})
    assert warnings == [] and chosen
    client, (run,) = mlflow_runs(uri)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "metric/FID/ganzoo-mnist")
    assert [(m.step, m.value) for m in history] == [(10, 80.0), (20, 70.0)]


def test_a_failing_tracker_is_dropped_with_a_warning_and_the_run_goes_on(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(trackers, "backends", lambda tb, ml, out: [Broken()])
    code = main(["train", "nsgan", "--dataset", "ring8", "--steps", "10", "--batch-size", "32",
                 "--log-every", "5", "--no-progress", "--out", str(tmp_path), "--mlflow"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("tracker Broken stopped: OSError: disk full") == 1
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "ok"


def test_a_missing_tracker_library_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    code = main(["train", "nsgan", "--dataset", "ring8", "--steps", "5", "--out", str(tmp_path), "--mlflow"])
    err = capsys.readouterr().err
    assert code == 2 and "mlflow is not installed: pip install 'ganzoo[trackers]'" in err
    assert "Traceback" not in err and not (tmp_path / "checkpoint.pt").exists()


def test_an_mlflow_store_that_cannot_be_opened_is_one_clear_line(tmp_path, capsys):
    code = main(["train", "nsgan", "--dataset", "ring8", "--steps", "5", "--out", str(tmp_path),
                 "--mlflow", "bogus://nowhere"])
    err = capsys.readouterr().err
    assert code == 2 and "--mlflow bogus://nowhere: cannot open the MLflow store" in err
    assert "Traceback" not in err and not (tmp_path / "checkpoint.pt").exists()


def test_a_run_that_fails_ends_its_mlflow_run_as_failed(tmp_path, capsys):
    from toy_variants import registered

    from ganzoo.variants.minimax import NonSaturating

    class RaisesAt12(NonSaturating):
        def train_step(self, ctx):
            self.steps_seen = getattr(self, "steps_seen", 0) + 1
            if self.steps_seen == 12:
                raise RuntimeError("a plugin's bug")
            return super().train_step(ctx)

    with registered(raises_at_12=RaisesAt12):
        code = main(["train", "raises-at-12", "--dataset", "ring8", "--steps", "20", "--batch-size", "32",
                     "--log-every", "5", "--no-progress", "--out", str(tmp_path), "--mlflow"])
    assert code != 0 and "a plugin's bug" in capsys.readouterr().err
    client, (run,) = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FAILED" and run.data.tags["ganzoo.status"] == "failed"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss/d_loss")) == list(range(1, 11))
