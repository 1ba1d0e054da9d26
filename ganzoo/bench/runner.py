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

import copy
import os
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

import ganzoo
from ganzoo.bench import stability
from ganzoo.bench.record import Environment, RunRecord, Stability, Timing, throughput
from ganzoo.bench.suite import RunSpec
from ganzoo.files import canonical_json
from ganzoo.memory import TrainingPeakMemory
from ganzoo.outcome import FAILED

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
    return metrics.evaluate_trainer(trainer, n=n, final=final, kid_subsets=spec.kid_subsets,
                                    extra_spaces=spec.extractors)


# ---- one run -----------------------------------------------------------------------
def base_record(spec: RunSpec, env: Dict[str, Any]) -> RunRecord:
    """A run's record before it trains: identity, spec, environment, status ``running``."""
    return RunRecord(run_id=spec.run_id, suite=spec.suite, variant=spec.variant, dataset=spec.dataset,
                     arch=spec.arch, seed=spec.seed, batch_size=spec.batch_size, precision=spec.precision,
                     perf=spec.perf, status="running", spec=spec.to_dict(), env=Environment.from_dict(env))


@dataclass
class RunFiles:
    """Where one run keeps its files: the bench in its results folder (:meth:`in_store`),
    ``ganzoo train`` in its ``--out`` folder (:meth:`in_folder`).

    ``checkpoint``: the full checkpoint written every ``checkpoint_every`` steps (None: none),
    resumed from when ``resume`` and it exists. At the end a bench run keeps a compact
    checkpoint (G and D only) in ``final`` and its samples in ``store``; ``ganzoo train``
    keeps the full checkpoint, so that ``--resume`` can train it further. ``lenient``: a
    checkpoint that cannot be read is dropped with a note (the bench's partial of a killed
    attempt) rather than an error (a user's ``--resume``)."""

    root: Path
    checkpoint: Optional[Path]
    resume: bool
    final: Path
    keep_full: bool
    store: Any = None  # a RunStore: the samples kept for the report's figures
    lenient: bool = False
    measure_compute: bool = False  # MFU for a throughput-only spec (quality = false): the bench's

    @classmethod
    def in_store(cls, store, spec: RunSpec) -> "RunFiles":
        return cls(root=store.dir, checkpoint=store.partial_path(spec.run_id) if spec.checkpoint_every else None,
                   resume=True, final=store.checkpoint_path(spec.run_id), keep_full=False, store=store,
                   lenient=True, measure_compute=True)

    @classmethod
    def in_folder(cls, out: Path, resume: bool = False) -> "RunFiles":
        out = Path(out)
        return cls(root=out, checkpoint=out / "checkpoint.pt", resume=resume, final=out / "checkpoint.pt",
                   keep_full=True)


def run_spec(spec: RunSpec, out_dir, env: Optional[Dict[str, Any]] = None,
             progress: Optional[ProgressFn] = None) -> Dict[str, Any]:
    """Train and measure one run of a bench into the store at ``out_dir``; returns its record
    as stored, ``RunRecord.to_dict()`` (never raises for the run's own failure)."""
    from ganzoo.bench.store import RunStore

    store = RunStore(out_dir)
    record = base_record(spec, env or environment())
    try:
        train_run(spec, RunFiles.in_store(store, spec), record, progress=progress)
    except OSError as err:  # the machine's (a full disk, a read-only folder), not the run's: stop the bench
        from ganzoo.bench.lock import unwritable

        raise unwritable(Path(out_dir), err, "a run's checkpoint or samples") from None
    except Exception as err:  # the run failed; the suite goes on
        record.fail(f"{type(err).__name__}: {err}", getattr(err, "traceback", None) or traceback.format_exc())
    return record.to_dict()


def train_run(spec: RunSpec, files: RunFiles, record: RunRecord, *, progress: Optional[ProgressFn] = None,
              data=None, dist=None, bar: bool = False, live: Optional[Callable[[Any], Any]] = None):
    """The one way a run is trained and recorded, for ``ganzoo bench`` and ``ganzoo train``
    alike: load the data, build (or resume) the trainer, train with evaluation along the way,
    measure, keep the checkpoint (and the bench's samples), and fill ``record`` in. Returns
    the trainer. Raises what the run raised (the bench's :func:`run_spec` records it).

    ``data``: the dataset already loaded (default: :func:`load_data`); ``dist``: this
    process's place under torchrun; ``bar``: a progress bar; ``live(trainer)``: a tracker's
    live run (``on_log(trainer)``, ``finish(trainer, status)``) or None."""
    t0 = time.perf_counter()
    record.timing = Timing(started=now())
    try:
        return _train_and_measure(spec, files, record, progress=progress, data=data, dist=dist, bar=bar,
                                  live=live)
    finally:
        record.timing.finished, record.timing.wall_s = now(), time.perf_counter() - t0


def _train_and_measure(spec: RunSpec, files: RunFiles, record: RunRecord, *, progress, data, dist, bar, live):
    from ganzoo.trainer import Trainer, device_name

    timing = record.timing
    t0 = time.perf_counter()
    data = load_data(spec) if data is None else data
    trainer = _resume(spec, files, data, record, dist)
    if trainer is None:
        # the spec's own settings object (a copy: the trainer must not change the spec)
        trainer = Trainer(spec.variant, data, arch=spec.arch, config=copy.deepcopy(spec.train),
                          checkpoint_path=files.checkpoint,
                          dataset_spec=dataset_spec(spec), dist=dist)
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

    tracked = live(trainer) if live is not None else None

    def on_log(tr) -> None:
        if progress is not None:
            progress(spec.run_id, tr.step, spec.steps)
        if tracked is not None:
            tracked.on_log(tr)

    status = FAILED  # what a tracker's run ends with when anything below raises
    try:
        # The checkpoint at the end is written below: compact for the bench, full for `ganzoo train`.
        history = trainer.fit(evaluate=evaluate if spec.quality else None, on_log=on_log, save_at_end=False,
                              progress=bar)
        _measure(spec, files, record, trainer, history, data, memory, protocol, dist)
        # the kept checkpoint's history says what the record says (a non-finite metric included)
        trainer.history.status = status = record.status
        if progress is not None:
            progress(spec.run_id, trainer.step, spec.steps)
        if files.store is not None:
            _keep_samples(trainer, spec, files.store)
        _keep_checkpoint(trainer, files, record)
    finally:
        if tracked is not None:
            tracked.finish(trainer, status)
    return trainer


def _measure(spec: RunSpec, files: RunFiles, record: RunRecord, trainer, history, data, memory,
             protocol: Dict[str, Any], dist) -> None:
    """Fill ``record`` in from the finished training: status, metrics, stability, throughput."""
    curve = [dict(p) for p in history.evals]
    summary = stability.summarize(history, curve, spec.metric if spec.quality else None,
                                  spec.threshold, trainer.logistic)
    final = {k: v for k, v in curve[-1].items() if k not in ("step", "train_s")} \
        if curve and curve[-1]["step"] == trainer.step else {}
    h = history
    world = dist.world_size if dist else 1
    speed = throughput(h.real_images * world, trainer.step, h.train_s)  # every rank's images
    speed.perf_used = trainer.runner.mode if trainer.runner else None
    peak = memory.result()  # before step_compute's extra step and copies
    speed.peak_mem_mib, speed.peak_mem_kind = peak["peak_mem_mib"], peak["peak_mem_kind"]
    # MFU costs a FLOP-counted step and a matmul probe (about a second): throughput suites only
    compute = step_compute(trainer, spec) if files.measure_compute and not spec.quality else {}
    for k, v in _mfu(compute, trainer.step, h.train_s).items():
        setattr(speed, k, v)
    record.status, record.final, record.curve = summary["status"], final, curve
    record.stability = Stability.from_dict(summary["stability"])
    record.steps_done, record.n_critic = trainer.step, trainer.variant.n_critic
    record.throughput = speed
    record.losses = stability.loss_trace(h.values, h.log_steps)
    record.protocol = {"data_source": data.source, "data_size": len(data), "split": data.split,
                       "eval_samples": spec.eval_samples, "final_samples": spec.final_samples, **protocol}
    if trainer.runner is not None and trainer.runner.notices:
        record.protocol["perf_notices"] = list(trainer.runner.notices)
    record.timing.train_s, record.timing.eval_s = h.train_s, h.eval_s


def dataset_spec(spec: RunSpec) -> Dict[str, Any]:
    """How a checkpoint of this run loads its dataset again (``ganzoo sample``, ``ganzoo eval``)."""
    return {"name": spec.dataset, "split": spec.split, "data_root": spec.data_root, **spec.data_options}


def _resume(spec: RunSpec, files: RunFiles, data, record: RunRecord, dist=None):
    """The trainer saved in ``files.checkpoint`` by an earlier attempt at this run, or None to
    start at step 0. Resuming restores the optimizers, history and RNG states, so the run goes
    on exactly as if it had not stopped. The bench's partial is keyed by run_id, so it is this
    very configuration; one that cannot be read, or that was saved after its run had ended
    (killed before its record was stored), is dropped. ``ganzoo train --resume`` trains a
    finished checkpoint further, to ``spec.steps``."""
    from ganzoo.checkpoints import CheckpointError
    from ganzoo.trainer import Trainer

    path = files.checkpoint
    if not files.resume or path is None or not path.is_file():
        return None
    try:
        trainer = Trainer.from_checkpoint(path, data=data, expect=(spec.variant, spec.dataset), dist=dist,
                                          steps=spec.steps)
    except CheckpointError as err:
        if not files.lenient:
            raise
        record.resume_note = f"partial checkpoint dropped: {err}"
        path.unlink(missing_ok=True)
        return None
    if files.lenient and trainer.history.status != "running":
        path.unlink(missing_ok=True)
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


def _keep_checkpoint(trainer, files: RunFiles, record: RunRecord) -> None:
    """Keep the run's final checkpoint. The bench keeps G and D (no optimizer state) so that
    a run can be scored later with another extractor, or sampled, without training again;
    ``ganzoo train`` keeps the full one, to train further. Written atomically by the trainer's
    own checkpoint code; the record names it relative to the results folder."""
    path = trainer.save(files.final, optimizer=files.keep_full)
    record.checkpoint = path.relative_to(files.root).as_posix()


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
