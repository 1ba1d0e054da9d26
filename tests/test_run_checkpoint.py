"""Every bench run keeps its final G and D: a compact checkpoint, named in the run's record,
that `ganzoo sample` and `ganzoo eval` load and that refuses to resume training."""
import pytest
import torch

import ganzoo.bench.runner as runner
from ganzoo.bench.driver import bench
from ganzoo.bench.store import RunStore
from ganzoo.bench.suite import parse_suite
from ganzoo.cli import main
from ganzoo.trainer import CheckpointError, Trainer


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One short nsgan run on ring8 through `bench`, with the trainer it finished with."""
    out = tmp_path_factory.mktemp("results")
    trained = {}
    keep_samples = runner._keep_samples

    def capture(trainer, spec, store):
        trained["trainer"] = trainer
        keep_samples(trainer, spec, store)

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "_keep_samples", capture)
    try:
        s = parse_suite({"seeds": [0], "variants": ["nsgan"],
                         "train": {"steps": 40, "batch_size": 32, "log_every": 20, "eval_every": 40,
                                   "z_dim": 4},
                         "datasets": {"ring8": {"metric": "modes", "options": {"n": 1000}}}}, name="t")
        bench(s, out, workers=1, report=False, progress=False, log=lambda *a: None)
    finally:
        mp.undo()
    (record,) = RunStore(out).records()
    return out, record, trained["trainer"]


def test_the_record_names_a_checkpoint_without_optimizer_state(bench_run):
    out, record, _ = bench_run
    assert record["status"] == "ok"
    assert record["checkpoint"] == f"checkpoints/{record['run_id']}.pt"
    state = torch.load(out / record["checkpoint"], map_location="cpu", weights_only=False)
    assert {"G", "D"} <= set(state) and state["contents"] == "nets"
    assert not {"opt_g", "opt_d", "rng"} & set(state)
    assert state["step"] == 40
    assert not list((out / "checkpoints").glob("*.tmp"))  # written atomically, nothing left over


def test_the_reloaded_generator_draws_what_the_trained_one_drew(bench_run):
    out, record, trained = bench_run
    reloaded = Trainer.from_checkpoint(out / record["checkpoint"])
    assert reloaded.step == trained.step == 40
    torch.testing.assert_close(reloaded.sample(256, seed=7), trained.sample(256, seed=7))


def test_a_compact_checkpoint_refuses_to_resume_training_and_says_why(bench_run):
    out, record, _ = bench_run
    reloaded = Trainer.from_checkpoint(out / record["checkpoint"])
    with pytest.raises(CheckpointError, match="no optimizer state.*cannot resume"):
        reloaded.fit(steps=10)


def test_ganzoo_sample_and_eval_read_a_bench_checkpoint(bench_run, tmp_path, capsys):
    out, record, _ = bench_run
    png = tmp_path / "s.png"
    assert main(["sample", str(out / record["checkpoint"]), "--n", "100", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["eval", str(out / record["checkpoint"]), "--n", "500"]) == 0
    assert "modes" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(bench_run, tmp_path, capsys, command):
    out, record, _ = bench_run
    good = (out / record["checkpoint"]).read_bytes()
    files = {"garbage.pt": b"this is not a checkpoint\n", "truncated.pt": good[: len(good) // 2]}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    for name, says in (("garbage.pt", "not a readable ganzoo checkpoint"),
                       ("truncated.pt", "not a readable ganzoo checkpoint"),
                       ("other.pt", "not a ganzoo checkpoint: it lacks variant")):
        code = main([command, str(tmp_path / name)])
        err = capsys.readouterr().err
        assert code == 2 and says in err and "Traceback" not in err, (name, err)
