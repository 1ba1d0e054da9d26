"""The run record: one typed object per finished run, as ``runs.jsonl`` stores it.

The runner builds a :class:`RunRecord` and stores ``record.to_dict()``; the run frame,
the figures and ``ganzoo compare`` read ``RunRecord.from_dict(line)`` and its attributes.
Its parts:

- :class:`Environment`: where the numbers come from (versions, commit, machine, device);
- :class:`Timing`: when the run started and ended, and its setup / train / eval seconds;
- :class:`Stability`: best / final / fall-back of the quality curve, time to quality,
  loss oscillation, gradient norms, divergence (see :mod:`ganzoo.bench.stability`);
- :class:`Throughput`: rates on training time only, peak memory, MFU; made by
  :func:`throughput`, the one place where img/s, s/kimg, G steps/s and ms/step are computed
  (the runner, for ``ganzoo bench`` and ``ganzoo train`` alike, and :func:`ganzoo.throughput.measure_throughput` use it).

The layout is the one ``runs.jsonl`` has always had (``results/README.md``): each class's
fields are its keys, in the order they are written, and a key absent from a line stays
absent: a field that is None is left out of the line unless the line had it as ``null``
(or the writer says so with ``nulls``). Keys this version does not know, from an older or
a newer ganzoo, are kept in ``extra`` and written back after the known ones, so
``RunRecord.from_dict(line).to_dict() == line`` and no information is lost. The spec, the
final metrics, the curve, the loss trace and the protocol stay plain JSON: their keys are
metric names, hyperparameters and settings that grow with the suite.

This module imports nothing heavy (no torch), so the trainer can use :func:`throughput`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Type, TypeVar

from ganzoo.speed import RATES, rates

S = TypeVar("S", bound="_Part")


def _nulls() -> FrozenSet[str]:
    return field(default=frozenset(), repr=False, compare=False)


class _Part:
    """What every part of a record does: to and from its JSON object, losslessly.

    ``extra``: keys this version does not know, kept as read. ``nulls``: fields written
    as ``null`` when None (any other None field is left out of the line).
    """

    NESTED: ClassVar[Mapping[str, type]] = {}  # field -> the part class its JSON object is read as
    extra: Dict[str, Any]
    nulls: FrozenSet[str]

    @classmethod
    def keys(cls) -> List[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "nulls")]

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name in self.keys():
            value = getattr(self, name)
            if value is None and name not in self.nulls:
                continue
            out[name] = value.to_dict() if isinstance(value, _Part) else value
        for k, v in self.extra.items():
            out[k] = v
        return out

    @classmethod
    def from_dict(cls: Type[S], data: Mapping[str, Any]) -> S:
        known = cls.keys()
        kw: Dict[str, Any] = {}
        for name in known:
            if name in data:
                value = data[name]
                part = cls.NESTED.get(name)
                kw[name] = part.from_dict(value) if part is not None and isinstance(value, Mapping) else value
        return cls(**kw, extra={k: v for k, v in data.items() if k not in known},
                   nulls=frozenset(k for k in known if k in data and data[k] is None))


@dataclass
class Environment(_Part):
    """Versions, commit and machine of the process that ran the run (computed once per
    bench by :func:`ganzoo.bench.runner.environment`); ``device`` is the run's own device
    (added once the trainer is built); ``driver_git_commit``: the driver's commit, when a
    Ray node ran the run."""

    ganzoo: Optional[str] = None
    git_commit: Optional[str] = None
    torch: Optional[str] = None
    python: Optional[str] = None
    platform: Optional[str] = None
    cpu: Optional[str] = None
    cpu_count: Optional[int] = None
    workers: Optional[int] = None
    threads_per_worker: Optional[int] = None
    cuda: Optional[str] = None
    gpu: Optional[str] = None
    torch_fidelity: Optional[str] = None
    driver_git_commit: Optional[str] = None
    device: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    nulls: FrozenSet[str] = _nulls()


@dataclass
class Timing(_Part):
    """When the run started and finished (ISO 8601, UTC), and its seconds: ``setup_s``
    (data and nets), ``train_s`` (training only), ``eval_s`` (evaluations), ``wall_s`` (all)."""

    started: Optional[str] = None
    setup_s: Optional[float] = None
    train_s: Optional[float] = None
    eval_s: Optional[float] = None
    finished: Optional[str] = None
    wall_s: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    nulls: FrozenSet[str] = _nulls()


@dataclass
class Stability(_Part):
    """How training went (:func:`ganzoo.bench.stability.summarize`): the quality curve's
    ``best`` (at ``best_step``), ``final`` and ``fall_back`` from the best, the time to reach
    ``threshold``, loss oscillation, gradient-norm medians and maxima, and where and why
    the run diverged (``diverged_at``, ``divergence``; None when it did not)."""

    metric: Optional[str] = None
    best: Optional[float] = None
    best_step: Optional[int] = None
    final: Optional[float] = None
    fall_back: Optional[float] = None
    threshold: Optional[float] = None
    time_to_quality_s: Optional[float] = None
    time_to_quality_step: Optional[int] = None
    reached_threshold: Optional[bool] = None
    osc_d_loss: Optional[float] = None
    osc_g_loss: Optional[float] = None
    grad_norm_d_median: Optional[float] = None
    grad_norm_d_max: Optional[float] = None
    grad_norm_g_median: Optional[float] = None
    grad_norm_g_max: Optional[float] = None
    diverged_at: Optional[int] = None
    divergence: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    nulls: FrozenSet[str] = _nulls()


@dataclass
class Throughput(_Part):
    """Speed on training time only (evaluation excluded), as :func:`throughput` computes it.

    - ``img_per_s``: real images shown to D per second (n_critic × batch per G step, the
      StyleGAN convention); ``s_per_kimg``: seconds per thousand of them;
      ``g_steps_per_s`` and ``ms_per_step``: per G step (one iteration, its D steps included);
    - ``real_images`` and ``train_s``: the count and the seconds these come from;
    - ``perf_used``: the step mode that ran (eager, graph, compile);
    - ``peak_mem_mib`` / ``peak_mem_kind``: peak memory of training, evaluation excluded, in
      MiB, and what it measured (:class:`ganzoo.memory.TrainingPeakMemory`: on CUDA the
      most memory tensors held, ``torch.cuda.max_memory_allocated``; on CPU the worker
      process's peak resident set, an upper bound);
    - ``flops_per_step``, ``peak_flops`` (the measured matmul rate) and ``mfu``, or
      ``mfu_error``: throughput-only suites (:mod:`ganzoo.throughput`).
    """

    img_per_s: Optional[float] = None
    s_per_kimg: Optional[float] = None
    g_steps_per_s: Optional[float] = None
    ms_per_step: Optional[float] = None
    real_images: Optional[int] = None
    train_s: Optional[float] = None
    perf_used: Optional[str] = None
    peak_mem_mib: Optional[float] = None
    peak_mem_kind: Optional[str] = None
    flops_per_step: Optional[int] = None
    peak_flops: Optional[float] = None
    mfu: Optional[float] = None
    mfu_error: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    nulls: FrozenSet[str] = _nulls()


def throughput(images: int, g_steps: int, seconds: float) -> Throughput:
    """A record's throughput part from :func:`ganzoo.speed.rates`, the one place the rates are
    computed. A rate that cannot be computed (no time, no steps) is None, and still written
    (as null)."""
    return Throughput(**rates(images, g_steps, seconds), real_images=images, train_s=seconds,
                      nulls=frozenset(RATES + ("perf_used",)))


@dataclass
class RunRecord(_Part):
    """One line of ``runs.jsonl``: one run's identity, spec, outcome and measurements.

    Identity (``run_id`` = hash of the spec, ``suite`` and the spec's main fields), ``status``
    (running, ok, diverged, failed), ``spec`` (:meth:`RunSpec.to_dict`), ``env``, ``timing``;
    a resumed run's ``resumed_from_step`` (or ``resume_note`` when its partial checkpoint was
    dropped); once trained: ``final`` metrics, the metric ``curve`` (one point per evaluation:
    step, train_s, metrics), ``stability``, ``steps_done``, ``n_critic``, ``throughput``, the
    ``losses`` trace (about 60 averaged points per logged value), the evaluation ``protocol``
    and the kept ``checkpoint`` (relative to the results folder); a failed run's ``error``,
    ``traceback`` and, for a timeout, ``failure``.
    """

    NESTED: ClassVar[Mapping[str, type]] = {"env": Environment, "timing": Timing, "stability": Stability,
                                            "throughput": Throughput}

    run_id: Optional[str] = None
    suite: Optional[str] = None
    variant: Optional[str] = None
    dataset: Optional[str] = None
    arch: Optional[str] = None
    seed: Optional[int] = None
    batch_size: Optional[int] = None
    precision: Optional[str] = None
    perf: Optional[str] = None
    status: Optional[str] = None
    spec: Optional[Dict[str, Any]] = None
    env: Optional[Environment] = None
    timing: Optional[Timing] = None
    resume_note: Optional[str] = None
    resumed_from_step: Optional[int] = None
    final: Optional[Dict[str, Any]] = None
    curve: Optional[List[Dict[str, Any]]] = None
    stability: Optional[Stability] = None
    steps_done: Optional[int] = None
    n_critic: Optional[int] = None
    throughput: Optional[Throughput] = None
    losses: Optional[Dict[str, Any]] = None
    protocol: Optional[Dict[str, Any]] = None
    checkpoint: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    failure: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    nulls: FrozenSet[str] = _nulls()

    def fail(self, error: str, traceback: Optional[str], **extra: Any) -> None:
        """Mark the run failed with ``error`` (one line first) and its ``traceback`` (written
        even when None); ``extra``: other fields, e.g. ``failure="timeout"``."""
        self.status, self.error, self.traceback = "failed", error, traceback
        self.nulls = self.nulls | {"traceback"}
        for k, v in extra.items():
            if k in self.keys():
                setattr(self, k, v)
            else:
                self.extra[k] = v

    # ---- reading ---------------------------------------------------------------------
    def setting(self, name: str, default: Any = None) -> Any:
        """A field of the run's spec (``steps``, ``metric``, ``g_ema``, ...), else ``default``."""
        return (self.spec or {}).get(name, default)

    @property
    def error_line(self) -> Optional[str]:
        """The first line of a failed run's error, or None."""
        return self.error.splitlines()[0] if self.error else None

    def part(self, name: str) -> Any:
        """``env``, ``timing``, ``stability`` or ``throughput``, empty (all None) when the
        line has none: readers then need no None checks."""
        value = getattr(self, name)
        return value if value is not None else self.NESTED[name]()


def as_record(rec: Any) -> RunRecord:
    """``rec`` as a :class:`RunRecord` (a stored line, or already one)."""
    return rec if isinstance(rec, RunRecord) else RunRecord.from_dict(rec)
