"""`ganzoo bench --executor ray` on a local Ray cluster of 2 workers: the same runs and, on
the CPU, the same numbers per seed as the local executor; the store stays the driver's, so a
killed driver's bench resumes with every run exactly once."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is part of the dev extra; this install lacks it")

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
name = "ray-small"
seeds = [0, 1]
variants = ["nsgan", "lsgan"]
workers = 2
threads_per_worker = 1
[train]
steps = {steps}
batch_size = 32
log_every = 25
eval_every = 50
z_dim = 2
[eval]
samples = 500
final_samples = 500
sample_grid = 16
[datasets.ring8]
arch = "toy-mlp"
metric = "modes"
options = {{ n = 2000 }}
[overrides.nsgan]
hparams = {{ lr_g = 1e-3, lr_d = 1e-3 }}
[overrides.lsgan]
hparams = {{ lr_g = 1e-3, lr_d = 1e-3 }}
"""


def bench(suite: Path, out: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", "bench", str(suite), "--out", str(out),
                             "--no-progress", "--no-report", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def records(out: Path):
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


@pytest.fixture
def suite(tmp_path):
    def make(steps: int) -> Path:
        path = tmp_path / f"ray-{steps}.toml"
        path.write_text(SUITE.format(steps=steps))
        return path
    return make


def test_ray_gives_the_runs_and_numbers_of_the_local_executor(suite, tmp_path):
    path = suite(300)
    timings = {}
    for kind in ("local", "ray"):
        t = time.perf_counter()
        proc = bench(path, tmp_path / kind, "--executor", kind)
        log = proc.communicate(timeout=600)[0].decode()
        timings[kind] = time.perf_counter() - t
        assert proc.returncode == 0, log
    local = {r["run_id"]: r for r in records(tmp_path / "local")}
    ray = {r["run_id"]: r for r in records(tmp_path / "ray")}
    assert set(local) == set(ray) and len(local) == 4
    for run_id, rec in local.items():
        assert ray[run_id]["status"] == rec["status"] == "ok"
        assert ray[run_id]["final"] == rec["final"]  # modes, high-quality share, ... per seed
        untimed = [[{k: v for k, v in p.items() if k != "train_s"} for p in r["curve"]] for r in (ray[run_id], rec)]
        assert untimed[0] == untimed[1]  # the metric curve, point by point
        assert ray[run_id]["losses"] == rec["losses"]
        assert (tmp_path / "ray" / ray[run_id]["checkpoint"]).is_file()
    assert sum(r["final"]["modes"] for r in local.values()) > 0  # not a trivial agreement on zeros
    print(f"wall-clock, 4 runs of 300 steps: local {timings['local']:.1f} s, ray {timings['ray']:.1f} s")


def test_a_killed_ray_driver_resumes_with_every_run_exactly_once(suite, tmp_path):
    path, out = suite(600), tmp_path / "out"
    proc = bench(path, out, "--executor", "ray")
    runs = out / "runs.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (runs.is_file() and runs.read_text().count("\n") >= 1):
        time.sleep(0.005)  # kill at the first stored run: at least one run of 600 steps is still to do
    assert proc.poll() is None, "the bench ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and what it started with it
    proc.wait(timeout=30)
    before = runs.read_bytes()
    assert 1 <= before.count(b"\n") < 4
    again = bench(path, out, "--executor", "ray")
    log = again.communicate(timeout=600)[0].decode()
    assert again.returncode == 0, log
    after = runs.read_bytes()
    assert after.startswith(before)
    ids = [r["run_id"] for r in records(out)]
    assert len(ids) == len(set(ids)) == 4
    assert all(r["status"] == "ok" for r in records(out))


class FakeRay:
    """Records what the executor asks of Ray; a cluster of what init was given."""

    def __init__(self):
        self.init_kwargs = None

    def is_initialized(self):
        return self.init_kwargs is not None

    def init(self, **kwargs):
        self.init_kwargs = kwargs

    def cluster_resources(self):
        return {"CPU": float(self.init_kwargs["num_cpus"])}


def test_a_local_cluster_hosts_fractional_cpu_tasks_and_limits_out_of_memory_retries(monkeypatch):
    from ganzoo.bench import ray_executor

    fake = FakeRay()
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    executor = ray_executor.RayExecutor(workers=3, num_cpus=1.5)
    executor._connect()
    assert fake.init_kwargs["num_cpus"] == 5  # 4.5 CPUs rounded up, not down to 4
    assert fake.init_kwargs["_system_config"] == {"task_oom_retries": ray_executor.TASK_RETRIES}
    assert executor._slots(gpus=0.0) == 3
    one = ray_executor.RayExecutor(workers=1, num_cpus=1.5)
    one.ray = FakeRay()
    one._connect()
    assert one._slots(gpus=0.0) == 1  # truncating to 1 CPU left no slot at all
