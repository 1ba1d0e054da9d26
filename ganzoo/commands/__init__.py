"""Every ``ganzoo`` subcommand, one module each; :mod:`ganzoo.cli` builds the parser from them.

Each module has ``add_<name>(subparsers)`` (the parser) and ``run_<name>(args)`` (the work,
returning the exit status). Only the parsers are imported here; a command's heavy imports
(torch, pandas, the trainer) happen inside its ``run_`` function, so ``ganzoo list`` and
``ganzoo --help`` stay fast.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from ganzoo.commands import bench, evaluate, listing, sample, train

COMMANDS: Dict[str, Tuple[Callable, Callable]] = {
    "list": (listing.add_list, listing.run_list),
    "train": (train.add_train, train.run_train),
    "sample": (sample.add_sample, sample.run_sample),
    "bench": (bench.add_bench, bench.run_bench),
    "report": (bench.add_report, bench.run_report),
    "compare": (bench.add_compare, bench.run_compare),
    "eval": (evaluate.add_eval, evaluate.run_eval),
}
