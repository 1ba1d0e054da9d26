"""benchmarks/gpu_check.py, the one-script GPU check, in its CPU smoke mode (issue 28).

A lent GPU's minutes must not go to a script that cannot pass: here every row runs tiny on
the CPU, through the same code (measurements, rows, targets and their ratios, the files
written after every measurement, the compile refusals), in a subprocess as on the device.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganzoo import throughput
from ganzoo.registry import VARIANTS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402

BOGUS = "no-such-variant"  # a row that fails: the others must be kept


def run_check(out: Path, *args, env=None, timeout=120):
    environ = {**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--device", "cpu", *args], env=environ,
                          capture_output=True, text=True, timeout=timeout)


def read(out: Path):
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.txt").read_text()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    names = VARIANTS.names() + [BOGUS]
    proc = run_check(out, "--variants", ",".join(names))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc, text = read(out)
    return doc, text, names


def test_smoke_run_measures_every_row_and_keeps_going_past_a_failure(smoke):
    doc, text, names = smoke
    assert doc["complete"] and doc["env"]["smoke"]
    assert [r["key"] for r in doc["rows"]] == [ref.key for ref in gpu_check.REFERENCE]
    for row in doc["rows"]:
        assert row["graph"] > 0 and row["eager"] > 0 and row["plain"] > 0, row["key"]
        assert row["title"] in text
    assert {(r["variant"], r["batch"]) for r in doc["variants"]} == {(n, b) for n in names for b in (64, 4096)}
    failed = [m for m in doc["measurements"] if "error" in m]
    assert {m["tag"] for m in failed} == {f"{BOGUS}-b64", f"{BOGUS}-b4096"}
    assert all("unknown variant" in m["error"] or BOGUS in m["error"] for m in failed)
    for r in doc["variants"]:
        assert (r["auto"] is None) == (r["variant"] == BOGUS) and r["variant"] in text
    assert set(doc["extras"]) == {"plain_tf32_b4096", "compile_b32768"}
    assert all(e["value"] > 0 for e in doc["extras"].values())


def test_reference_rows_that_were_tf32_run_at_tf32_and_say_so(smoke):
    doc, _, _ = smoke
    rows = {r["key"]: r for r in doc["rows"]}
    for key in ("mlp-b64", "wgangp-b64", "wgangp-b4096"):
        assert rows[key]["precision"] == "tf32" and "tf32" in rows[key]["title"]
    tags = {m["tag"]: m for m in doc["measurements"]}
    assert tags["mlp-b64/graph"]["precision"] == "tf32" and tags["mlp-b4096/graph"]["precision"] == "bf16"


def test_every_target_is_a_ratio_to_a_named_reference(smoke):
    doc, text, _ = smoke
    targets = {t["target"]: t for t in doc["targets"]}
    for ref in gpu_check.REFERENCE:
        t = targets[f"{ref.key} graph"]
        assert t["reference"] == f"{ref.key} ref graph" and t["ref_value"] == ref.refs["graph"]
        assert t["need"] == ref.need and t["why"] and t["ratio"] == pytest.approx(t["value"] / t["ref_value"])
        assert t["status"] == "FAIL"  # a CPU is nowhere near an H200
    mfu = targets["mlp-b32768 graph MFU"]
    assert mfu["ref_value"] == 0.42 and mfu["ratio"] == pytest.approx(mfu["value"] / 0.42)
    nsgan = targets["nsgan-b64 auto / plain"]
    assert "mlp-b64 graph / plain" in nsgan["reference"] and nsgan["need"] == 0.8
    assert nsgan["ratio"] == pytest.approx(nsgan["value"] / (125e3 / 12.4e3))
    unrolled = targets["unrolled-b64 auto / plain"]  # graph_safe = False: against its own plain loop
    assert unrolled["ref_value"] == 1.0 and "plain loop" in unrolled["reference"]
    assert targets[f"{BOGUS}-b64 auto / plain"]["status"] == "FAIL"
    assert {targets[k]["status"] for k in ("compile_b32768", "plain_tf32_b4096")} == {"info"}
    for t in doc["targets"]:
        assert t["reference"] and t["ref_value"] > 0 and t["why"], t
        assert t["status"] in {"PASS", "FAIL", "info"}, t
        assert f"[{t['status']:>7}] {t['target']}" in text
    assert "130k" not in "".join(t["reference"] for t in doc["targets"])  # the old DCGAN target is gone


def test_compile_is_marked_not_tried_where_it_cannot_work(smoke):
    doc, text, _ = smoke
    refusal = {r["variant"]: r["compile_refusal"] for r in doc["variants"] if r["batch"] == 64}
    for name in ("wgan-gp", "r1", "dragan", "unrolled"):
        assert "double backward" in refusal[name], name
    for name in ("nsgan", "vanilla", "began", "pacgan"):
        assert refusal[name] == "", name
    assert "not tried (" in text


def test_a_kill_loses_no_finished_measurement(tmp_path):
    """SIGKILL right after the 5th write: what was finished is in both files."""
    proc = run_check(tmp_path, "--variants", "nsgan", env={"GANZOO_KILL_AT": f"{gpu_check.KILL_POINT}@5"})
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc, text = read(tmp_path)
    assert not doc["complete"] and "INCOMPLETE" in text
    # writes: mlp-b64 graph, eager+plain, the row; mlp-b4096 graph, eager+plain (killed there)
    assert [m["tag"] for m in doc["measurements"]] == ["mlp-b64/graph", "mlp-b64/eager+plain",
                                                        "mlp-b4096/graph", "mlp-b4096/eager+plain"]
    first = doc["rows"][0]
    assert first["graph"] > 0 and first["plain"] > 0 and first["title"] in text
    assert not list(tmp_path.glob("*.tmp"))


def test_a_spent_budget_skips_rows_and_still_writes_every_one(tmp_path):
    proc = run_check(tmp_path, "--budget", "0", "--variants", "nsgan")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc, text = read(tmp_path)
    assert doc["complete"] and all("skipped" in m for m in doc["measurements"])
    assert len(doc["rows"]) == len(gpu_check.REFERENCE)
    assert {t["status"] for t in doc["targets"] if t["need"] is not None} == {"not run"}


# ---- the data and the MFU of one measurement ------------------------------------------
def test_the_largest_batch_rows_get_a_dataset_that_holds_a_batch():
    """Synthetic 784-pixel data used to stop at 16,384 samples: batch 32768 was a ConfigError."""
    for ref in gpu_check.REFERENCE:
        assert throughput.synthetic_samples(ref.shape, ref.batch) >= ref.batch, ref.key
    big = max(gpu_check.REFERENCE, key=lambda ref: ref.batch)
    assert big.batch == 32768
    trainer = throughput.make_trainer(big.variant, big.arch, big.shape, batch=big.batch, precision="fp32",
                                      perf="eager", device="cpu")
    assert len(trainer.data) >= 32768 and trainer.config.batch_size == 32768
    assert throughput.synthetic_samples("1x28x28") == 16384  # without a batch: as before


def test_a_flop_counter_failure_costs_the_mfu_not_the_measurement(monkeypatch):
    def broken(trainer):
        raise RuntimeError("FlopCounterMode changed")

    monkeypatch.setattr(throughput, "flops_per_step", broken)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = throughput.measure_throughput("nsgan", data="2", batch=16, steps=2, warmup=1, device="cpu")
    finally:
        torch.set_num_threads(before)
    assert r["img_per_s"] > 0 and r["mfu"] is None and r["flops_per_step"] is None
    assert "FlopCounterMode changed" in r["flops_error"] and any("no MFU" in n for n in r["notices"])


def test_a_row_without_mfu_reads_no_mfu_not_a_failed_rate():
    row = {"key": "mlp-b32768", "graph": 9e6, "mfu": None, "graph_ran": True}
    by_name = {t["target"]: t for t in gpu_check.targets([row], [], {})}
    assert by_name["mlp-b32768 graph MFU"]["status"] == "no MFU"
    assert by_name["mlp-b32768 graph"]["status"] == "PASS" and by_name["mlp-b32768 graph"]["ratio"] > 0.9
    assert by_name["mlp-b64 graph"]["status"] == "not run"
