"""The public command line, run in-process through ganzoo.cli.main."""
import json

from ganzoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_registry_with_descriptions(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for header in ("Variants:", "Architectures:", "Datasets:"):
        assert header in out
    assert "vanilla" in out and "Goodfellow" in out and "nsgan" in out
    assert "mlp" in out and "ring8" in out and "digits" in out


def test_train_writes_checkpoint_and_summary_then_samples(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "nsgan", "--dataset", "ring8", "--steps", "30",
                         "--batch-size", "32", "--seed", "2", "--out", str(out_dir), "--no-progress",
                         "--device", "cpu")
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    for key in ("variant", "dataset", "arch", "seed", "steps", "batch_size", "status", "wall_s", "img_per_s"):
        assert key in summary
    assert (summary["variant"], summary["dataset"], summary["arch"], summary["seed"]) == ("nsgan", "ring8", "toy-mlp", 2)  # ring8's protocol
    assert summary["steps"] == 30 and summary["status"] == "ok" and summary["img_per_s"] > 0
    png = tmp_path / "s.png"
    code, _, err = run(capsys, "sample", str(out_dir / "checkpoint.pt"), "--n", "16", "--out", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_images_from_digits_and_sample_grid(capsys, tmp_path):
    code, _, err = run(capsys, "train", "vanilla", "--dataset", "digits", "--steps", "5",
                       "--out", str(tmp_path), "--no-progress", "--device", "cpu")
    assert code == 0, err
    code, _, err = run(capsys, "sample", str(tmp_path / "checkpoint.pt"), "--n", "9", "--out", str(tmp_path / "g.png"))
    assert code == 0, err
    assert (tmp_path / "g.png").stat().st_size > 0


def test_resume_flag_continues_to_more_steps(capsys, tmp_path):
    args = ["train", "nsgan", "--dataset", "ring8", "--out", str(tmp_path), "--no-progress", "--device", "cpu"]
    assert run(capsys, *args, "--steps", "10")[0] == 0
    code, out, _ = run(capsys, *args, "--steps", "25", "--resume")
    assert code == 0 and "resuming" in out and "at step 10" in out
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 25


