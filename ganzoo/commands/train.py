"""``ganzoo train``: one variant on one dataset (one process, or several under torchrun)."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List

from ganzoo import trackers
from ganzoo.argtypes import positive_int
from ganzoo.errors import ConfigError, MissingFileError
from ganzoo.perf import PERF_MODES
from ganzoo.precisions import PRECISIONS
from ganzoo.registry import ARCHS, VARIANTS
from ganzoo.trainer import TrainConfig


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="a dataset name (see `ganzoo list`)")
    p.add_argument("--split", default=None, help="train / test (default: train, or the only split present)")
    p.add_argument("--data-root", default=None, help="where datasets live (default: $GANZOO_DATA or ~/.cache/ganzoo/data)")
    p.add_argument("--download", action="store_true", help="allow torchvision to download missing files")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train one variant on one dataset")
    p.add_argument("variant", help="a variant name (see `ganzoo list`)")
    add_data_options(p)
    p.add_argument("--arch", default=None, help="architecture (default: the dataset's protocol, else the "
                                                "variant's choice for the data kind, else mlp)")
    p.add_argument("--steps", type=positive_int, default=1000, help="G steps (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="default: the dataset's protocol (ganzoo.protocols; 256 on ring8/grid25), else 64")
    p.add_argument("--z-dim", type=positive_int, default=None,
                   help="noise size; default: the dataset's protocol (2 on ring8/grid25), else 100")
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
                   help="override a variant hyperparameter (JSON value) over the dataset's protocol, "
                        "e.g. --hp lr_d=1e-4")
    p.add_argument("--eval", action="store_true",
                   help="score the final G with every metric that applies (into record.json and summary.json)")
    p.add_argument("--eval-samples", type=positive_int, default=None, metavar="N",
                   help="generated samples for --eval (default: a suite's default, 5000)")
    p.add_argument("--out", default="runs/latest",
                   help="output directory (checkpoint.pt, record.json: the run's record as `ganzoo bench` "
                        "stores it, summary.json: its main numbers)")
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


def train_spec(args, data, *, dist=None, checkpoint=None):
    """The :class:`RunSpec` of this command: what was asked, over the dataset's protocol
    (ganzoo.protocols: nets, z, batch, learning-rate rule), or a resumed checkpoint's settings
    with the new ``--steps``. The same spec through ``ganzoo bench`` is the same run (run id)."""
    import ganzoo
    from ganzoo.bench.suite import EVAL_DEFAULTS, RunSpec, resolve_device
    from ganzoo.protocols import protocol_for

    protocol = protocol_for(args.dataset)
    if checkpoint is not None:  # resuming: the checkpoint's settings, trained on to --steps
        cfg, arch = dict(checkpoint["config"]), checkpoint["arch"]
        # a checkpoint may hold only the overrides it was given (older ganzoo): resolve them
        hp = VARIANTS.get(checkpoint["variant"]).resolve_hparams(checkpoint["config"]["hparams"])
        if args.g_ema and args.g_ema != cfg["g_ema"]:
            raise ConfigError(f"--g-ema {args.g_ema:g}: the checkpoint was trained with g_ema={cfg['g_ema']:g}, "
                              f"which a resumed run keeps; drop --g-ema or train into another --out")
        cfg["steps"] = args.steps
    else:
        cls = VARIANTS.get(args.variant)
        explicit = {k: v for k, v in (("batch_size", args.batch_size), ("z_dim", args.z_dim),
                                      ("log_every", args.log_every)) if v is not None}
        cfg = {**asdict(TrainConfig()), **protocol.train_settings(), **explicit,
               "steps": args.steps, "seed": args.seed, "precision": args.precision, "perf": args.perf,
               "checkpoint_every": args.checkpoint_every, "g_ema": args.g_ema,
               # a single process names its device as the bench does ("cpu", "cuda:0"); ranks pick theirs
               "device": args.device if dist else resolve_device(args.device)}
        arch = args.arch or protocol.arch or cls.preferred_arch.get(data.kind, "mlp")
        hp = cls.resolve_hparams({**protocol.hparams(args.variant), **parse_hparams(args.hp)})
    ev = {**EVAL_DEFAULTS, **({"final_samples": args.eval_samples} if args.eval_samples else {})}
    return RunSpec.flat(
        variant=args.variant, dataset=args.dataset, arch=arch, seed=cfg["seed"], steps=cfg["steps"],
        batch_size=cfg["batch_size"], precision=cfg["precision"], perf=cfg["perf"], z_dim=cfg["z_dim"],
        log_every=cfg["log_every"], eval_every=0, device=cfg["device"], split=data.split, data_options={},
        hparams={k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()}, quality=args.eval,
        eval_samples=ev["samples"], final_samples=ev["final_samples"], sample_grid=ev["sample_grid"],
        kid_subsets=ev["kid_subsets"], metric=None, ganzoo_version=ganzoo.__version__,
        data_root=args.data_root, checkpoint_every=cfg["checkpoint_every"], g_ema=float(cfg["g_ema"]))


def summary_view(record, trainer, dist=None) -> Dict[str, object]:
    """``summary.json``: the run record (``record.json``) in the few lines a user reads first,
    with the last logged losses (``final``)."""
    speed = record.throughput
    out = {
        "variant": record.variant, "dataset": record.dataset, "split": record.protocol.get("split"),
        "arch": record.arch, "seed": record.seed, "steps": record.steps_done, "batch_size": record.batch_size,
        "n_critic": record.n_critic, "hparams": record.spec["hparams"], "precision": record.precision,
        "perf": record.perf, "g_ema": record.spec["g_ema"], "perf_used": speed.perf_used,
        "perf_notices": record.protocol.get("perf_notices", []), "device": record.env.device,
        "status": record.status, "diverged_at": record.stability.diverged_at,
        "divergence": record.stability.divergence, "wall_s": record.timing.train_s,
        "eval_s": record.timing.eval_s, "real_images": speed.real_images,
        "img_per_s": speed.img_per_s if speed.img_per_s is not None else float("nan"),
        "s_per_kimg": speed.s_per_kimg, "g_steps_per_s": speed.g_steps_per_s,
        "final": {k: v[-1] for k, v in trainer.history.values.items() if v},
        "metrics": record.final, "run_id": record.run_id, "torch": record.env.torch,
    }
    if dist:
        out["distributed"] = {
            "world_size": dist.world_size, "backend": dist.backend,
            "batch_size_per_rank": record.batch_size, "global_batch": record.batch_size * dist.world_size,
            "lr_rule": "unchanged: lr_g and lr_d as given; gradients averaged over the ranks",
            "ranks_in_sync": trainer.ranks_in_sync}
    return out


def run_train(args) -> int:
    from ganzoo import distributed
    from ganzoo.bench.runner import RunFiles, base_record, environment, train_run
    from ganzoo.checkpoints import read_checkpoint
    from ganzoo.data import load
    from ganzoo.files import atomic_write, write_bytes_synced

    dist = distributed.from_env(args.device)  # several processes under torchrun (ganzoo.distributed)
    main_rank = dist is None or dist.is_main
    out = Path(args.out)
    ckpt = out / "checkpoint.pt"
    VARIANTS.get(args.variant)  # fail on a bad name before loading any data
    parse_hparams(args.hp)
    if args.arch:
        ARCHS.get(args.arch)
    # A missing tracker library fails before any training; only rank 0 reports.
    tracked = trackers.from_args(args, out) if main_rank else trackers.Trackers([])
    data = load(args.dataset, split=args.split, data_root=args.data_root, download=args.download)
    say = print if main_rank else (lambda *a, **k: None)
    say(f"data: {data.source or data.name} ({len(data)} samples, shape {list(data.shape)})")
    if args.eval and data.kind != "points":  # a dataset with no feature space fails now, not after training
        from ganzoo.metrics.evaluation import feature_spaces
        from ganzoo.metrics.extractors import extractor_for

        if not extractor_for(args.dataset):
            feature_spaces("auto", args.dataset)  # Inception's weights given, or the one-line error
    resume = args.resume and ckpt.is_file()
    if dist:  # rank 0 decides: ranks that started at different steps would never meet again
        resume = distributed.rank0_decides(resume, distributed.collective_device(dist))
        if resume and not ckpt.is_file():
            raise MissingFileError(f"rank {dist.rank} cannot see {ckpt}, from which rank 0 resumes; "
                                    f"put --out on a file system every rank shares")
    state = read_checkpoint(ckpt) if resume else None
    spec = train_spec(args, data, dist=dist, checkpoint=state)
    if state is not None:
        say(f"resuming from {ckpt} at step {state['step']}")
        del state  # the trainer reads the checkpoint again, weights and all
    else:
        from ganzoo.protocols import protocol_for

        say(f"protocol: {protocol_for(args.dataset).name} ({spec.arch}, z {spec.z_dim}, batch {spec.batch_size}, "
            f"lr_g {spec.hparams.get('lr_g')}, lr_d {spec.hparams.get('lr_d')})")
    if dist:
        say(f"{dist.world_size} processes ({dist.backend}): batch {spec.batch_size} per rank, "
            f"global batch {spec.batch_size * dist.world_size}, gradients averaged over the ranks")

    def live(trainer):
        if not tracked:
            return None
        return tracked.live(trainer, f"{spec.variant}-{args.dataset}-seed{spec.seed}",
                            {"variant": spec.variant, "dataset": args.dataset, "arch": spec.arch,
                             **{k: v for k, v in asdict(trainer.config).items() if k != "hparams"},
                             "hparams": trainer.variant.hp})

    record = base_record(spec, environment())
    trainer = train_run(spec, RunFiles.in_folder(out, resume=resume), record, data=data, dist=dist,
                        bar=not args.no_progress and main_rank, live=live)
    if not main_rank:  # one record and one checkpoint per run: rank 0's
        return 0
    summary = summary_view(record, trainer, dist)
    for name, content in (("record.json", record.to_dict()), ("summary.json", summary)):
        atomic_write(out / name, write_bytes_synced((json.dumps(content, indent=2) + "\n").encode()))
    status = record.status if record.status != "diverged" else \
        f"diverged at step {record.stability.diverged_at} ({record.stability.divergence})"
    print(f"{summary['variant']} on {summary['dataset']}: {status}; {summary['steps']} steps in "
          f"{summary['wall_s']:.1f} s, {summary['img_per_s']:.0f} img/s; wrote {ckpt}, {out / 'record.json'} "
          f"and {out / 'summary.json'}")
    return 0
