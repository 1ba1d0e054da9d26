"""One run on 2 processes (torchrun, gloo on the CPU): the ranks end with identical
parameters, each on its own data and noise; one summary and one checkpoint are written."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]


def torchrun(out: Path, variant: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "ganzoo", "train", variant, "--dataset", "ring8", "--arch", "toy-mlp", "--steps", "12",
           "--batch-size", "32", "--log-every", "4", "--no-progress", "--device", "cpu", "--out", str(out), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


# wgan-gp: a gradient penalty; sngan: spectral norm's power iteration; began: variant state
# (k_t) and a custom step; unrolled: G's gradient through unrolled D updates.
@pytest.mark.parametrize("variant", ["nsgan", "wgan-gp", "sngan", "began", "unrolled"])
def test_two_processes_train_one_run_with_identical_parameters(tmp_path, variant):
    done = torchrun(tmp_path, variant)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    d = summary["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["global_batch"] == 64
    assert d["ranks_in_sync"] is True  # after 12 steps on different data and noise
    assert summary["status"] == "ok" and summary["steps"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "record.json", "summary.json"]
    assert done.stdout.count("wrote ") == 1  # only rank 0 reports
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 12


def _rank_main(rank: int, path: str, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=path)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from ganzoo import distributed

    net = torch.nn.Linear(3, 2)
    distributed.broadcast_modules([net])  # rank 0's weights everywhere
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    for p in net.parameters():
        p.grad = torch.full_like(p, float(rank + 1))  # rank 0: 1, rank 1: 2
    distributed.average_gradients(opt, 2)
    grads_mean = all(torch.equal(p.grad, torch.full_like(p, 1.5)) for p in net.parameters())
    same = distributed.ranks_in_sync([net])
    with torch.no_grad():
        if rank == 1:
            net.bias[0] += 1e-6
    differs = not distributed.ranks_in_sync([net])
    state = torch.tensor([float(rank)])
    distributed.average_tensors([state], 2)
    cpu = torch.device("cpu")
    first = distributed.first_divergence(7 if rank == 1 else None, cpu)  # only rank 1 saw it
    none = distributed.first_divergence(None, cpu)
    decided = distributed.rank0_decides(rank == 0, cpu)  # rank 0 says yes, rank 1 no
    results[rank] = (grads_mean, same, differs, float(state), first, none, decided)
    dist.destroy_process_group()


def test_gradients_and_state_are_averaged_and_a_drift_between_ranks_is_seen():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    results = mp.Manager().dict()
    mp.spawn(_rank_main, args=(port, results), nprocs=2, join=True)
    # averaged gradients and state; a drift is seen; every rank learns of rank 1's divergence
    # at step 7 (rank 0 then reports it); rank 0's decision (e.g. to resume) is every rank's
    assert results[0] == results[1] == (True, True, True, 0.5, 7, None, True)


def test_rank_seeds_never_collide_across_run_seeds_ranks_and_resume_steps():
    from ganzoo.distributed import rank_seed

    seeds = {rank_seed(seed, rank, step) for seed in range(5) for rank in range(8) for step in (0, 250, 500)}
    assert len(seeds) == 5 * 8 * 3
