"""Executors run specs and hand back their records as they finish.

The interface is one method, :meth:`Executor.map`: it takes the specs to run and
yields ``(spec, record)`` in the order runs finish, launching a new run only while
``should_launch()`` says so (the time budget). :class:`LocalExecutor` runs them in
this process (``workers=1``) or in a pool of worker processes, each limited to
``threads`` torch threads, so that independent runs use every core without
fighting over them. A distributed engine implements the same method.

With ``run_timeout_s`` set, runs always go to worker processes (one is enough): a run
that is still going after that long -- a plugin whose step hangs -- has its worker
killed and is recorded ``failed`` with ``failure = "timeout"``; the runs in flight
beside it start again, and the suite goes on. A worker dies with its parent
(``PR_SET_PDEATHSIG`` on Linux), so a bench killed by SIGKILL leaves no run training on.

Worker processes are started with ``spawn`` (safe with torch's thread pools); they
see the variants that importing ganzoo registers, plugins included, but not a
variant registered by hand in the parent process: use ``workers=1`` and no
``run_timeout_s`` for those.
"""
from __future__ import annotations

import abc
import multiprocessing as mp
import os
import queue
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

from ganzoo.bench.suite import RunSpec
from ganzoo.errors import ConfigError

MAX_DEATHS = 2  # a run in flight when a worker dies is retried once, then recorded failed
START_GRACE_S = 120.0  # a worker's start-up (spawn, imports), when its start signal never came

# Progress events: ("start", run_id, 0, total) and ("step", run_id, step, total).
EventFn = Callable[[str, str, int, int], None]


class Executor(abc.ABC):
    """Runs :class:`RunSpec` s; see the module docstring."""

    workers: int = 1

    @abc.abstractmethod
    def map(self, specs: Iterable[RunSpec], *, out_dir: str, env: Dict[str, Any],
            should_launch: Callable[[], bool] = lambda: True,
            on_event: Optional[EventFn] = None) -> Iterator[Tuple[RunSpec, Dict[str, Any]]]:
        """Yield (spec, record) as runs finish; stop launching when ``should_launch()`` is False."""


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only settable before the first parallel work
            pass


# ---- worker side -----------------------------------------------------------------
_EVENTS: Optional[Any] = None


def _worker_init(events, threads: int, parent: int) -> None:
    global _EVENTS
    _EVENTS = events
    _die_with_parent(parent)
    _set_threads(threads)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (elsewhere: nothing). The parent
    may have died already, while this worker was still importing torch: then exit now."""
    import os

    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_progress(run_id: str, step: int, total: int, kind: str = "step") -> None:
    if _EVENTS is not None:
        try:
            _EVENTS.put_nowait((kind, run_id, step, total))
        except Exception:  # progress is best effort
            pass


def _worker_run(spec: RunSpec, out_dir: str, env: Dict[str, Any]) -> Dict[str, Any]:
    from ganzoo.bench.runner import run_spec

    _worker_progress(spec.run_id, 0, spec.steps, kind="running")  # the run's clock starts here
    return run_spec(spec, out_dir, env, progress=_worker_progress)


class LocalExecutor(Executor):
    """Runs on this machine: in-process for ``workers=1``, else a pool of worker processes."""

    def __init__(self, workers: int = 1, threads: int = 0, run_timeout_s: float = 0.0):
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self.run_timeout_s = run_timeout_s

    def map(self, specs, *, out_dir, env, should_launch=lambda: True, on_event=None):
        if self.workers == 1 and not self.run_timeout_s:
            yield from self._in_process(specs, out_dir, env, should_launch, on_event)
        else:
            yield from self._pool(specs, out_dir, env, should_launch, on_event)

    def _in_process(self, specs, out_dir, env, should_launch, on_event):
        from ganzoo.bench.runner import run_spec

        _set_threads(self.threads)
        emit = on_event or (lambda *a: None)
        for spec in specs:
            if not should_launch():
                return
            emit("start", spec.run_id, 0, spec.steps)
            record = run_spec(spec, out_dir, env, progress=lambda r, s, t: emit("step", r, s, t))
            yield spec, record

    def _pool(self, specs, out_dir, env, should_launch, on_event):
        ctx = mp.get_context("spawn")
        began: Dict[str, float] = {}  # run_id -> when its worker started it
        submitted: Dict[str, float] = {}  # run_id -> when it was handed to the pool

        def emit(kind, run_id, step, total):
            if kind == "running":
                began[run_id] = time.monotonic()
            elif on_event is not None:
                on_event(kind, run_id, step, total)

        todo = deque(specs)
        pool, events = self._new_pool(ctx)
        inflight: Dict[Any, RunSpec] = {}
        deaths: Dict[str, int] = {}  # run_id -> times its worker pool broke under it
        died: Dict[str, RunSpec] = {}
        try:
            while todo or inflight:
                while todo and len(inflight) < self.workers and should_launch():
                    spec = todo.popleft()
                    try:
                        fut = pool.submit(_worker_run, spec, str(out_dir), env)
                    except BrokenProcessPool:
                        todo.appendleft(spec)
                        pool, events = self._new_pool(ctx)
                        continue
                    inflight[fut] = spec
                    submitted[spec.run_id] = time.monotonic()
                    emit("start", spec.run_id, 0, spec.steps)
                if not inflight:
                    return  # the budget stops further launches
                done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(events, emit)
                broken: Dict[str, Optional[BaseException]] = {}
                for fut in done:
                    spec = inflight.pop(fut)
                    began.pop(spec.run_id, None)
                    try:
                        record = fut.result()
                    except BrokenProcessPool as err:
                        broken[spec.run_id] = err
                        died[spec.run_id] = spec
                        continue
                    yield spec, record
                late = self._overdue(inflight, began, submitted)
                if late and not broken:  # past its time limit: kill the pool; the others start again
                    _kill(pool)
                    for spec in inflight.values():
                        began.pop(spec.run_id, None)
                        if spec.run_id not in late:
                            todo.appendleft(spec)
                    inflight.clear()
                    pool, events = self._new_pool(ctx)  # a killed worker may hold the old queue's lock
                    for spec in late.values():
                        yield spec, _timed_out(spec, env, self.run_timeout_s)
                    continue
                if broken:  # a worker died (e.g. killed for memory): every run in flight died with the pool
                    for fut, spec in list(inflight.items()):
                        broken[spec.run_id] = None
                        died[spec.run_id] = spec
                    inflight.clear()
                    for run_id in broken:
                        began.pop(run_id, None)
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool, events = self._new_pool(ctx)
                    # Which run killed it is unknown: each gets MAX_DEATHS tries before it is recorded failed.
                    for run_id, err in broken.items():
                        spec = died[run_id]
                        deaths[run_id] = deaths.get(run_id, 0) + 1
                        if deaths[run_id] >= MAX_DEATHS:
                            yield spec, _died(spec, env, err)
                        else:
                            todo.appendleft(spec)
        finally:
            if inflight:  # interrupted: do not leave workers training in the background
                _kill(pool)
            else:
                pool.shutdown(wait=True, cancel_futures=True)

    def _overdue(self, inflight: Dict[Any, RunSpec], began: Dict[str, float],
                 submitted: Dict[str, float]) -> Dict[str, RunSpec]:
        """The runs in flight that have been running longer than ``run_timeout_s`` (from
        their worker's start signal; without one, from submission plus a grace for a
        worker's start-up, so that a run whose signal was lost cannot run forever)."""
        if not self.run_timeout_s:
            return {}
        t = time.monotonic()
        return {s.run_id: s for s in inflight.values()
                if t - began.get(s.run_id, submitted.get(s.run_id, t) + START_GRACE_S) > self.run_timeout_s}

    def _new_pool(self, ctx):
        """A fresh pool and its own progress queue (a worker killed while writing to a queue
        can leave its lock held, so a killed pool's queue is never reused)."""
        events = ctx.Queue()
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                   initializer=_worker_init, initargs=(events, self.threads, os.getpid()))
        return pool, events


def _kill(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down and kill its processes now (runs in flight are lost)."""
    # Taken before shutdown, which forgets them (``_processes`` becomes None).
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.kill()


def _drain(events, emit) -> None:
    while True:
        try:
            ev = events.get_nowait()
        except (queue.Empty, OSError, EOFError):
            return
        emit(*ev)


def failed_record(spec: RunSpec, env: Dict[str, Any], error: str, wall_s: Optional[float] = None,
                  **extra: Any) -> Dict[str, Any]:
    """The record of a run that ended without a record of its own (timeout, dead worker)."""
    from ganzoo.bench.record import Timing
    from ganzoo.bench.runner import base_record, now

    rec = base_record(spec, env)
    rec.timing = Timing(finished=now(), wall_s=wall_s)
    rec.fail(error, None, **extra)
    return rec.to_dict()


def _timed_out(spec: RunSpec, env: Dict[str, Any], limit_s: float) -> Dict[str, Any]:
    return failed_record(spec, env, f"timeout: the run was still going after run_timeout_minutes = "
                                    f"{limit_s / 60:g} and was stopped (its worker process killed); the "
                                    f"suite went on", wall_s=limit_s, failure="timeout")


def _died(spec: RunSpec, env: Dict[str, Any], err: Optional[BaseException]) -> Dict[str, Any]:
    return failed_record(spec, env, f"the worker process running this run died, {MAX_DEATHS} times (killed, "
                                    "or out of memory; a run in flight beside it may have been the cause)"
                                    + (f": {err}" if err else ""))
