"""``ganzoo bench``: expand a suite, run what the store lacks, write the report.

Finished runs (any status) are skipped, so re-running an interrupted benchmark
resumes it; ``retry_failed`` runs the ``failed`` ones again (the new record then
replaces the old one in reports). ``max_minutes`` stops launching new runs once
that much time has passed; runs in flight finish and are kept.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ganzoo.bench.executor import Executor, LocalExecutor
from ganzoo.bench.lock import exclusive, unwritable
from ganzoo.bench.record import RunRecord
from ganzoo.bench.runner import environment, now
from ganzoo.bench.store import RunStore
from ganzoo.bench.suite import Plan, RunSpec, expand, load_suite
from ganzoo.errors import ConfigError
from ganzoo.registry import Registry


@dataclass
class BenchResult:
    planned: int
    already_done: int
    ran: int
    not_launched: int
    statuses: Dict[str, int] = field(default_factory=dict)
    report: Optional[Path] = None
    wall_s: float = 0.0


class Eta:
    """Time left: each remaining run costs the mean wall time of finished runs like it
    (same dataset and variant, else same dataset, else any), divided among the workers."""

    def __init__(self, workers: int):
        self.workers = workers
        self.done: List[tuple] = []  # (dataset, variant, steps, wall_s)

    def add(self, spec: RunSpec, wall_s: Optional[float]) -> None:
        if wall_s:
            self.done.append((spec.dataset, spec.variant, spec.steps, wall_s))

    def cost(self, spec: RunSpec) -> Optional[float]:
        for match, scale in ((lambda d: d[0] == spec.dataset and d[1] == spec.variant, True),
                             (lambda d: d[0] == spec.dataset, True), (lambda d: True, False)):
            xs = [d[3] * (spec.steps / d[2] if scale else 1.0) for d in self.done if match(d)]
            if xs:
                return sum(xs) / len(xs)
        return None

    def left(self, remaining: Sequence[RunSpec], running: Dict[str, tuple]) -> Optional[float]:
        if not self.done:
            return None
        total = sum(self.cost(s) or 0.0 for s in remaining)
        for spec, step, steps in running.values():
            c = self.cost(spec) or 0.0
            total += c * (1 - step / steps) if steps else c
        return total / self.workers


def _fmt_s(s: Optional[float]) -> str:
    if s is None:
        return "?"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@dataclass
class BenchOptions:
    """What one ``ganzoo bench`` call asks for besides its suite and folder: the command
    line's narrowing of the matrix (seeds, steps, variants, datasets), where and how to run
    (workers, threads, device, executor, time budget), where the data is, and what to show.

    ``executor_kind`` names an entry of :data:`EXECUTORS` ("local": worker processes here;
    "ray": a Ray cluster, the local one Ray starts or the one at ``address``); ``executor``:
    an executor object to use instead (tests). ``trackers``: each stored run is also sent
    there (:class:`ganzoo.trackers.Trackers`)."""

    seeds: Optional[Sequence[int]] = None
    steps: Optional[int] = None
    variants: Optional[Sequence[str]] = None
    datasets: Optional[Sequence[str]] = None
    max_minutes: Optional[float] = None
    workers: Optional[int] = None
    threads: Optional[int] = None
    device: Optional[str] = None
    data_root: Optional[str] = None
    download: bool = False
    retry_failed: bool = False
    progress: bool = True
    report: bool = True
    command: Optional[str] = None
    executor: Optional[Executor] = None
    executor_kind: str = "local"
    address: Optional[str] = None
    trackers: Any = None
    log: Callable[..., None] = print


def _local_executor(suite, opts: BenchOptions, workers: int, threads: int) -> Executor:
    return LocalExecutor(workers=workers, threads=threads, run_timeout_s=60 * suite.run_timeout_minutes)


def _ray_executor(suite, opts: BenchOptions, workers: int, threads: int) -> Executor:
    from ganzoo.bench.ray_executor import RayExecutor

    return RayExecutor(address=opts.address, workers=workers, num_cpus=suite.ray.get("num_cpus", max(1, threads)),
                       num_gpus=suite.ray.get("num_gpus"), run_timeout_s=60 * suite.run_timeout_minutes)


# How runs are carried out: name -> (suite, options, workers, threads) -> Executor.
EXECUTORS: Registry = Registry("executor")
EXECUTORS.register("local", _local_executor)
EXECUTORS.register("ray", _ray_executor)


def bench(suite_ref, out, options: Optional[BenchOptions] = None, **overrides) -> BenchResult:
    """Run the suite ``suite_ref`` (a name in benchmarks/ or a path, or a parsed Suite) into
    ``out`` with ``options`` (or the :class:`BenchOptions` fields as keywords).

    Holds ``out``'s bench lock throughout (:mod:`ganzoo.bench.lock`): a second bench on the
    same folder raises :class:`FolderBusyError`; a folder that cannot be written raises
    :class:`StoreWriteError` before anything is trained, or when the first write fails.
    """
    opts = dataclasses.replace(options or BenchOptions(), **overrides)
    t0 = time.time()
    suite = load_suite(suite_ref, device=opts.device) if not hasattr(suite_ref, "datasets") else suite_ref
    opts.command = opts.command or " ".join(sys.argv)
    from ganzoo.bench.prepare import prepared  # the suite's data fetched, its extra feature spaces resolved

    with exclusive(out, opts.command), prepared(suite, datasets=opts.datasets, data_root=opts.data_root,
                                                download=opts.download, log=opts.log):
        return _bench(suite, out, t0, opts)


def _bench(suite, out, t0, opts: BenchOptions) -> BenchResult:
    """Plan what the store lacks, start the executor, drive the runs into the store, report."""
    log = opts.log
    plan, store, todo = _plan(suite, out, opts)
    executor, n_threads = _executor(suite, opts)
    env = environment(workers=executor.workers, threads_per_worker=n_threads)
    budget = suite.max_minutes if opts.max_minutes is None else opts.max_minutes
    log(f"ganzoo bench {suite.name}: {len(plan.specs)} runs in the matrix, "
        f"{len(plan.specs) - len(todo)} already in {store.path}, {len(todo)} to run "
        f"on {executor.workers} worker(s)" + (f", budget {budget:g} min" if budget else ""))
    for note in plan.skipped:
        log(f"  note: {note}")
    inv_id = uuid.uuid4().hex[:12]
    _write(store, store.log_invocation, {
        "event": "start", "id": inv_id, "started": now(), "t0_unix": t0,
        "command": opts.command, "out": str(out),
        "suite": {"name": suite.name, "path": suite.path, "description": suite.description,
                  "profile": suite.profile, "raw": suite.raw},
        "datasets": list(plan.probes), "skipped": plan.skipped,
        "thresholds": {d.name: [d.metric, d.threshold] for d in suite.datasets},
        "planned": {s.run_id: s.label for s in plan.specs}, "env": env,
    })
    preparing = _prepare_extractors(suite, plan, todo, executor, log)
    result = BenchResult(planned=len(plan.specs), already_done=len(plan.specs) - len(todo), ran=0,
                         not_launched=0)
    _drive(todo, executor, store, env, result, deadline=t0 + budget * 60 if budget else None, opts=opts,
           more=lambda: _next_stage(suite, plan, store, opts))
    if preparing is not None:
        preparing.join()
    result.not_launched = len(todo) - result.ran
    if result.not_launched:
        log(f"time budget of {budget:g} min reached: {result.not_launched} run(s) not launched; "
            f"run the same command again to continue")
    if opts.report and (result.ran or result.already_done):
        result.report = _write_report(out, store, log)
    result.wall_s = time.time() - t0
    _write(store, store.log_invocation, {"event": "end", "id": inv_id, "finished": now(), "wall_s": result.wall_s,
                                         "ran": result.ran, "not_launched": result.not_launched,
                                         "statuses": result.statuses})
    log(f"ganzoo bench {suite.name}: {result.ran} run(s) in {_fmt_s(result.wall_s)} "
        f"({', '.join(f'{v} {k}' for k, v in sorted(result.statuses.items())) or 'nothing to do'})")
    return result


def _plan(suite, out, opts: BenchOptions):
    """The suite's matrix, the store (leftovers of a killed bench removed) and the specs it lacks."""
    plan: Plan = expand(suite, seeds=opts.seeds, steps=opts.steps, variants=opts.variants,
                        datasets=opts.datasets, data_root=opts.data_root, download=opts.download,
                        device=opts.device)
    store = RunStore(out)
    done = store.finished(include_failed=not opts.retry_failed)
    try:
        for tmp in store.remove_leftovers(stored=store.finished()):
            opts.log(f"  removed {tmp.relative_to(store.dir)}, left by an interrupted bench")
    except OSError as err:
        raise unwritable(store.dir, err, "(removing leftovers)") from None
    if suite.search is not None:  # an equal-budget search: its trials, then the re-runs of its best
        from ganzoo.bench.search import sweep_specs  # settings as the trials are stored (_next_stage)

        plan.search_base, plan.specs = plan.specs, sweep_specs(suite.search, plan.specs, store.latest())
    return plan, store, [s for s in plan.specs if s.run_id not in done]


def _next_stage(suite, plan: Plan, store: RunStore, opts: BenchOptions) -> List[RunSpec]:
    """A search's runs that its stored trials now plan (the re-runs of each variant's best
    settings once all its trials are stored), added to ``plan``; [] for any other suite."""
    if suite.search is None:
        return []
    from ganzoo.bench.search import sweep_specs

    planned = {s.run_id for s in plan.specs}
    new = [s for s in sweep_specs(suite.search, plan.search_base, store.latest()) if s.run_id not in planned]
    plan.specs += new
    done = store.finished(include_failed=not opts.retry_failed)
    return [s for s in new if s.run_id not in done]


def _executor(suite, opts: BenchOptions):
    """The executor the options name (:data:`EXECUTORS`), and the torch threads per worker."""
    n_workers = opts.workers or suite.workers
    n_threads = opts.threads if opts.threads is not None else suite.threads_per_worker
    if n_workers > 1 and n_threads == 0:
        n_threads = 1
    if opts.executor is not None:
        return opts.executor, n_threads
    if opts.executor_kind not in EXECUTORS:
        raise ConfigError(EXECUTORS.unknown_message(opts.executor_kind))
    return EXECUTORS.get(opts.executor_kind)(suite, opts, n_workers, n_threads), n_threads


def _prepare_extractors(suite, plan: Plan, todo: List[RunSpec], executor, log) -> Optional[threading.Thread]:
    """Feature extractors, trained once here while the workers start (a thread beside them
    when they are processes; in line when runs train in this process, which a thread would
    share torch's global state with)."""
    if not (suite.quality and todo):
        return None
    datasets = {s.dataset for s in todo}
    if executor.workers > 1:
        preparing = threading.Thread(target=prepare_quality, args=(plan, datasets, log), daemon=True,
                                     name="prepare-extractors")
        preparing.start()
        return preparing
    prepare_quality(plan, datasets, log)
    return None


def _drive(todo: List[RunSpec], executor, store: RunStore, env: Dict[str, Any], result: BenchResult, *,
           deadline: Optional[float], opts: BenchOptions, more: Callable[[], List[RunSpec]] = lambda: []) -> None:
    """Run ``todo`` on the executor, launching while ``deadline`` allows; store each record as it
    comes (its partial checkpoint dropped), send it to the trackers, show progress. Then the runs
    ``more`` plans from what is stored (a search's second stage), added to ``todo``, until none."""
    eta = Eta(executor.workers)
    running: Dict[str, tuple] = {}
    by_id = {s.run_id: s for s in todo}
    launched: set = set()
    bar = _bar(result.planned, result.already_done) if opts.progress and todo else None

    def on_event(kind: str, run_id: str, step: int, total: int) -> None:
        if kind == "start":
            launched.add(run_id)
        if run_id in by_id:
            running[run_id] = (by_id[run_id], step, total)
        if bar is not None:
            _postfix(bar, running, eta, [s for s in todo if s.run_id not in launched])

    def should_launch() -> bool:
        return deadline is None or time.time() < deadline

    def stages():
        batch = list(todo)
        while batch:
            yield from executor.map(batch, out_dir=str(store.dir), env=env, should_launch=should_launch,
                                    on_event=on_event)
            batch = more() if should_launch() else []
            todo.extend(batch)
            by_id.update((s.run_id, s) for s in batch)
            result.planned += len(batch)
            if bar is not None and batch:
                bar.total += len(batch)
                bar.refresh()

    try:
        for spec, record in stages():
            _write(store, store.append, record)
            store.partial_path(spec.run_id).unlink(missing_ok=True)  # stored: no resuming it now
            if opts.trackers:  # a view of the stored run; never stops the bench (ganzoo.trackers)
                opts.trackers.log_stored(store, record)
            running.pop(spec.run_id, None)
            result.ran += 1
            stored = RunRecord.from_dict(record)
            status = stored.status or "?"
            result.statuses[status] = result.statuses.get(status, 0) + 1
            eta.add(spec, stored.part("timing").wall_s)
            line = _done_line(spec, stored)
            if bar is not None:
                bar.update(1)
                bar.write(line)
                _postfix(bar, running, eta, [s for s in todo if s.run_id not in launched])
            else:
                opts.log(line)
    finally:
        if bar is not None:
            bar.close()


def _write_report(out, store: RunStore, log) -> Optional[Path]:
    """REPORT.md from the store; a report that fails says so and leaves the runs as they are."""
    from ganzoo.bench.report import write_report

    try:
        path = write_report(out)
        log(f"wrote {path}")
        return path
    except Exception:  # the runs are safe in the store; the report can be written again
        log(traceback.format_exc())
        log(f"the report could not be written (above); the runs are kept in {store.path}: "
            f"fix the problem and run `ganzoo report {out}`")
        return None


def _write(store: RunStore, write, record: Dict[str, Any]) -> None:
    """One store write; an OS error (read-only folder, full disk) becomes a StoreWriteError
    that says the earlier results are intact (the store cuts a failed append back)."""
    try:
        write(record)
    except OSError as err:
        raise unwritable(store.dir, err, "a record") from None


def prepare_quality(plan: Plan, datasets, log=print) -> None:
    """Train (or load from the cache) each image dataset's feature extractor once, in the
    main process, while the workers run the first (2D) runs; a worker that needs one before
    it is ready trains the same one itself (training is deterministic, saving atomic)."""
    from ganzoo.metrics import extractor_for, get_extractor

    for name, probe in plan.probes.items():
        ext = extractor_for(name) if name in datasets and probe.kind != "points" else None
        if not ext:
            continue
        t = time.time()
        try:
            e = get_extractor(ext, data_root=probe.data_root)
        except Exception as err:  # the runs that need it will fail with the full error
            log(f"  feature extractor {ext} could not be prepared: {type(err).__name__}: {err}")
            continue
        log(f"  feature extractor {ext} [{e.fingerprint}] ready ({time.time() - t:.1f} s; cached after "
            f"the first time)")


def _bar(total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="run", dynamic_ncols=True, desc="bench",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} runs "
                           "[{elapsed}{postfix}]")


def _postfix(bar, running, eta: Eta, remaining) -> None:
    parts = [f"{s.variant}·{s.dataset}·s{s.seed} {step}/{total}" for s, step, total in running.values()]
    left = eta.left(remaining, running)
    parts.append(f"ETA {_fmt_s(left)}" if left is not None else "ETA after the first run")
    bar.set_postfix_str(" | ".join(parts), refresh=True)


def _done_line(spec: RunSpec, record: RunRecord) -> str:
    status, wall, st = record.status, record.part("timing").wall_s, record.part("stability")
    if status == "failed":
        what = (record.error_line or "")[:160]
    elif status == "diverged":
        what = f"{st.divergence} at step {st.diverged_at}"
    else:
        metric = spec.metric
        val = (record.final or {}).get(metric) if metric else None
        what = f"{metric}={val:.4g}" if isinstance(val, (int, float)) else ""
        ips = record.part("throughput").img_per_s
        what += f" {ips:,.0f} img/s" if ips else ""
    return f"  {status:8s} {spec.label}: {what} ({_fmt_s(wall)})"
