"""How the trainer runs one training iteration: eager, compiled, or as one CUDA graph.

``TrainConfig.perf`` / ``--perf`` picks the mode:

- ``eager``: the variant's ``train_step`` as written, kernel after kernel.
- ``compile``: the same step with G and D through :func:`torch.compile` (inductor).
  Variants that differentiate D twice (gradient penalties, unrolled D updates) are refused
  by aot_autograd ("does not currently support double backward"), so the mode is not tried
  for them (:func:`compile_refusal`): a compile that is bound to fail costs tens of seconds.
- ``graph``: the whole iteration — n_critic D steps, penalties, the G step, the RNG
  draws and the logged values — captured once as a CUDA graph and replayed
  (:mod:`torch.cuda.graphs`). A GAN step at small batch is a few hundred small kernels;
  launched one by one from Python, the launches, not the arithmetic, set the speed.
  CUDA only.
- ``auto`` (default): ``graph`` → ``compile`` → ``eager`` on CUDA, ``eager`` elsewhere.

The mode is chosen once, before the first step (:class:`Runner`): each mode of the chain
in turn is *tried* on the trainer's state, then a :class:`Snapshot` puts that state back
(tensors, optimizer state, the variant's state and Python attributes, the loss scaler,
every RNG). The first mode whose trial passes trains from the untouched state, so a run's
losses never depend on the modes tried before it; each mode given up leaves a one-line
notice (under an explicit mode, not ``auto``, a failed trial is a :class:`PerfError`).
Nothing falls back in the middle of a run. What a trial checks:

  * ``compile``: one compiled step runs (a compiler failure shows at the first one);
  * ``graph``: its warm-up steps run eagerly; a step that changes plain Python state of
    the variant or the nets between calls (a counter, a schedule kept in a float) cannot
    be captured, since a graph replays the Python decisions made at capture time:
    detected, and the mode is refused (a variant may also declare ``graph_safe = False``);
    after capture, one replay is checked against an eager step from the same state (same
    RNG draws: the philox offsets of a replay line up with eager ones) and the mode is
    refused when logged values or parameters differ beyond rounding. The run then warms
    up and captures again from the restored state: the same steps from the same state as
    the trial checked, so its replay is not checked a second time.
  * ``eager`` has nothing to prove and is not tried.

A runner's ``step()`` returns one *row*: the step's logged values stacked into a 1-D
float32 tensor on the device, in the order of ``runner.keys``. The trainer copies it
into its history buffer; nothing is read back to the host inside the loop.

channels_last for conv nets on CUDA lives here too. A precision's CUDA flags and autocast
are in :mod:`ganzoo.precisions`, the optimizers' implementation flags (fused, capturable:
see :func:`may_capture`) in :mod:`ganzoo.optimizers`.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import random
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ganzoo import precisions
from ganzoo.errors import ConfigError
from ganzoo.registry import Registry

GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capture (cuBLAS/cuDNN setup, lazy optimizer state)

logger = logging.getLogger("ganzoo.perf")


class PerfError(ConfigError):
    """No perf mode is left to run this variant here: a mode asked for explicitly (not
    ``auto``), or the last of the chain, failed its trial; or a mode failed in the run a
    check that its trial passed."""


class PerfUnavailable(RuntimeError):
    """A perf mode cannot run this variant here (found when it is built or tried);
    ``auto`` moves on to the next mode."""

    def __init__(self, mode: str, reason: str):
        super().__init__(f"perf mode {mode!r} unavailable: {reason}")
        self.mode, self.reason = mode, reason


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def get_mode(mode: str) -> "PerfMode":
    if mode not in PERF_MODES:
        raise ConfigError(f"perf must be one of {', '.join(PERF_MODES.names())}, got {mode!r}")
    return PERF_MODES.get(mode)


def chain(mode: str, device: torch.device) -> Sequence[str]:
    """The modes tried, in order, for ``mode`` on ``device``."""
    entry = get_mode(mode)
    if entry.tries is not None:
        return entry.tries.get(device.type, ("eager",))
    return (mode,)


def check_mode(mode: str, device: torch.device) -> None:
    """A clear error for a mode that cannot run on this device at all."""
    entry = get_mode(mode)
    if entry.devices is not None and device.type not in entry.devices:
        raise ConfigError(f"perf {mode!r} {entry.description} and needs a {' or '.join(d.upper() for d in entry.devices)} device; "
                          f"this run is on {device.type}. Use perf eager, compile or auto (auto runs "
                          f"eagerly there)")


def may_capture(mode: str, device: torch.device) -> bool:
    """Whether a run under ``mode`` on ``device`` may capture its step as a CUDA graph: its
    optimizers are then built ``capturable`` (:func:`ganzoo.optimizers.optimizer_options`)."""
    return device.type == "cuda" and "graph" in chain(mode, device)


# ---- memory layout ----------------------------------------------------------------
def has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def prepare_nets(G: nn.Module, D: nn.Module, device: torch.device) -> bool:
    """channels_last for conv nets on CUDA (tensor cores read NHWC). True when applied."""
    if device.type != "cuda" or not (has_conv(G) or has_conv(D)):
        return False
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    return True


def channels_last_data(data):
    """``data`` (a :class:`~ganzoo.data.base.TensorData`) with its images channels_last, the
    layout of nets that :func:`prepare_nets` converted: batches gathered from it keep that
    layout, so D's first convolution reads them without a layout copy. Other data as is."""
    if data.x.dim() != 4:
        return data
    return replace(data, x=data.x.contiguous(memory_format=torch.channels_last))


# ---- state: snapshot / restore, Python-side state ------------------------------------
class Snapshot:
    """A copy of everything a training step changes — parameters, buffers, optimizer
    state, the variant's ``state`` tensors, RNG states, and (when given) the plain Python
    attributes of ``variant`` and of the modules (those :func:`python_state` reads) and a
    loss ``scaler``'s state — that :meth:`restore` writes back. Tensors are written back
    *in place* (same tensors, so a captured CUDA graph stays valid). Optimizer state
    created after the snapshot (the lazy first step) is dropped on restore, and so are
    Python attributes set after it."""

    def __init__(self, modules: Iterable[nn.Module], optimizers: Iterable[torch.optim.Optimizer],
                 device: torch.device, tensors: Iterable[Tensor] = (), variant: Any = None,
                 scaler: Optional[torch.amp.GradScaler] = None):
        self.device = device
        self.pairs: List[tuple] = []
        seen = set()

        def keep(t: Tensor) -> None:
            if id(t) not in seen:
                seen.add(id(t))
                self.pairs.append((t, t.detach().clone()))

        modules = list(modules)
        for m in modules:
            for t in m.parameters():
                keep(t)
            for t in m.buffers():
                keep(t)
        for t in tensors:  # the variant's own state (``Variant.state``)
            keep(t)
        self.optimizers = list(optimizers)
        self.opt_state = []
        for opt in self.optimizers:
            saved = {}
            for p, st in opt.state.items():
                saved[p] = set(st)
                for v in st.values():
                    if torch.is_tensor(v):
                        keep(v)
            self.opt_state.append(saved)
        self.attributes = [(obj, public, _attributes(obj, public)) for obj, public in _python_objects(variant, modules)]
        self.scaler = scaler
        self.scaler_state = scaler.state_dict() if scaler is not None else None
        self.rng = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
                    torch.cuda.get_rng_state(device) if device.type == "cuda" else None)

    @torch.no_grad()
    def restore(self) -> None:
        for opt, saved in zip(self.optimizers, self.opt_state):
            for p in list(opt.state):
                if p not in saved:
                    del opt.state[p]
                else:
                    for k in set(opt.state[p]) - saved[p]:
                        del opt.state[p][k]
        for live, copy_ in self.pairs:
            live.copy_(copy_)
        for obj, public, saved in self.attributes:
            _put_back(obj, public, saved)
        if self.scaler is not None:
            self.scaler.load_state_dict(self.scaler_state)
            self.scaler._per_optimizer_states.clear()  # a step stopped half-way: no optimizer is "unscaled"
        torch.set_rng_state(self.rng[0])
        np.random.set_state(self.rng[1])
        random.setstate(self.rng[2])
        if self.rng[3] is not None:
            torch.cuda.set_rng_state(self.rng[3], self.device)


_PLAIN = (bool, int, float, str, bytes, type(None))


def _fingerprint(value: Any, depth: int = 0) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)) and depth < 3:
        return tuple(_fingerprint(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 3:
        return tuple((k, _fingerprint(v, depth + 1)) for k, v in value.items())
    return ("object", id(value))  # tensors and other objects: the same one must stay


def _python_objects(variant: Any, modules: Sequence[nn.Module]) -> List[Tuple[Any, bool]]:
    """(object, public attributes only) for the variant and every submodule of the nets."""
    out = [(variant, False)] if variant is not None else []
    return out + [(m, True) for module in modules for m in module.modules()]


def _attributes(obj: Any, public: bool) -> Dict[str, Any]:
    """``obj``'s attributes (``public``: those not starting with ``_``): a deep copy of plain
    values (numbers, strings and containers of them), the object itself for anything else
    (tensors among them are restored in place)."""
    return {k: copy.deepcopy(v) if _is_plain(v) else v
            for k, v in vars(obj).items() if not (public and k.startswith("_"))}


def _is_plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)) and depth < 3:
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 3:
        return all(_is_plain(v, depth + 1) for v in value.values())
    return False


def _put_back(obj: Any, public: bool, saved: Dict[str, Any]) -> None:
    """Set ``obj``'s attributes as ``saved`` holds them (see :func:`_attributes`): changed
    ones back, new ones removed; unchanged ones keep their identity."""
    now = vars(obj)
    for k in [k for k in now if k not in saved and not (public and k.startswith("_"))]:
        delattr(obj, k)
    for k, v in saved.items():
        if k not in now or _fingerprint(now[k]) != _fingerprint(v):  # by value, or by identity
            setattr(obj, k, copy.deepcopy(v) if _is_plain(v) else v)


def python_state(variant: Any, modules: Iterable[nn.Module]) -> Dict[str, Any]:
    """The plain Python values a step could read: the variant's attributes (its ``state``
    dict included) and the public attributes of every submodule. Tensors count by
    identity (updated in place is fine for a graph; replaced is not)."""
    state = {f"variant.{k}": _fingerprint(v) for k, v in vars(variant).items()}
    for i, module in enumerate(modules):
        for name, m in module.named_modules():
            for k, v in vars(m).items():
                if not k.startswith("_"):
                    state[f"net{i}.{name}.{k}"] = _fingerprint(v)
    return state


def changed_keys(before: Dict[str, Any], after: Dict[str, Any]) -> List[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k, before) != after.get(k, after))


# ---- rows of logged values ------------------------------------------------------------
class LogRow:
    """Stacks a step's logs (name -> 0-d device tensor) into one float32 row.

    The first call fixes ``keys``; later steps must log the same names in the same order.
    """

    def __init__(self, variant_name: str = "variant"):
        self.keys: Optional[List[str]] = None
        self.name = variant_name

    def __call__(self, logs: Dict[str, Tensor]) -> Tensor:
        keys = list(logs)
        if self.keys is None:
            self.keys = keys
        elif keys != self.keys:
            raise RuntimeError(f"variant {self.name!r} logged {keys}, earlier {self.keys}")
        values = list(logs.values())
        try:  # fast path: 0-d float32 tensors, one kernel
            row = torch.stack(values)
            if row.dtype == torch.float32 and row.dim() == 1:
                return row
        except RuntimeError:
            pass
        return torch.stack([v.detach().float().reshape(()) for v in values])


# ---- runners ----------------------------------------------------------------------
class EagerRunner:
    """The variant's step as written.

    The runner protocol (what :class:`Runner` calls): ``step()`` trains one iteration and
    returns its row; ``trial()`` runs what shows whether the mode works here (raising
    :class:`PerfUnavailable` when it does not), on state that the caller snapshots before
    and restores after; ``rewind()`` then readies the runner to train from that restored
    state. ``has_trial = False``: the mode has nothing to prove and is not tried.
    """

    mode = "eager"
    has_trial = False

    def __init__(self, trainer, row: LogRow, ctx=None):
        self.trainer = trainer
        self.variant = trainer.variant
        self.row = row
        self.ctx = ctx if ctx is not None else trainer.context()

    @property
    def keys(self) -> Optional[List[str]]:
        return self.row.keys

    def eager_step(self) -> Tensor:
        return self.row(self.variant.train_step(self.ctx))

    def step(self) -> Tensor:
        return self.eager_step()

    def trial(self) -> None:
        self.step()

    def rewind(self) -> None:
        pass

    def snapshot(self) -> Snapshot:
        """Everything a step changes (see :class:`Snapshot`)."""
        t = self.trainer
        return Snapshot((t.G, t.D), (t.opt_g, t.opt_d), t.device, tensors=t.variant.state.values(),
                        variant=t.variant, scaler=getattr(t, "scaler", None))


def compile_refusal(variant) -> str:
    """Why :func:`torch.compile` cannot run ``variant``'s step, or '' when it may.

    aot_autograd does not differentiate a compiled graph twice ("torch.compile with
    aot_autograd does not currently support double backward"), and a step that does so
    fails only after the compiler has spent tens of seconds on it. Declared, not probed:
    a variant with a ``d_penalty`` (every gradient penalty is a double backward through D)
    or one that declares ``double_backward = True`` (e.g. unrolled D updates).
    """
    from ganzoo.variants.base import Variant

    cls = variant if isinstance(variant, type) else type(variant)  # a variant or its class
    name = cls.registered_name or cls.__name__
    if getattr(cls, "double_backward", False):
        return f"variant {name!r} differentiates through a gradient (double backward)"
    if getattr(cls, "d_penalty", Variant.d_penalty) is not Variant.d_penalty:
        return f"variant {name!r} has a gradient penalty (a double backward through D)"
    return ""


class CompileRunner(EagerRunner):
    """G and D through :func:`torch.compile`; the step's Python (losses, optimizer
    calls) stays eager. The trainer's own G and D stay uncompiled for sampling and
    evaluation (they share the parameters). Not built for a step with a double backward
    (:func:`compile_refusal`), which aot_autograd refuses."""

    mode = "compile"
    has_trial = True  # the first compiled step (compiling it)

    def __init__(self, trainer, row: LogRow, **compile_options):
        refusal = compile_refusal(trainer.variant)
        if refusal:
            raise PerfUnavailable(self.mode, f"{refusal}, which torch.compile (aot_autograd) does not support")
        G = torch.compile(trainer.G, **compile_options)
        D = torch.compile(trainer.D, **compile_options)
        super().__init__(trainer, row, ctx=replace(trainer.context(), G=G, D=D))

    def trial(self) -> None:
        try:
            self.eager_step()
            if self.trainer.device.type == "cuda":
                torch.cuda.synchronize(self.trainer.device)
        except Exception as err:  # noqa: BLE001  (any failure of the compiler stack)
            raise PerfUnavailable(self.mode, f"torch.compile failed: {first_line(err)}") from err


class CudaGraphBackend:
    """Capture and replay with :class:`torch.cuda.CUDAGraph`."""

    def __init__(self, device: torch.device):
        self.device = device
        self.graph = None
        self.side = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def warmup_stream(self):
        """Eager warm-up on a side stream, as torch.cuda.graphs advises."""
        current = torch.cuda.current_stream(self.device)
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):
            yield
        current.wait_stream(self.side)

    def capture(self, fn: Callable[[], Tensor]) -> Tensor:
        torch.cuda.synchronize(self.device)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            out = fn()
        torch.cuda.synchronize(self.device)
        return out

    def replay(self) -> None:
        self.graph.replay()

    def reset(self) -> None:
        """Drop the captured graph (and with it its memory pool)."""
        self.graph = None


class GraphRunner(EagerRunner):
    """The whole iteration as one CUDA graph: warm-up steps, capture, then replays.

    Its trial runs the warm-up steps, the capture and one replay checked against the
    eager step; :meth:`rewind` then drops that graph, and the run warms up and captures
    again from the restored state (the graph must hold the run's own optimizer state,
    which the restore dropped), without a second check: these are the steps the trial
    checked, from the same state. A check that fails after the trial has nothing left
    to fall back on and is a :class:`PerfError`.
    """

    mode = "graph"
    has_trial = True

    def __init__(self, trainer, row: LogRow, backend: Any = None, warmup: int = GRAPH_WARMUP_STEPS,
                 verify: bool = True, backend_factory: Optional[Callable[[Callable[[], Snapshot]], Any]] = None):
        if getattr(trainer.variant, "graph_safe", True) is False:
            raise PerfUnavailable(self.mode, f"variant {trainer.variant.name!r} declares graph_safe = False")
        if precisions.get(trainer.config.precision).grad_scaler:  # its step reads found-inf on the host
            raise PerfUnavailable(self.mode, f"precision {trainer.config.precision!r} scales losses")
        ctx = replace(trainer.context(), autocast=precisions.autocast_factory(trainer.config.precision,
                                                                              trainer.device, cache=False))
        super().__init__(trainer, row, ctx=ctx)
        if backend_factory is not None:  # e.g. a test's stand-in for CUDA graphs (tests/perf_doubles.py)
            backend = backend_factory(self.snapshot)
        elif backend is None:
            backend = CudaGraphBackend(trainer.device)
        self.backend = backend
        self.warmup = max(2, warmup)
        self.warmed = 0
        self.verify = verify
        self.trialled = False  # True once rewound after its trial: a failed check is then an error
        self.static: Optional[Tensor] = None
        self._state0 = None

    def _python_state(self):
        t = self.trainer
        return python_state(self.variant, (t.G, t.D))

    def step(self) -> Tensor:
        if self.static is not None:
            self.backend.replay()
            return self.static
        if self.warmed < self.warmup:
            with self.backend.warmup_stream():
                out = self.eager_step()
            self.warmed += 1
            if self.warmed == 1:  # after the first step, so that lazy set-up does not count
                self._state0 = self._python_state()
            return out
        return self._capture()

    def trial(self) -> None:
        while self.static is None:
            self.step()

    def rewind(self) -> None:
        self.backend.reset()
        self.static, self._state0, self.warmed = None, None, 0
        self.verify, self.trialled = False, True

    def _refuse(self, reason: str) -> Exception:
        if self.trialled:
            return PerfError(f"perf mode {self.mode!r} passed its trial but not in the run ({reason}); "
                             f"use perf eager")
        return PerfUnavailable(self.mode, reason)

    def _capture(self) -> Tensor:
        changed = changed_keys(self._state0, self._python_state())
        if changed:
            raise self._refuse(f"the step changes Python-side state a graph would freeze "
                               f"({', '.join(changed[:3])}); set graph_safe = False on the variant")
        t = self.trainer
        for opt in (t.opt_d, t.opt_g):
            opt.zero_grad(set_to_none=True)
        try:
            static = self.backend.capture(self.eager_step)
        except Exception as err:  # noqa: BLE001  (whatever broke the capture)
            raise self._refuse(f"capture failed: {first_line(err)}") from err
        if not self.verify:
            self.static = static
            self.backend.replay()
            return static
        # One replay against one eager step from the same state (same RNG offsets).
        snap = self.snapshot()
        params = [p for m in (t.G, t.D) for p in m.parameters()]
        before = [p.detach().clone() for p in params]
        self.backend.replay()
        got = static.clone()
        got_params = [p.detach().clone() for p in params]
        snap.restore()
        want = self.eager_step()
        problem = compare_step(got, want, before, got_params, params, self.row.keys or [],
                               tolerance(t.config.precision))
        if problem:
            raise self._refuse(f"a replay differs from the eager step: {problem}")
        self.static = static
        return want


def tolerance(precision: str) -> float:
    return precisions.get(precision).replay_tolerance


def compare_step(got: Tensor, want: Tensor, before: List[Tensor], got_params: List[Tensor],
                 params: List[Tensor], keys: List[str], tol: float) -> str:
    """'' when a replay's logs and parameter updates match the eager step's, else what differs.

    Logs: relative and absolute tolerance ``tol``. Parameters: the replay's update
    (after − before) against the eager one, relative to the eager update's norm."""
    got, want = got.float().cpu(), want.float().cpu()
    bad = ~torch.isclose(got, want, rtol=tol, atol=tol, equal_nan=True)
    if bool(bad.any()):
        j = int(bad.nonzero()[0, 0])
        name = keys[j] if j < len(keys) else str(j)
        return f"{name}: replay {got[j].item():.6g} vs eager {want[j].item():.6g}"
    for i, (b0, a, b) in enumerate(zip(before, got_params, params)):
        b = b.detach()
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            if torch.equal(a.isfinite(), b.isfinite()):
                continue  # diverged alike
            return f"parameter {i}: finite in one, not in the other"
        step = (b.float() - b0.float()).norm().item()
        diff = (a.float() - b.float()).norm().item()
        if not diff <= tol * step + 1e-7 * (b0.float().norm().item() + 1.0):
            return f"parameter {i}: update differs by {diff / (step + 1e-30):.3g} of its size"
    return ""


class Runner:
    """What the trainer calls: the perf mode, chosen once when it is built, and its runner.

    Building it walks the chain (``auto``: graph, compile, eager on CUDA). Each mode's
    runner is built (a declared refusal, e.g. ``graph_safe = False``, raises there) and,
    where it has something to prove, tried on a :class:`Snapshot` of the training state
    that is restored after the trial, pass or fail; the first mode that works is kept and
    trains from the untouched state. ``step()`` runs that mode and nothing else.

    ``mode`` is the mode in use; ``notices`` lists one line per mode given up. ``modes``
    overrides the chain; ``graph_backend`` (``snapshot -> backend``) replaces the CUDA
    graph under the graph mode, so that tests run that mode's code path on any machine
    (tests/perf_doubles.py); ``builders`` replaces the runner class of a mode
    (``(trainer, row) -> runner``, see :class:`EagerRunner` for what a runner does).
    """

    def __init__(self, trainer, mode: str, *, modes: Optional[Sequence[str]] = None,
                 graph_backend: Optional[Callable] = None, builders: Optional[Dict[str, Callable]] = None):
        self.trainer = trainer
        self.requested = mode
        self.chain = tuple(modes if modes is not None else chain(mode, trainer.device))
        self.row = LogRow(trainer.variant.name)
        self.builders: Dict[str, Callable] = {name: m.runner for name, m in PERF_MODES.items() if m.runner}
        if graph_backend:
            self.builders["graph"] = lambda t, row: GraphRunner(t, row, backend_factory=graph_backend)
        self.builders.update(builders or {})
        self.notices: List[str] = []
        self.current = self._choose()

    @property
    def mode(self) -> str:
        return self.current.mode

    @property
    def keys(self) -> Optional[List[str]]:
        return self.row.keys

    def step(self) -> Tensor:
        return self.current.step()

    def _choose(self):
        """The runner of the first mode of the chain that builds and passes its trial."""
        for i, mode in enumerate(self.chain):
            try:
                return self._try(mode)
            except PerfUnavailable as failure:
                if self.requested != "auto" or i + 1 == len(self.chain):
                    raise PerfError(f"{failure}. Use perf 'auto' to fall back, or 'eager'") from failure
                note = (f"perf: {failure.mode} off for {self.trainer.variant.name} "
                        f"({failure.reason}); using {self.chain[i + 1]}")
                logger.warning(note)
                self.notices.append(note)
        raise PerfError(f"perf {self.requested!r}: no mode to run")

    def _try(self, mode: str):
        """``mode``'s runner, built, tried on a snapshot that is restored after, and rewound
        to train from that state; :class:`PerfUnavailable` when it cannot run here."""
        runner = self.builders[mode](self.trainer, self.row)
        if not runner.has_trial:
            return runner
        t = self.trainer
        snap = runner.snapshot()
        try:
            with precisions.precision_mode(t.config.precision, t.device):  # as the run will train
                runner.trial()
        except PerfUnavailable:
            raise
        except Exception as err:  # noqa: BLE001  (a fault of the variant's own code shows again in eager)
            raise PerfUnavailable(mode, f"its trial step failed: {first_line(err)}") from err
        finally:
            snap.restore()
        runner.rewind()
        return runner


# ---- the perf modes ----------------------------------------------------------------
@dataclass(frozen=True)
class PerfMode:
    """One way to run a training iteration (``--perf NAME``; see the module docstring)."""

    description: str
    runner: Optional[Callable] = None  # (trainer, row) -> runner; None for a mode that picks others
    tries: Optional[Dict[str, Tuple[str, ...]]] = None  # device type -> modes tried in order (auto)
    devices: Optional[Tuple[str, ...]] = None  # device types it runs on; None: any
    distributed: bool = True  # runs one process of several under torchrun


PERF_MODES: Registry = Registry("perf mode")
PERF_MODES.register("eager", PerfMode("runs the variant's step as written", runner=EagerRunner))
PERF_MODES.register("compile", PerfMode("compiles G and D with torch.compile", runner=CompileRunner,
                                        distributed=False))
PERF_MODES.register("graph", PerfMode("captures the whole iteration as one CUDA graph", runner=GraphRunner,
                                      devices=("cuda",), distributed=False))
# Anything not listed in ``tries`` runs eagerly.
PERF_MODES.register("auto", PerfMode("the first mode that works: CUDA graph, then compile, then eager on CUDA; "
                                     "eager elsewhere", tries={"cuda": ("graph", "compile", "eager")}))
