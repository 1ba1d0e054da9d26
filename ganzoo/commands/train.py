"""``ganzoo train``: one variant on one dataset (one process, or several under torchrun)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

from ganzoo import trackers
from ganzoo.argtypes import positive_int
from ganzoo.errors import ConfigError, MissingFileError
from ganzoo.perf import PERF_MODES
from ganzoo.precisions import PRECISIONS
from ganzoo.registry import ARCHS, VARIANTS


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="a dataset name (see `ganzoo list`)")
    p.add_argument("--split", default=None, help="train / test (default: train, or the only split present)")
    p.add_argument("--data-root", default=None, help="where datasets live (default: $GANZOO_DATA or ~/.cache/ganzoo/data)")
    p.add_argument("--download", action="store_true", help="allow torchvision to download missing files")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train one variant on one dataset")
    p.add_argument("variant", help="a variant name (see `ganzoo list`)")
    add_data_options(p)
    p.add_argument("--arch", default=None, help="architecture (default: the variant's choice, else mlp)")
    p.add_argument("--steps", type=positive_int, default=1000, help="G steps (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--precision", default="fp32",
                   help="a precision in ganzoo.precisions: " + ", ".join(PRECISIONS.names()))
    p.add_argument("--perf", default="auto", choices=PERF_MODES.names(),
                   help="how a step runs: auto (CUDA graph, else compile, else eager; eager on CPU), "
                        "eager, graph (one CUDA graph per iteration) or compile (torch.compile)")
    p.add_argument("--log-every", type=positive_int, default=None,
                   help="G steps between host read-backs of the losses (default: TrainConfig's, 50)")
    p.add_argument("--checkpoint-every", type=int, default=0)
    trackers.add_options(p)
    p.add_argument("--g-ema", type=float, default=0.0, metavar="DECAY",
                   help="keep an EMA of G's weights with this decay (e.g. 0.999) and sample and "
                        "evaluate it instead of the last G (default 0: off)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="override a variant hyperparameter (JSON value), e.g. --hp lr_d=1e-4")
    p.add_argument("--out", default="runs/latest", help="output directory (checkpoint.pt, summary.json)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_hparams(pairs: List[str]) -> Dict[str, object]:
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--hp takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def run_train(args) -> int:
    from dataclasses import asdict

    from ganzoo import distributed
    from ganzoo.data import load
    from ganzoo.trainer import TrainConfig, Trainer

    dist = distributed.from_env(args.device)  # several processes under torchrun (ganzoo.distributed)
    main_rank = dist is None or dist.is_main
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                         device=args.device, precision=args.precision, perf=args.perf,
                         checkpoint_every=args.checkpoint_every, g_ema=args.g_ema,
                         hparams=parse_hparams(args.hp),
                         **({} if args.log_every is None else {"log_every": args.log_every}))
    VARIANTS.get(args.variant)  # fail on a bad name before loading any data
    # A missing tracker library fails before any training; only rank 0 reports.
    tracked = trackers.from_args(args, out) if main_rank else trackers.Trackers([])
    if args.arch:
        ARCHS.get(args.arch)
    spec = {"name": args.dataset, "split": args.split, "data_root": args.data_root}
    data = load(args.dataset, split=args.split, data_root=args.data_root, download=args.download)
    say = print if main_rank else (lambda *a, **k: None)
    say(f"data: {data.source or data.name} ({len(data)} samples, shape {list(data.shape)})")
    resume = args.resume and ckpt.is_file()
    if dist:  # rank 0 decides: ranks that started at different steps would never meet again
        resume = distributed.rank0_decides(resume, distributed.collective_device(dist))
        if resume and not ckpt.is_file():
            raise MissingFileError(f"rank {dist.rank} cannot see {ckpt}, from which rank 0 resumes; "
                                    f"put --out on a file system every rank shares")
    if resume:
        trainer = Trainer.from_checkpoint(ckpt, data=data, expect=(args.variant, args.dataset), steps=args.steps,
                                          dist=dist)
        if args.g_ema and args.g_ema != trainer.config.g_ema:
            raise ConfigError(f"--g-ema {args.g_ema:g}: {ckpt} was trained with g_ema={trainer.config.g_ema:g}, "
                             f"which a resumed run keeps; drop --g-ema or train into another --out")
        say(f"resuming from {ckpt} at step {trainer.step}")
    else:
        trainer = Trainer(args.variant, data, arch=args.arch, config=config, checkpoint_path=ckpt,
                          dataset_spec=spec, dist=dist)
    if dist:
        say(f"{dist.world_size} processes ({dist.backend}): batch {config.batch_size} per rank, "
            f"global batch {config.batch_size * dist.world_size}, gradients averaged over the ranks")
    live = tracked.live(trainer, f"{trainer.variant.name}-{args.dataset}-seed{trainer.config.seed}",
                        {"variant": trainer.variant.name, "dataset": args.dataset, "arch": trainer.arch,
                         **{k: v for k, v in asdict(trainer.config).items() if k != "hparams"},
                         "hparams": trainer.variant.hp}) if tracked else None
    try:
        history = trainer.fit(progress=not args.no_progress and main_rank, on_log=live.on_log if live else None)
    finally:  # a tracker's run ends with the run's status, "failed" when fit() raised
        if live:
            live.finish(trainer, trainer.history.status)
    summary = trainer.summary()
    if not main_rank:  # one summary and one checkpoint per run: rank 0's
        return 0
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    status = history.status if history.status != "diverged" else f"diverged at step {history.diverged_at}"
    print(f"{summary['variant']} on {summary['dataset']}: {status}; {trainer.step} steps in "
          f"{summary['wall_s']:.1f} s, {summary['img_per_s']:.0f} img/s; wrote {ckpt} and {out / 'summary.json'}")
    return 0
