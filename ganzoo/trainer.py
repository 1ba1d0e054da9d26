"""The shared training loop. It knows nothing of any particular variant.

The trainer owns the device, the seed, the optimizers, precision, the schedule, the
history and checkpoints; the variant owns the step (``Variant.train_step``). Inside the
loop nothing reads back to the host: each step's logged values are written into a small
buffer on the device, read back every ``log_every`` steps, where divergence is checked.
"""
from __future__ import annotations

import contextlib
import functools
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from ganzoo import checkpoints, distributed, faults, nets, optimizers, outcome, perf, precisions
from ganzoo.checkpoints import CHECKPOINT_FORMAT, CheckpointError, read_checkpoint  # noqa: F401  (public here too)
from ganzoo.config import check_fields, check_unknown, names_of, setting
from ganzoo.data.base import TensorData
from ganzoo.ema import WeightAverage
from ganzoo.errors import ConfigError
from ganzoo.registry import VARIANTS
from ganzoo.variants.base import StepContext, Variant, VariantError

PRECISIONS = precisions.PRECISIONS  # fp32 | tf32 | bf16 | ... (ganzoo.precisions)
PERF_MODES = perf.PERF_MODES  # the perf modes' registry (see ganzoo.perf)


SEED_MAX = 2**63 - 1  # torch.manual_seed takes a signed 64-bit integer


def g_ema_rule(value: Any) -> Optional[str]:
    """What is wrong with ``value`` as an EMA decay (``g_ema``), or None (NaN fails too)."""
    if not 0.0 <= value < 1.0:
        return "must be an EMA decay in [0, 1) (0: off; e.g. 0.999)"
    return None


@dataclass
class TrainConfig:
    """Settings of one training run. ``steps`` counts G steps (each after n_critic D steps).

    Each field declares what it accepts (:mod:`ganzoo.config`); a suite's ``[train]`` table is
    checked by these same declarations, and its defaults are these.
    """

    steps: int = setting(1000, kind=int, minimum=1)
    batch_size: int = setting(64, kind=int, minimum=1, suite_axis=True)
    seed: int = setting(0, kind=int, minimum=0, maximum=SEED_MAX)
    z_dim: int = setting(100, kind=int, minimum=1)
    device: str = setting("auto", kind=(str, torch.device))  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    # a name in ganzoo.precisions: fp32 | tf32 (CUDA matmuls) | bf16 (autocast) | fp16 (scaled)
    precision: str = setting("fp32", kind=str, choices=names_of(PRECISIONS), suite_axis=True)
    # how a step runs, a name in ganzoo.perf's registry: auto | eager | graph (CUDA graphs) | compile
    perf: str = setting("auto", kind=str, choices=names_of(PERF_MODES), suite_axis=True)
    # host read-back of the history and the divergence check; the stability measures read the
    # loss trace at this resolution
    log_every: int = setting(50, kind=int, minimum=1)
    checkpoint_every: int = setting(0, kind=int, minimum=0)  # 0: only when fit() ends (if a path is set)
    eval_every: int = setting(0, kind=int, minimum=0)  # 0: no evaluation during training
    # > 0: keep an EMA of G's weights with this decay, sampled and evaluated (ganzoo.ema)
    g_ema: float = setting(0.0, kind=float, rule=g_ema_rule, coerce=True)
    hparams: Dict[str, Any] = field(default_factory=dict)  # overrides of the variant's defaults

    def __post_init__(self):
        check_fields(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        check_unknown(d, [f.name for f in fields(cls)], "training settings")
        return cls(**d)


@dataclass
class History:
    """What a run recorded: every step's logged values, wall time, evaluations, status."""

    keys: List[str] = field(default_factory=list)
    values: Dict[str, List[float]] = field(default_factory=dict)  # one entry per step
    log_steps: List[int] = field(default_factory=list)  # steps at which the host read back
    log_train_s: List[float] = field(default_factory=list)  # training seconds at those steps
    evals: List[Dict[str, Any]] = field(default_factory=list)  # {step, train_s, metrics...}
    status: str = "running"  # running | ok | diverged | failed: ganzoo.outcome.run_status decides
    # the first step whose logged values were not all finite (under torchrun: any rank's first)
    diverged_at: Optional[int] = None
    train_s: float = 0.0  # training time only: no evaluation, no checkpoints
    eval_s: float = 0.0
    real_images: int = 0  # real samples shown to D

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "History":
        return cls(**d)

    def last(self, key: str) -> float:
        return self.values[key][-1]


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    valid = "valid: auto, cpu, cuda, cuda:N"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; {valid}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not one ganzoo trains on; {valid}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                          f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def resolve_variant(variant) -> type:
    if isinstance(variant, str):
        import ganzoo.variants  # noqa: F401  (registers the built-ins)
        return VARIANTS.get(variant)
    if isinstance(variant, type) and issubclass(variant, Variant):
        return variant
    raise ConfigError(f"variant must be a registered name or a Variant subclass, got {variant!r}")


class Trainer:
    """Trains one variant on one dataset.

    >>> trainer = Trainer("nsgan", data.load("ring8"), arch="mlp", config=TrainConfig(steps=500))
    >>> history = trainer.fit()
    >>> samples = trainer.sample(1000)
    """

    def __init__(self, variant, data: TensorData, arch: Optional[str] = None,
                 config: Optional[TrainConfig] = None, checkpoint_path=None,
                 dataset_spec: Optional[Dict[str, Any]] = None, dist: Optional[distributed.Dist] = None):
        self.config = config or TrainConfig()
        # Several processes (torchrun): see ganzoo.distributed for what each rank does.
        self.dist = dist
        self.device = pick_device(distributed.device_for(dist, self.config.device) if dist else self.config.device)
        if dist and not perf.get_mode(self.config.perf).distributed:
            raise ConfigError(f"perf {self.config.perf!r} is not supported with several processes yet; "
                              f"use perf auto or eager (runs eagerly)")
        if dist:  # this rank's shard: samples rank, rank + N, ...
            data = data.shard(dist.rank, dist.world_size)
        variant_cls = resolve_variant(variant)
        self.variant: Variant = variant_cls(**self.config.hparams)
        if self.variant.conditional and not data.labelled:
            raise ConfigError(f"variant {self.variant.name!r} is conditional and needs labels, "
                              f"but dataset {data.name!r} has none")
        if self.config.batch_size > len(data):  # batches are drawn with replacement: it would run, meaninglessly
            what = f"this rank's shard of dataset {data.name!r}" if dist else f"dataset {data.name!r}"
            raise ConfigError(f"batch_size {self.config.batch_size} is larger than {what} "
                              f"({len(data)} samples); valid: 1 to {len(data)}")
        self.data = data.to(self.device)
        self.arch = arch or self.variant.preferred_arch.get(data.kind, "mlp")
        # How to load this dataset again (for resume / sampling from a checkpoint).
        self.dataset_spec = dataset_spec or {"name": data.name, "split": data.split}
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None

        try:
            perf.check_mode(self.config.perf, self.device)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        seed_everything(self.config.seed)
        conditioning = self.variant.conditioning if self.variant.conditional else "none"
        build = functools.partial(nets.build, self.arch, z_dim=self.config.z_dim,
                                  num_classes=self.data.num_classes, conditioning=conditioning,
                                  **self.variant.net_options())
        G, D = self.variant.build_nets(build, tuple(self.data.shape))
        self.G, self.D = G.to(self.device), D.to(self.device)
        if dist:  # identical starting weights on every rank, then each rank's own noise and batches
            distributed.broadcast_modules((self.G, self.D))
            seed_everything(distributed.rank_seed(self.config.seed, dist.rank))
        self.variant.state = {k: torch.as_tensor(v).detach().clone().to(self.device)  # ints stay ints
                              for k, v in self.variant.initial_state().items()}
        self.channels_last = perf.prepare_nets(self.G, self.D, self.device)
        if self.channels_last:  # real images in D's layout too: no NCHW -> NHWC copy per batch
            self.data = perf.channels_last_data(self.data)
        hp = self.variant.hp
        # Fused Adam (CPU and CUDA), capturable when the step may become a CUDA graph.
        self._opt_options = optimizers.optimizer_options(hp["optimizer"], self.device,
                                                         capturable=perf.may_capture(self.config.perf, self.device))
        self.opt_g = optimizers.build(self.G.parameters(), hp, hp["lr_g"], **self._opt_options)
        self.opt_d = optimizers.build(self.D.parameters(), hp, hp["lr_d"], **self._opt_options)
        # Loss scaling, for a precision that asks for it (ganzoo.precisions): in ctx.backward / ctx.step.
        self.scaler = (torch.amp.GradScaler(self.device.type)
                       if precisions.get(self.config.precision).grad_scaler else None)
        # The EMA of G's weights (config.g_ema > 0): what sample() and evaluation use.
        self.g_average = WeightAverage(self.G, self.config.g_ema) if self.config.g_ema else None
        self.ranks_in_sync: Optional[bool] = None  # several processes: checked when fit() ends
        # The step runner (ganzoo.perf): built at the first fit(), which picks its perf mode by
        # trying each on a snapshot of the state; dropped when state is loaded.
        self.runner: Optional[perf.Runner] = None
        self.step = 0
        self.history = History()
        # False once a compact checkpoint (nets only, see ``state_dict``) is loaded: such a
        # trainer samples and is evaluated, but cannot train on (``fit`` says why).
        self.resumable = True
        self.loaded_from: Optional[Path] = None

    # ---- the step ----------------------------------------------------------------
    def autocast(self):
        """Autocast to the precision's dtype (ganzoo.precisions), or nothing."""
        return precisions.autocast_factory(self.config.precision, self.device)()

    def context(self) -> StepContext:
        sync = None
        if self.dist:
            world = self.dist.world_size
            sync = lambda opt: distributed.average_gradients(opt, world)  # noqa: E731
        return StepContext(G=self.G, D=self.D, opt_g=self.opt_g, opt_d=self.opt_d,
                           batch_size=self.config.batch_size, z_dim=self.config.z_dim,
                           num_classes=self.data.num_classes, real_batch=self.data.batch,
                           device=self.device, autocast=self.autocast, sync=sync, scaler=self.scaler)

    @functools.cached_property
    def logistic(self) -> bool:
        """Whether D's outputs are logistic logits, which can saturate (ganzoo.outcome)."""
        return outcome.logistic_discriminator(self.variant)

    @property
    def images_per_step(self) -> int:
        return self.variant.real_images_per_step(self.config.batch_size)

    # ---- the loop ----------------------------------------------------------------
    def fit(self, steps: Optional[int] = None, *, progress: bool = False,
            evaluate: Optional[Callable[["Trainer"], Dict[str, Any]]] = None,
            on_log: Optional[Callable[["Trainer"], None]] = None, save_at_end: bool = True) -> History:
        """Train until ``steps`` G steps in all (default: ``config.steps``); resumable.

        evaluate(trainer) -> metrics is called every ``config.eval_every`` steps and at
        the end; its time is kept apart from training time. A non-finite loss ends the
        run with status "diverged" and the step where it happened.
        """
        total = self._steps_to_fit(steps)
        cfg = self.config
        self.G.train()
        self.D.train()
        bar = _progress_bar(total, self.step, f"{self.variant.name} on {self.data.name}") if progress else None
        buffer: Optional[Tensor] = None
        pending = 0  # steps recorded in the buffer since the last read-back
        self.history.status, self.history.diverged_at = outcome.RUNNING, None
        self._sync()
        clock = _TrainingClock(self.history.train_s)
        slow_down = faults.step_delay()  # a test's simulated slower machine; 0 otherwise

        def due(every: int) -> bool:  # a schedule (eval_every, checkpoint_every) falls on this step
            return bool(every) and self.step % every == 0

        # The precision's TF32 / cuDNN flags while training, put back after (ganzoo.precisions).
        with precisions.precision_mode(cfg.precision, self.device) as precision, _closing(bar):
            while self.step < total:
                if slow_down:
                    time.sleep(slow_down)
                row = self._train_step(clock)
                if buffer is None:
                    self._init_keys(self.runner.keys)
                    rows = min(cfg.log_every, total - self.step)  # no more than this call can fill
                    buffer = torch.empty(rows, len(self.history.keys), device=self.device)
                buffer[pending] = row
                pending += 1
                self.step += 1
                if not (pending == cfg.log_every or self.step == total or due(cfg.eval_every)
                        or due(cfg.checkpoint_every)):
                    continue
                self._sync()
                self.history.train_s = clock.now()
                diverged = self._read_back(buffer[:pending])
                pending = 0
                if bar is not None:
                    bar.n = self.step
                    bar.set_postfix({k: f"{self.history.values[k][-1]:.3g}"
                                     for k in ("d_loss", "g_loss") if k in self.history.values}, refresh=True)
                if on_log is not None:
                    on_log(self)
                if diverged:
                    break
                do_eval = evaluate is not None and due(cfg.eval_every) and self.step < total
                # the end has its own save (save_at_end)
                do_save = self.checkpoint_path and due(cfg.checkpoint_every) and self.step < total
                if do_eval or do_save:  # not training time; the metrics' nets run at default precision
                    with clock.paused(), precision.paused():
                        if do_eval:
                            self._evaluate(evaluate)
                        if do_save:
                            self.save(self.checkpoint_path)
        return self._finish(total, evaluate, save_at_end)

    def _steps_to_fit(self, steps: Optional[int]) -> int:
        """The G step to train to, or why this trainer cannot train."""
        if not self.resumable:
            raise CheckpointError(
                f"checkpoint {self.loaded_from or ''} has no optimizer state: it is a compact "
                f"checkpoint (G and D only), as `ganzoo bench` writes into <results>/checkpoints/ "
                f"for evaluation and sampling only (`ganzoo eval`, `ganzoo sample`); it cannot "
                f"resume training. Resume from a full checkpoint written by `ganzoo train`, or "
                f"train the run again")
        total = steps if steps is not None else self.config.steps
        if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
            raise ConfigError(f"steps must be a positive integer, got {total!r}")
        return total

    def _train_step(self, clock: "_TrainingClock") -> Tensor:
        """One G step (after its D steps) in the run's perf mode, chosen at the first step of the
        first fit by trying each mode on a snapshot (ganzoo.perf); returns the logged values.
        The trials are not training time: the mode kept captures or compiles again in its first
        step, which is, as it always was."""
        try:
            if self.runner is None:
                with clock.paused():
                    self.runner = perf.Runner(self, "eager" if self.dist else self.config.perf)
            row = self.runner.step()  # one device tensor
        except perf.PerfError as err:
            self.history.status = outcome.run_status(self.history, error=err).status
            raise
        except Exception as err:  # the variant's (perhaps a plugin's) code: name it and the step
            self.history.status = outcome.run_status(self.history, error=err).status
            raise VariantError(self.variant.name, self.step + 1, err) from err
        if self.g_average is not None:
            self.g_average.update()
        if self.dist and self.variant.state:  # e.g. BEGAN's k_t, from each rank's losses
            distributed.average_tensors(self.variant.state.values(), self.dist.world_size)
        return row

    def _finish(self, total: int, evaluate, save_at_end: bool) -> History:
        """After the loop: ranks compared, the final evaluation, the status, the checkpoint."""
        if self.dist:
            self.ranks_in_sync = distributed.ranks_in_sync((self.G, self.D), self.variant.state.values())
        if self.history.diverged_at is None and evaluate is not None:  # reached its steps: the final evaluation
            self._evaluate(evaluate)
        self.history.status = outcome.run_status(self.history, finished=self.step >= total,
                                                 logistic=self.logistic).status
        if self.checkpoint_path and save_at_end:
            self.save(self.checkpoint_path)
        return self.history

    def _init_keys(self, keys: List[str]) -> None:
        keys = list(keys)
        if self.history.keys and self.history.keys != keys:
            raise RuntimeError(f"variant {self.variant.name!r} logged {keys}, earlier {self.history.keys}")
        self.history.keys = keys
        for k in keys:
            self.history.values.setdefault(k, [])

    def _read_back(self, rows: Tensor) -> bool:
        """Copy the buffered steps to the host history; True when a value is non-finite (under
        torchrun: on any rank; every rank then records the first such step)."""
        h = self.history
        host = rows.cpu()
        first = self.step - host.shape[0] + 1
        for j, k in enumerate(h.keys):
            h.values[k].extend(host[:, j].tolist())
        h.log_steps.append(self.step)
        h.log_train_s.append(h.train_s)
        h.real_images = self.step * self.images_per_step
        bad = ~torch.isfinite(host).all(dim=1)
        if bool(bad.any()):
            h.diverged_at = first + int(bad.nonzero()[0, 0])  # run_status reads it
        if self.dist:  # every rank stops, and says so, where any rank diverged first
            h.diverged_at = distributed.first_divergence(h.diverged_at, self.device)
        return h.diverged_at is not None

    def _evaluate(self, evaluate) -> None:
        t = time.perf_counter()
        # Whatever the metrics draw from torch's RNG (subsets, feature nets) must not move
        # the training stream: a run gives the same losses with or without evaluation.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            metrics = evaluate(self)
        self.history.eval_s += time.perf_counter() - t
        self.history.evals.append({"step": self.step, "train_s": self.history.train_s, **metrics})
        self.G.train()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # ---- results -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, labels: Optional[Tensor] = None, batch_size: int = 1000,
               seed: Optional[int] = None) -> Tensor:
        """``n`` generated samples on the device (labels: one per sample, conditional only).

        Uses its own RNG stream (``seed``, default the run's seed + 12345), so sampling
        does not disturb a resumable run and the same call gives the same samples.
        """
        if labels is not None and not self.variant.conditional:
            raise ConfigError(f"variant {self.variant.name!r} is not conditional; it takes no labels")
        if self.variant.conditional and labels is None:
            labels = torch.arange(n, device=self.device) % self.data.num_classes
        G = self.g_average.module if self.g_average is not None else self.G
        was_training = G.training
        G.eval()
        gen = torch.Generator(device=self.device).manual_seed(
            self.config.seed + 12345 if seed is None else seed)
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = torch.randn(m, self.config.z_dim, device=self.device, generator=gen)
            y = None if labels is None else labels[start:start + m].to(self.device)
            with precisions.precision_mode(self.config.precision, self.device), self.autocast():
                out.append(G(z, y).float())
        G.train(was_training)
        return torch.cat(out)

    # ---- checkpoints (ganzoo.checkpoints) -------------------------------------------
    def state_dict(self, optimizer: bool = True) -> Dict[str, Any]:
        """A full (``optimizer=True``) or compact checkpoint's contents (:func:`ganzoo.checkpoints.state_of`)."""
        return checkpoints.state_of(self, optimizer)

    def save(self, path, optimizer: bool = True) -> Path:
        """Write a checkpoint atomically (:func:`ganzoo.checkpoints.save`)."""
        return checkpoints.save(self, path, optimizer)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Load a full checkpoint (training resumes exactly) or a compact one (nets only: the
        trainer then samples and evaluates but refuses to ``fit``)."""
        checkpoints.load_into(self, state)

    def seed_rank(self, step: int) -> None:
        """Under torchrun, this rank's own RNG stream from ``step`` on (a resumed run's)."""
        seed_everything(distributed.rank_seed(self.config.seed, self.dist.rank, step))

    @classmethod
    def from_checkpoint(cls, path, data: Optional[TensorData] = None, expect: Optional[tuple] = None,
                        dist: Optional[distributed.Dist] = None, **config_overrides) -> "Trainer":
        """Rebuild a trainer from a checkpoint, ready to ``fit`` further or ``sample``.

        The dataset is loaded again from the checkpoint's record unless ``data`` is given.
        ``expect``: (variant, dataset) the caller means to resume; another pair is a
        :class:`CheckpointError`. A compact checkpoint (``ganzoo bench``'s, no optimizer
        state) gives a trainer that samples and is evaluated; its ``fit`` raises
        :class:`CheckpointError`.
        """
        path = Path(path)
        state = read_checkpoint(path)
        held = (state["variant"], state["dataset"].get("name"))
        if expect is not None and tuple(expect) != held:
            raise CheckpointError(f"--resume: {path} holds {held[0]} on {held[1]}, not {expect[0]} on "
                                  f"{expect[1]}; resume it with those names, or give this run another --out")
        cfg = dict(state["config"])
        cfg.update(config_overrides)
        if cfg.get("perf") == "graph" and "perf" not in config_overrides:
            try:  # a CUDA-graph run read where there is no CUDA (e.g. sampling on the CPU)
                if pick_device(cfg.get("device", "auto")).type != "cuda":
                    cfg["perf"] = "auto"
            except ConfigError:
                pass
        if data is None:
            from ganzoo.data import load

            spec = dict(state["dataset"])
            data = load(spec.pop("name"), **spec)
        trainer = cls(state["variant"], data, arch=state["arch"], config=TrainConfig.from_dict(cfg),
                      checkpoint_path=path, dataset_spec=state["dataset"], dist=dist)
        trainer.load_state_dict(state)
        trainer.loaded_from = path
        return trainer


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _closing(bar):
    """``with _closing(bar):`` closes a progress bar (or None) at the end of the block."""
    return contextlib.nullcontext() if bar is None else bar


class _TrainingClock:
    """Training seconds: wall time since the start of a fit, less the pauses (evaluation,
    checkpoints), on top of what earlier fits trained."""

    def __init__(self, before: float):
        self.before, self.start = before, time.perf_counter()

    def now(self) -> float:
        return self.before + time.perf_counter() - self.start

    @contextlib.contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.start += time.perf_counter() - t


def _progress_bar(total: int, initial: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True, leave=False)
