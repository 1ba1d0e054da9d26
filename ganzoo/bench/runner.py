"""Run one :class:`~ganzoo.bench.suite.RunSpec`: train, evaluate along the way, measure.

:func:`run_spec` never raises for a problem of the run itself: a run whose losses
go non-finite, or whose logistic D saturates for good, is recorded ``diverged``
with its step; one that raises is recorded ``failed`` with its traceback. Either
way the benchmark goes on to the next run.

It builds a :class:`~ganzoo.bench.record.RunRecord` and returns ``record.to_dict()``,
what ``runs.jsonl`` holds (see ``results/README.md``): identity and spec, status, final
metrics, the metric curve (against steps and training seconds), stability figures,
throughput (on training time only, :func:`~ganzoo.bench.record.throughput`), the loss
trace, protocol, environment and timing.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

import ganzoo
from ganzoo.bench import stability
from ganzoo.memory import TrainingPeakMemory
from ganzoo.bench.record import Environment, RunRecord, Stability, Timing, throughput
from ganzoo.bench.suite import RunSpec
from ganzoo.files import canonical_json

ProgressFn = Callable[[str, int, int], None]  # (run_id, step, total steps)

_DATA_CACHE: Dict[str, Any] = {}
POINT_SAMPLES = 1000  # generated (and real) points kept for a 2D run's scatter


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- environment ------------------------------------------------------------------
def git_commit(repo: Optional[Path] = None) -> Optional[str]:
    """The checkout's commit (with ``-dirty`` when files differ), or None outside git."""
    repo = repo or Path(ganzoo.__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(workers: int = 1, threads_per_worker: int = 0) -> Dict[str, Any]:
    """Where the numbers come from: versions, commit, machine (computed once per bench)."""
    import torch

    env = {
        "ganzoo": ganzoo.__version__, "git_commit": git_commit(), "torch": torch.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "workers": workers,
        "threads_per_worker": threads_per_worker or torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import torch_fidelity

        env["torch_fidelity"] = torch_fidelity.__version__
    except Exception:  # optional for the runner itself
        env["torch_fidelity"] = None
    return env


# ---- data ------------------------------------------------------------------------
def load_data(spec: RunSpec):
    """The spec's dataset on its device, loaded once per process."""
    from ganzoo.data import load

    key = canonical_json([spec.dataset, spec.split, spec.data_root, spec.data_options, spec.device])
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset at a time: a worker moves across datasets rarely
        _DATA_CACHE[key] = load(spec.dataset, split=spec.split, data_root=spec.data_root,
                                device=spec.device, **spec.data_options)
    return _DATA_CACHE[key]


# ---- quality -----------------------------------------------------------------------
def evaluate_quality(trainer, spec: RunSpec, final: bool) -> Dict[str, Any]:
    """The metrics of the trainer's current G: ``spec.eval_samples`` samples along the way,
    ``spec.final_samples`` (and the costlier metrics) at the end. One call, one dict of numbers;
    a ``protocol`` entry (extractor, fingerprint, sample counts) may ride along.
    """
    from ganzoo import metrics

    n = spec.final_samples if final else spec.eval_samples
    return metrics.evaluate_trainer(trainer, n=n, final=final, kid_subsets=spec.kid_subsets)


# ---- one run -----------------------------------------------------------------------
def base_record(spec: RunSpec, env: Dict[str, Any]) -> RunRecord:
    """A run's record before it trains: identity, spec, environment, status ``running``."""
    return RunRecord(run_id=spec.run_id, suite=spec.suite, variant=spec.variant, dataset=spec.dataset,
                     arch=spec.arch, seed=spec.seed, batch_size=spec.batch_size, precision=spec.precision,
                     perf=spec.perf, status="running", spec=spec.to_dict(), env=Environment.from_dict(env))


def run_spec(spec: RunSpec, out_dir, env: Optional[Dict[str, Any]] = None,
             progress: Optional[ProgressFn] = None) -> Dict[str, Any]:
    """Train and measure one run; returns its record as stored, ``RunRecord.to_dict()``
    (never raises for the run's own failure)."""
    from ganzoo.bench.store import RunStore

    env = env or environment()
    record = base_record(spec, env)
    t0 = time.perf_counter()
    record.timing = Timing(started=now())
    try:
        _train_and_measure(spec, record, RunStore(out_dir), progress)
    except OSError as err:  # the machine's (a full disk, a read-only folder), not the run's: stop the bench
        from ganzoo.bench.lock import unwritable

        raise unwritable(Path(out_dir), err, "a run's checkpoint or samples") from None
    except Exception as err:  # the run failed; the suite goes on
        record.fail(f"{type(err).__name__}: {err}", getattr(err, "traceback", None) or traceback.format_exc())
    record.timing.finished, record.timing.wall_s = now(), time.perf_counter() - t0
    return record.to_dict()


def _train_and_measure(spec: RunSpec, record: RunRecord, store, progress) -> None:
    from ganzoo.trainer import TrainConfig, Trainer, device_name

    timing = record.timing
    t0 = time.perf_counter()
    data = load_data(spec)
    partial = store.partial_path(spec.run_id) if spec.checkpoint_every else None
    trainer = _resume(partial, data, record)
    if trainer is None:
        config = TrainConfig(steps=spec.steps, batch_size=spec.batch_size, seed=spec.seed,
                             z_dim=spec.z_dim, device=spec.device, precision=spec.precision,
                             perf=spec.perf, log_every=spec.log_every, eval_every=spec.eval_every,
                             checkpoint_every=spec.checkpoint_every, g_ema=spec.g_ema,
                             hparams=dict(spec.hparams))
        trainer = Trainer(spec.variant, data, arch=spec.arch, config=config, checkpoint_path=partial,
                          dataset_spec={"name": spec.dataset, "split": spec.split,
                                        "data_root": spec.data_root, **spec.data_options})
    record.env.device = device_name(trainer.device)
    timing.setup_s = time.perf_counter() - t0
    protocol: Dict[str, Any] = {}
    memory = TrainingPeakMemory(trainer.device)

    def evaluate(tr) -> Dict[str, Any]:
        memory.pause()
        out = dict(evaluate_quality(tr, spec, final=tr.step >= spec.steps))
        memory.resume()
        proto = out.pop("protocol", None)
        if proto:
            protocol.update(proto)
        return {k: _number(v) for k, v in out.items()}

    def on_log(tr) -> None:
        if progress is not None:
            progress(spec.run_id, tr.step, spec.steps)

    # No full checkpoint at the end: the compact one below is what a finished run keeps.
    history = trainer.fit(evaluate=evaluate if spec.quality else None, on_log=on_log, save_at_end=False)
    curve = [dict(p) for p in history.evals]
    summary = stability.summarize(history, curve, spec.metric if spec.quality else None,
                                  spec.threshold, stability.logistic_discriminator(trainer.variant))
    final = {k: v for k, v in curve[-1].items() if k not in ("step", "train_s")} \
        if curve and curve[-1]["step"] == trainer.step else {}
    h = history
    speed = throughput(h.real_images, trainer.step, h.train_s)
    speed.perf_used = trainer.runner.mode if trainer.runner else None
    peak = memory.result()  # before step_compute's extra step and copies
    speed.peak_mem_mib, speed.peak_mem_kind = peak["peak_mem_mib"], peak["peak_mem_kind"]
    compute = {} if spec.quality else step_compute(trainer, spec)
    for k, v in _mfu(compute, trainer.step, h.train_s).items():
        setattr(speed, k, v)
    record.status, record.final, record.curve = summary["status"], final, curve
    record.stability = Stability.from_dict(summary["stability"])
    record.steps_done, record.n_critic = trainer.step, trainer.variant.n_critic
    record.throughput = speed
    record.losses = stability.loss_trace(h.values, h.log_steps)
    record.protocol = {"data_source": data.source, "data_size": len(data), "split": data.split,
                       "eval_samples": spec.eval_samples, "final_samples": spec.final_samples, **protocol}
    timing.train_s, timing.eval_s = h.train_s, h.eval_s
    if progress is not None:
        progress(spec.run_id, trainer.step, spec.steps)
    _keep_samples(trainer, spec, store)
    _keep_checkpoint(trainer, spec, record, store)


def _resume(partial: Optional[Path], data, record: RunRecord):
    """The trainer saved mid-way in ``partial`` by an earlier, killed attempt at this run
    (the path is keyed by run_id, so it is this very configuration), or None to start at
    step 0. Resuming restores the optimizers, history and RNG states, so the run goes on
    exactly as if it had not stopped. A checkpoint that cannot be read, or that was saved
    after its run had ended (killed before its record was stored), is dropped."""
    from ganzoo.trainer import CheckpointError, Trainer

    if partial is None or not partial.is_file():
        return None
    try:
        trainer = Trainer.from_checkpoint(partial, data=data)
    except CheckpointError as err:
        record.resume_note = f"partial checkpoint dropped: {err}"
        partial.unlink(missing_ok=True)
        return None
    if trainer.history.status != "running":
        partial.unlink(missing_ok=True)
        return None
    record.resumed_from_step = trainer.step
    return trainer


def step_compute(trainer, spec: RunSpec) -> Dict[str, Any]:
    """FLOPs of one iteration (torch.utils.flop_counter on an eager step, state put back)
    and the device's measured matmul peak at the run's precision: for MFU in throughput
    suites (quality suites skip it: the matmul probe costs a second of a worker's time)."""
    from ganzoo.throughput import flops_per_step, matmul_peak

    try:
        flops = flops_per_step(trainer)
        peak = matmul_peak(trainer.device, spec.precision)
    except Exception as err:  # MFU is a nicety: never fail a measured run over it
        return {"mfu_error": f"{type(err).__name__}: {err}"}
    return {"flops_per_step": flops, "peak_flops": peak}


def _mfu(compute: Dict[str, Any], steps: int, train_s: float) -> Dict[str, Any]:
    """Model FLOPs utilisation: the step's FLOPs at the measured rate over the matmul peak."""
    from ganzoo.throughput import model_flops_utilisation

    if not compute.get("flops_per_step") or not steps or train_s <= 0:
        return dict(compute)
    return {**compute, "mfu": model_flops_utilisation(compute["flops_per_step"], steps, train_s,
                                                      compute["peak_flops"])}


def _number(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return v.item()
    return v


def _keep_checkpoint(trainer, spec: RunSpec, record: RunRecord, store) -> None:
    """Keep the run's final G and D (no optimizer state) so that it can be scored later with
    another extractor, or sampled, without training again. Written atomically by the trainer's
    own checkpoint code; the record names it relative to the results folder."""
    path = trainer.save(store.checkpoint_path(spec.run_id), optimizer=False)
    record.checkpoint = path.relative_to(store.dir).as_posix()


def _keep_samples(trainer, spec: RunSpec, store) -> None:
    """Save a few final samples for the report's figures (skipped when they are not finite)."""
    import torch

    data = trainer.data
    if data.kind == "points":
        x = trainer.sample(POINT_SAMPLES).cpu().numpy().astype(np.float32)
        if not np.isfinite(x).all():
            return
        arrays = {"samples": x, "real": data.x[:POINT_SAMPLES].cpu().numpy().astype(np.float32)}
        if data.modes is not None:
            arrays["modes"] = data.modes.cpu().numpy().astype(np.float32)
    else:
        x = trainer.sample(spec.sample_grid).cpu()
        if not bool(x.isfinite().all()):
            return
        arrays = {"images": ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()}
    store.save_samples(spec.run_id, **arrays)
