"""The ``bench``, ``report`` and ``compare`` subcommands (imports stay light until run)."""
from __future__ import annotations

import shlex
import signal
import sys

from ganzoo import trackers
from ganzoo.argtypes import csv_list, nonneg_minutes, positive_int


# ---- bench -----------------------------------------------------------------------
def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="train a suite's variant matrix over seeds and write the report",
                       description="Run a benchmark suite (benchmarks/NAME.toml or a path). Finished "
                                   "runs in OUT/runs.jsonl are skipped, so the same command resumes.")
    p.add_argument("suite", help="a suite name in benchmarks/ (quick, standard, throughput) or a .toml path")
    p.add_argument("--out", default=None, help="results directory (default results/SUITE)")
    p.add_argument("--seeds", type=csv_list(int), default=None, help="override the suite's seeds, e.g. 0,1,2")
    p.add_argument("--steps", type=positive_int, default=None, help="override every dataset's G steps")
    p.add_argument("--variants", type=csv_list(str), default=None, help="only these variants, e.g. nsgan,wgan-gp")
    p.add_argument("--datasets", type=csv_list(str), default=None, help="only these of the suite's datasets")
    p.add_argument("--max-minutes", type=nonneg_minutes, default=None,
                   help="stop launching runs after this many minutes (finished runs are kept; 0: no limit)")
    p.add_argument("--workers", type=positive_int, default=None, help="parallel worker processes (default: the suite's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: the suite's)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: the suite's)")
    p.add_argument("--data-root", default=None, help="where datasets live (overrides the suite's)")
    p.add_argument("--download", action="store_true", help="allow torchvision to download missing datasets")
    p.add_argument("--retry-failed", action="store_true", help="run again the runs recorded as failed")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per finished run)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: worker processes on this machine (default); ray: each run a Ray task")
    p.add_argument("--address", default=None,
                   help="with --executor ray: the cluster to join (auto, ray://HOST:10001); default: "
                        "start a local Ray cluster")
    trackers.add_options(p)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _terminate_as_interrupt():
    """SIGTERM (``kill``, a scheduler's pre-emption) takes the same path as Ctrl-C, so that the
    worker pool is shut down and its processes killed instead of training on as orphans whose
    results nobody stores. Returns the handler it replaced."""
    return signal.signal(signal.SIGTERM, _interrupt)


def run_bench(args) -> int:
    from ganzoo.bench.driver import BenchOptions, bench
    from ganzoo.bench.suite import find_suite

    out = args.out or f"results/{find_suite(args.suite).stem}"
    previous = _terminate_as_interrupt()
    try:
        result = bench(args.suite, out, BenchOptions(
            seeds=args.seeds, steps=args.steps, variants=args.variants, datasets=args.datasets,
            max_minutes=args.max_minutes, workers=args.workers, threads=args.threads, device=args.device,
            data_root=args.data_root, download=args.download, retry_failed=args.retry_failed,
            progress=not args.no_progress and sys.stderr.isatty(), report=not args.no_report,
            command="ganzoo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            executor_kind=args.executor, address=args.address, trackers=trackers.from_args(args, out)))
    except KeyboardInterrupt:
        print(f"\nganzoo bench: interrupted; the finished runs are kept in {out}/runs.jsonl. "
              f"Run the same command again to resume.", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = result.statuses.get("failed", 0)
    if failed:  # a failed run is a result too: the report lists it with its error
        print(f"ganzoo bench: {failed} run(s) failed; see the report's \"Diverged and failed runs\" "
              f"and their tracebacks in {out}/runs.jsonl", file=sys.stderr)
    return 0


# ---- report ----------------------------------------------------------------------
def add_report(sub) -> None:
    p = sub.add_parser("report", help="write REPORT.md, summary.csv and figures from a bench directory")
    p.add_argument("dir", help="a directory holding runs.jsonl (e.g. results/quick)")
    p.add_argument("--no-figures", action="store_true", help="tables only")


def run_report(args) -> int:
    from ganzoo.bench.report import write_report

    path = write_report(args.dir, figures=not args.no_figures)
    print(f"wrote {path}")
    return 0


# ---- compare ---------------------------------------------------------------------
def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="two bench directories side by side, with deltas and significance")
    p.add_argument("dir_a")
    p.add_argument("dir_b")
    p.add_argument("--test", choices=("welch", "mannwhitney", "bootstrap"), default="welch",
                   help="test over seeds (default: Welch's t test)")
    p.add_argument("--out", default=None, help="also write OUT.md and OUT.csv")


def run_compare(args) -> int:
    from ganzoo.bench.compare import compare

    _, text = compare(args.dir_a, args.dir_b, test=args.test, out=args.out)
    print(text)
    return 0
