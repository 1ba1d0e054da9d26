"""Faults caused for real: `ganzoo bench` killed with SIGKILL at random moments and in the
middle of each kind of write, two benches on one folder, a read-only folder, a full disk,
a run that hangs. After each, the store holds every run exactly once, the lines written
before are byte-identical, and no half-written file is left. docs/reliability.md lists
these faults with what ganzoo does; keep the two in step."""
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_plugins import fake_distribution

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
name = "faults"
seeds = [0, 1]
variants = ["nsgan", "lsgan"]
quality = false
workers = 1
threads_per_worker = 1
[train]
steps = 300
batch_size = 32
log_every = 50
z_dim = 8
checkpoint_every = 100
[datasets.ring8]
arch = "toy-mlp"
options = { n = 2000 }
"""
N_RUNS = 4


def bench(suite: Path, out: Path, *extra, env=None, preexec=None) -> subprocess.Popen:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", "bench", str(suite), "--out", str(out),
                             "--no-progress", "--no-report", *extra], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    log = proc.communicate(timeout=timeout)[0].decode()
    return log


@pytest.fixture
def suite(tmp_path) -> Path:
    path = tmp_path / "faults.toml"
    path.write_text(SUITE)
    return path


def complete_lines(data: bytes) -> bytes:
    """The part of a store that finished runs wrote (a torn tail left out)."""
    return data[: data.rfind(b"\n") + 1]


def check_store(out: Path, before: bytes, n_runs: int = N_RUNS, skip: int = 0) -> None:
    """Every run exactly once, the earlier complete lines untouched, nothing half-written.
    ``skip``: records at the start that are not runs of the suite (test padding)."""
    after = (out / "runs.jsonl").read_bytes()
    assert after.startswith(complete_lines(before)), "a line written before the fault changed"
    assert after.endswith(b"\n")
    ids = [json.loads(line)["run_id"] for line in after.splitlines()][skip:]
    assert len(ids) == n_runs and len(set(ids)) == n_runs, ids
    assert not list(out.rglob("*.tmp")), "a half-written temporary file was left behind"
    for rec in map(json.loads, after.splitlines()[skip:]):
        assert not (out / "partial" / f"{rec['run_id']}.pt").exists(), "a stored run kept its partial checkpoint"
        assert rec["status"] == "ok", rec.get("error")
        assert (out / rec["checkpoint"]).is_file()


# ---- kills -------------------------------------------------------------------------
# Checkpoint writes per run: partials at steps 100 and 200, then the compact one; the 5th is
# the second run's partial at step 200, so that run must resume from step 100.
@pytest.mark.parametrize("point, nth", [("store-append", 2), ("checkpoint-write", 5), ("samples-write", 2)])
def test_a_kill_in_the_middle_of_a_write_loses_nothing_already_written(suite, tmp_path, point, nth):
    out = tmp_path / "out"
    proc = bench(suite, out, env={"GANZOO_KILL_AT": f"{point}@{nth}"})
    log = finish(proc)
    assert proc.returncode == -signal.SIGKILL, log  # it died at the injected moment, half-way
    before = (out / "runs.jsonl").read_bytes()
    if point == "store-append":
        assert not before.endswith(b"\n") and before.count(b"\n") == nth - 1  # half a line on disk
    else:
        assert list(out.rglob("*.tmp")), "the kill should have left a half-written temporary file"

    proc = bench(suite, out)
    log = finish(proc)
    assert proc.returncode == 0, log
    check_store(out, before)
    if point == "checkpoint-write":
        resumed = [r.get("resumed_from_step") for r in map(json.loads, (out / "runs.jsonl").read_text().splitlines())]
        assert resumed == [None, 100, None, None]


def progress_marks(out: Path) -> set:
    """What a bench has written so far, as marks that only grow: each stored line, and each
    partial-checkpoint write (a new file or a replaced one: atomic writes change the inode)."""
    marks = set()
    runs = out / "runs.jsonl"
    if runs.is_file():
        marks |= {("line", i) for i in range(runs.read_bytes().count(b"\n"))}
    for path in (out / "partial").glob("*.pt") if (out / "partial").is_dir() else []:
        try:
            st = path.stat()
        except FileNotFoundError:  # renamed or removed between the listing and the stat
            continue
        marks.add(("partial", path.name, st.st_ino, st.st_mtime_ns))
    return marks


def kill_after_progress(proc: subprocess.Popen, out: Path, seen: set, events: int, fraction: float,
                        timeout: float = 300) -> bool:
    """SIGKILL the bench's process group once it has made ``events`` new marks of progress
    (stored lines or partial checkpoints), ``fraction`` of the last gap between two marks later.
    The moment is defined by the bench's own progress, so it lands mid-suite on a machine of
    any speed. False when the bench finished first."""
    stamps = []
    deadline = time.monotonic() + timeout
    while len(stamps) < events:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the bench made no progress"
        new = progress_marks(out) - seen
        if new:
            seen |= new
            stamps.append(time.monotonic())
        time.sleep(0.002)
    if len(stamps) >= 2:
        time.sleep(fraction * (stamps[-1] - stamps[-2]))  # a random moment within the next step of work
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    return True


def test_sigkill_at_random_moments_then_every_run_exactly_once(tmp_path):
    suite = tmp_path / "longer.toml"
    suite.write_text(SUITE.replace("steps = 300", "steps = 1000"))  # 9 partials and 1 line a run: 40 marks
    out = tmp_path / "out"
    runs = out / "runs.jsonl"
    rng = random.Random(13)  # the moments are random but the same on every run of this test
    before, kills, seen = b"", 0, set()
    for events, fraction in [(rng.randint(1, 5), rng.random()) for _ in range(4)]:  # 4 kills need <= 20 marks
        proc = bench(suite, out)
        if not kill_after_progress(proc, out, seen, events, fraction):
            break
        kills += 1
        proc.wait(timeout=30)
        now = runs.read_bytes() if runs.is_file() else b""
        assert now.startswith(complete_lines(before)), f"lines changed after a kill after {events} marks"
        before = now
    assert kills == 4, "the suite ended before it was killed four times"
    proc = bench(suite, out)
    log = finish(proc)
    assert proc.returncode == 0, log
    check_store(out, before)


def test_a_run_killed_mid_training_resumes_from_its_checkpoint_exactly(tmp_path):
    suite = tmp_path / "one.toml"
    suite.write_text(SUITE.replace("seeds = [0, 1]", "seeds = [0]").replace('["nsgan", "lsgan"]', '["nsgan"]')
                     .replace("steps = 300", "steps = 2500").replace("checkpoint_every = 100",
                                                                    "checkpoint_every = 500"))
    out = tmp_path / "killed"
    proc = bench(suite, out)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list((out / "partial").glob("*.pt")):
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed:\n" + finish(proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "runs.jsonl").exists() or not (out / "runs.jsonl").read_bytes()

    proc = bench(suite, out)
    assert proc.wait(timeout=300) == 0, finish(proc)
    [resumed] = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert resumed["resumed_from_step"] >= 500 and resumed["resumed_from_step"] % 500 == 0

    proc = bench(suite, tmp_path / "whole")  # the same run, never interrupted
    assert proc.wait(timeout=300) == 0, finish(proc)
    [whole] = [json.loads(line) for line in (tmp_path / "whole" / "runs.jsonl").read_text().splitlines()]
    assert "resumed_from_step" not in whole and whole["run_id"] == resumed["run_id"]
    assert resumed["losses"] == whole["losses"] and resumed["steps_done"] == whole["steps_done"] == 2500
    g_resumed = torch.load(out / resumed["checkpoint"], weights_only=False)["G"]
    g_whole = torch.load(tmp_path / "whole" / whole["checkpoint"], weights_only=False)["G"]
    assert all(torch.equal(g_resumed[k], g_whole[k]) for k in g_whole)


def test_sigkill_of_the_bench_alone_takes_its_workers_with_it(tmp_path):
    """SIGKILL cannot be caught, so the bench cannot stop its workers itself: they ask the
    kernel to kill them when their parent dies."""
    from test_bench_store import _alive, _children

    suite = tmp_path / "two.toml"
    suite.write_text(SUITE.replace("workers = 1", "workers = 2").replace("steps = 300", "steps = 200000"))
    proc = bench(suite, tmp_path / "out")
    workers = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and len(workers) < 2:
            workers = [p for p in _children(proc.pid) if "spawn_main" in open(f"/proc/{p}/cmdline").read()]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers did not start"
        while time.time() < deadline and len(list((tmp_path / "out" / "partial").glob("*.pt"))) < 2:
            time.sleep(0.1)  # until both write checkpoints: training, their set-up done
        assert len(list((tmp_path / "out" / "partial").glob("*.pt"))) == 2, "the runs did not start"
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone, not its group
        proc.wait(timeout=30)
        deadline = time.time() + 10
        while time.time() < deadline and any(map(_alive, workers)):
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "a worker went on training after its bench died"
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---- two benches on one folder -------------------------------------------------------
def test_a_second_bench_on_the_same_folder_refuses_and_names_the_holder(suite, tmp_path):
    long_suite = tmp_path / "long.toml"
    long_suite.write_text(SUITE.replace("steps = 300", "steps = 200000"))
    out = tmp_path / "out"
    first = bench(long_suite, out)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None:
            lock = out / "bench.lock"
            if lock.is_file() and lock.read_text().strip():
                break
            time.sleep(0.05)
        assert first.poll() is None, finish(first)
        t = time.time()
        second = bench(suite, out)
        log = finish(second, timeout=120)
        assert second.returncode == 2, log
        assert f"PID {first.pid}" in log and "started" in log and "long.toml" in log, log
        assert "Traceback" not in log
        assert time.time() - t < 60  # at once, not after training
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the holder dies without unlocking
        first.wait(timeout=30)
    third = bench(suite, out)  # a dead holder does not keep the folder
    log = finish(third)
    assert third.returncode == 0, log
    check_store(out, b"")


# ---- writes that fail --------------------------------------------------------------
def _read_only(path: Path):
    """Make ``path`` read-only for real: a read-only bind mount as root, else every file and
    folder in it chmod'ed read-only."""
    if os.geteuid() != 0:
        items = [path, *path.rglob("*")]
        modes = {p: p.stat().st_mode for p in items}
        for p in items:
            os.chmod(p, modes[p] & ~0o222)
        return lambda: [os.chmod(p, m) for p, m in modes.items()]
    ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0
    if ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["umount", str(path)], check=True)
    if ok:
        subprocess.run(["umount", str(path)])
    pytest.skip("running as root without the right to mount: a read-only folder cannot be made here")


def test_a_read_only_results_folder_is_a_clear_error_and_the_results_stay(suite, tmp_path):
    out = tmp_path / "out"
    proc = bench(suite, out, "--seeds", "0")
    assert proc.wait(timeout=300) == 0, finish(proc)
    before = (out / "runs.jsonl").read_bytes()
    restore = _read_only(out)
    try:
        proc = bench(suite, out)  # seed 1 is new work
        log = finish(proc)
    finally:
        restore()
    assert proc.returncode == 2, log
    assert "cannot write" in log and ("Read-only file system" in log or "Permission denied" in log), log
    assert "intact" in log and "Traceback" not in log
    assert (out / "runs.jsonl").read_bytes() == before


def _file_size_limit(limit: int):
    """In the child: no file may grow past ``limit`` bytes; writes past it fail (EFBIG), as
    on a full disk (Python ignores SIGXFSZ, so the write fails instead of killing it)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_disk_full_during_a_run_stops_the_bench_without_storing_a_failure(suite, tmp_path):
    out = tmp_path / "out"
    proc = bench(suite, out, "--seeds", "0")
    assert proc.wait(timeout=300) == 0, finish(proc)
    before = (out / "runs.jsonl").read_bytes()
    proc = bench(suite, out, preexec=_file_size_limit(50_000))  # a checkpoint (~0.4 MB) cannot be written
    log = finish(proc)
    assert proc.returncode == 2, log
    assert "cannot write a run's checkpoint or samples" in log and "intact" in log and "Traceback" not in log, log
    assert (out / "runs.jsonl").read_bytes() == before  # not stored as a failed run, to be skipped later

    proc = bench(suite, out)
    assert proc.wait(timeout=300) == 0, finish(proc)
    check_store(out, before)


def test_a_disk_full_part_way_through_a_record_leaves_no_half_line(suite, tmp_path):
    from ganzoo.bench.store import RunStore

    out = tmp_path / "out"
    RunStore(out).append({"run_id": "padding", "status": "note", "pad": "x" * 2_000_000})  # a store larger
    runs = out / "runs.jsonl"  # than any checkpoint, so that the record is the first write to fail
    before = runs.read_bytes()
    proc = bench(suite, out, preexec=_file_size_limit(len(before) + 200))
    log = finish(proc)
    assert proc.returncode == 2, log
    assert "cannot write a record" in log and "intact" in log and "Traceback" not in log, log
    assert "File too large" in log or "no space left" in log, log
    assert runs.read_bytes() == before  # the failed append was cut back: no half line

    proc = bench(suite, out)  # space again: the same command finishes the suite
    assert proc.wait(timeout=300) == 0, finish(proc)
    check_store(out, before, skip=1)


# ---- a run that hangs ----------------------------------------------------------------
HANGS = '''
import time
from ganzoo.variants.minimax import NonSaturating


class Hangs(NonSaturating):
    """Test variant: its discriminator loss never returns."""

    def d_loss(self, d_real, d_fake):
        time.sleep(3600)
'''


def test_a_run_that_hangs_is_ended_by_the_time_limit_and_the_suite_goes_on(tmp_path):
    site = tmp_path / "site"
    fake_distribution(site, "hanging-variants", "[ganzoo.variants]\ntest-hangs = hangs:Hangs\n",
                      {"hangs": HANGS})
    suite = tmp_path / "hang.toml"
    suite.write_text(SUITE.replace("seeds = [0, 1]", "seeds = [0]")
                     .replace('variants = ["nsgan", "lsgan"]', 'variants = ["test-hangs", "nsgan"]')
                     .replace("quality = false", "quality = false\nrun_timeout_minutes = 0.25"))
    out = tmp_path / "out"
    t = time.time()
    proc = bench(suite, out, env={"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])})
    log = finish(proc)
    assert proc.returncode == 0, log
    recs = {r["variant"]: r for r in map(json.loads, (out / "runs.jsonl").read_text().splitlines())}
    assert recs["test-hangs"]["status"] == "failed" and recs["test-hangs"]["failure"] == "timeout"
    assert "run_timeout_minutes = 0.25" in recs["test-hangs"]["error"]
    assert recs["nsgan"]["status"] == "ok"
    assert time.time() - t < 200  # the hour-long sleep did not hold the suite
