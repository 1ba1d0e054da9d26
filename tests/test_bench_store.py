"""The run store: durable appends, torn lines, resume after a kill."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ganzoo.bench.store import RunStore, read_lines

ROOT = Path(__file__).resolve().parents[1]


def test_append_and_read_back(tmp_path):
    store = RunStore(tmp_path)
    store.append({"run_id": "a", "status": "ok", "x": float("nan")})
    store.append({"run_id": "b", "status": "failed"})
    store.append({"run_id": "b", "status": "ok"})  # a retried run: the last record wins
    assert [r["run_id"] for r in store.records()] == ["a", "b", "b"]
    assert store.records()[0]["x"] is None  # JSON has no NaN
    assert store.finished() == {"a": "ok", "b": "ok"}
    with pytest.raises(ValueError, match="run_id"):
        store.append({"status": "ok"})


def test_failed_runs_can_be_left_out_for_a_retry(tmp_path):
    store = RunStore(tmp_path)
    store.append({"run_id": "a", "status": "ok"})
    store.append({"run_id": "b", "status": "failed"})
    assert store.finished(include_failed=False) == {"a": "ok"}


def test_a_torn_last_line_is_ignored_then_trimmed(tmp_path):
    store = RunStore(tmp_path)
    store.append({"run_id": "a", "status": "ok"})
    good = store.path.read_bytes()
    with open(store.path, "ab") as f:
        f.write(b'{"run_id": "b", "sta')  # a crash in the middle of a write
    with pytest.warns(RuntimeWarning, match="partly written"):
        assert [r["run_id"] for r in store.records()] == ["a"]
    with pytest.warns(RuntimeWarning, match="dropping a partly written last line"):
        store.append({"run_id": "c", "status": "ok"})
    data = store.path.read_bytes()
    assert data.startswith(good) and data.count(b"\n") == 2
    assert [r["run_id"] for r in store.records()] == ["a", "c"]


def test_concurrent_writers_do_not_interleave(tmp_path):
    path = tmp_path / "runs.jsonl"
    code = textwrap.dedent(f"""
        import sys
        from ganzoo.bench.store import append_line
        for i in range(100):
            append_line(__import__("pathlib").Path({str(path)!r}), '{{"w": ' + sys.argv[1] + ', "i": ' + str(i) + ', "pad": "' + 'x' * 5000 + '"}}')
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(w)]) for w in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = read_lines(path)
    assert len(lines) == 200
    for w in range(2):
        assert [r["i"] for r in lines if r["w"] == w] == list(range(100))


SUITE = """
name = "kill-test"
seeds = [0, 1, 2]
variants = ["nsgan", "lsgan"]
quality = false
workers = 1
threads_per_worker = 1
[train]
steps = 150
batch_size = 32
log_every = 50
z_dim = 8
[datasets.ring8]
options = { n = 2000 }
"""


def _bench(suite, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", "bench", str(suite), "--out", str(out),
                             "--no-progress", "--no-report"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_killed_benchmark_resumes_with_every_run_exactly_once(tmp_path):
    suite = tmp_path / "kill.toml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    runs = out / "runs.jsonl"
    proc = _bench(suite, out)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if runs.is_file() and runs.read_bytes().count(b"\n") >= 1:
            break  # a moment defined by progress: 5 runs remain, whatever the machine's speed
        time.sleep(0.005)
    assert proc.poll() is None, "the benchmark ended before it could be killed:\n" + proc.stdout.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # mid-suite: the next run is in flight
    proc.wait(timeout=30)
    before = runs.read_bytes()
    n_before = before.count(b"\n")
    assert 1 <= n_before < 6

    proc = _bench(suite, out)
    log = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, log
    assert f"{n_before} already in" in log
    after = runs.read_bytes()
    assert after.startswith(before)  # finished runs untouched, byte for byte
    ids = [json.loads(line)["run_id"] for line in after.splitlines()]
    assert len(ids) == 6 and len(set(ids)) == 6  # every run exactly once

    proc = _bench(suite, out)  # nothing left to do
    log = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0 and "6 already in" in log and "0 to run" in log
    assert runs.read_bytes() == after


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_the_workers_with_the_benchmark(tmp_path):
    """`kill PID` (SIGTERM) of `ganzoo bench` ends its worker processes too: before, they were
    left training as orphans whose results nobody would store."""
    suite = tmp_path / "term.toml"
    suite.write_text(SUITE.replace("workers = 1", "workers = 2")
                     .replace("steps = 150", "steps = 200000\ncheckpoint_every = 50"))
    proc = _bench(suite, tmp_path / "out")
    workers = []
    try:
        _terminate_and_check(proc, workers, tmp_path / "out" / "partial")
    finally:  # a failing check leaves nothing running behind it
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _terminate_and_check(proc, workers, partial):
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(workers) < 2:
        workers[:] = [p for p in _children(proc.pid) if "spawn_main" in open(f"/proc/{p}/cmdline").read()]
        time.sleep(0.2)
    assert len(workers) == 2, "the workers did not start:\n" + (proc.stdout.read().decode() if proc.poll() is not None else "")
    while time.time() < deadline and proc.poll() is None and len(list(partial.glob("*.pt"))) < 2:
        time.sleep(0.05)  # until both write checkpoints: training, their set-up done, on a machine of any speed
    assert len(list(partial.glob("*.pt"))) == 2, "the runs did not start training"
    os.kill(proc.pid, signal.SIGTERM)  # the parent alone, as `kill PID` does
    log = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130 and "interrupted" in log, log
    deadline = time.time() + 10
    while time.time() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    assert not any(map(_alive, workers))
