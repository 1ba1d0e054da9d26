"""Suites on a Ray cluster: each run one Ray task (https://docs.ray.io).

``ganzoo bench SUITE --executor ray [--address ADDR]``. Without an address Ray starts a
local cluster on this machine (the embedded default: ``workers × num_cpus`` CPUs); with one
(``auto`` for a cluster started by ``ray start``, or ``ray://HOST:10001``) the bench joins
that cluster. Ray is an optional extra (``pip install 'ganzoo[ray]'``); ganzoo imports
without it.

- **The store stays the driver's.** A task runs :func:`ganzoo.bench.runner.run_spec` on
  some node and returns the run's record; the driver, the one process that owns
  ``runs.jsonl``, appends it. So the store's guarantees hold unchanged: atomic appends,
  resume by run_id, no duplicates. An interrupted Ray bench resumes like a local one (the
  same command again); a local cluster ends with its driver.
- **A worker that dies** (killed, out of memory) fails its task: Ray retries it once (as
  the local pool retries a run once), then the run is recorded ``failed`` and the rest go on.
  A kill by Ray's memory monitor counts against ``task_oom_retries``, not ``max_retries``:
  a local cluster is started with it set to 1 too; on a cluster of your own, start it with
  ``RAY_task_oom_retries=1`` (Ray's default retries such a task without limit).
  A run past ``run_timeout_minutes`` is cancelled and recorded ``failed`` (timeout).
- **Resources** per task: the suite's ``[ray]`` table, ``num_cpus`` (default: the suite's
  ``threads_per_worker``, at least 1; also the task's torch threads) and ``num_gpus``
  (default 1 when the cluster has GPUs, else 0). At most ``workers`` runs are in flight, and
  no more than the cluster can host together. Each record names the node's machine.
- **Files** a run writes (its samples, compact checkpoint and partial checkpoints) go to
  the results folder as its node sees it: on a cluster of several machines that folder
  must be on a shared file system (docs/scaling.md). Feature extractors are prepared once
  by the driver (beside the first runs), into ``GANZOO_CACHE``; a node that does not share that
  cache trains its own once (the cache's per-set lock), so once per node, not per task.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Dict, Optional

from ganzoo.bench.executor import START_GRACE_S, Executor, _set_threads, _timed_out, failed_record
from ganzoo.bench.suite import RunSpec
from ganzoo.errors import ConfigError, GanzooError

TASK_RETRIES = 1  # as the local pool: a run whose worker died is tried once more


class RayUnavailable(GanzooError, ValueError):
    """Ray is not installed (the CLI: one line, exit 2)."""


def import_ray():
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable("--executor ray needs Ray: pip install 'ganzoo[ray]' (or pip install "
                             "'ray[default]')") from err
    return ray


def _run_task(spec: Dict[str, Any], out_dir: str, env: Dict[str, Any], threads: int) -> Dict[str, Any]:
    """What a Ray worker runs: one spec, its record back to the driver."""
    from ganzoo.bench.runner import environment, run_spec

    _set_threads(threads)
    # The machine facts of the node that ran it (cpu, gpu, versions), beside the driver's
    # run-wide ones (workers); its own commit too, should a node run other code.
    node = environment(workers=env.get("workers", 1), threads_per_worker=threads)
    node["driver_git_commit"] = env.get("git_commit")
    return run_spec(RunSpec.from_dict(spec), out_dir, {**env, **node})


class RayExecutor(Executor):
    """Runs each spec as a Ray task; records stream back to the caller as tasks finish."""

    def __init__(self, address: Optional[str] = None, workers: int = 1, num_cpus: float = 1,
                 num_gpus: Optional[float] = None, run_timeout_s: float = 0.0):
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.ray = import_ray()
        self.address, self.workers = address, workers
        self.num_cpus, self.num_gpus = max(1.0, float(num_cpus)), num_gpus
        self.run_timeout_s = run_timeout_s
        self._started_here = False

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        quiet = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if self.address:
            ray.init(address=self.address, **quiet)
        else:  # the embedded default: a local cluster sized for `workers` runs at once
            # Ray's memory monitor retries a task it kills for memory on its own count, not
            # max_retries (unlimited by default): hold it to the same one retry.
            ray.init(num_cpus=math.ceil(self.workers * self.num_cpus),
                     _system_config={"task_oom_retries": TASK_RETRIES}, **quiet)
        self._started_here = True

    def _gpus_per_task(self) -> float:
        if self.num_gpus is not None:
            return float(self.num_gpus)
        return 1.0 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def _slots(self, gpus: float) -> int:
        """Runs in flight at once: ``workers``, or fewer when the cluster cannot host that many
        tasks together (a submitted task then never waits in Ray's queue, and the time limit,
        counted from submission, measures the run)."""
        have = self.ray.cluster_resources()
        fits = [int(have.get("CPU", 0) // self.num_cpus)]
        if gpus:
            fits.append(int(have.get("GPU", 0) // gpus))
        slots = min([self.workers, *fits])
        if slots < 1:
            raise ConfigError(f"the Ray cluster has {have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} "
                             f"GPUs; one run asks for {self.num_cpus:g} CPUs and {gpus:g} GPUs (the suite's "
                             f"[ray] num_cpus / num_gpus)")
        return slots

    def map(self, specs, *, out_dir, env, should_launch=lambda: True, on_event=None):
        ray = self.ray
        self._connect()
        gpus = self._gpus_per_task()
        task = ray.remote(num_cpus=self.num_cpus, num_gpus=gpus, max_retries=TASK_RETRIES)(_run_task)
        slots = self._slots(gpus)
        emit = on_event or (lambda *a: None)
        todo = deque(specs)
        inflight: Dict[Any, RunSpec] = {}
        started: Dict[Any, float] = {}
        try:
            while todo or inflight:
                while todo and len(inflight) < slots and should_launch():
                    spec = todo.popleft()
                    ref = task.remote(spec.to_dict(), str(out_dir), env, math.ceil(self.num_cpus))
                    inflight[ref], started[ref] = spec, time.monotonic()
                    emit("start", spec.run_id, 0, spec.steps)
                if not inflight:
                    return  # the budget stops further launches
                done, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
                for ref in done:
                    spec = inflight.pop(ref)
                    started.pop(ref, None)
                    yield spec, self._result(ref, spec, env)
                if self.run_timeout_s:  # from submission: at most `slots` in flight, so none waits long
                    now = time.monotonic()
                    limit = self.run_timeout_s + START_GRACE_S
                    for ref in [r for r, t in started.items() if now - t > limit]:
                        ray.cancel(ref, force=True)
                        spec = inflight.pop(ref)
                        started.pop(ref)
                        yield spec, _timed_out(spec, env, self.run_timeout_s)
        finally:
            for ref in inflight:  # interrupted: no task trains on for a driver that is gone
                ray.cancel(ref, force=True)
            if self._started_here:
                ray.shutdown()
                self._started_here = False

    def _result(self, ref, spec: RunSpec, env: Dict[str, Any]) -> Dict[str, Any]:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # run_spec itself raised (not a variant's error)
            cause = err.cause if hasattr(err, "cause") else None
            if isinstance(cause, OSError):  # the results folder cannot be written: stop, as locally
                raise cause
            return failed_record(spec, env, f"the Ray task raised: {err}")
        except ray.exceptions.RayError as err:  # the worker died, twice
            return failed_record(spec, env, f"the Ray worker running this run died, {TASK_RETRIES + 1} times "
                                      f"(killed, or out of memory): {type(err).__name__}: {err}")

