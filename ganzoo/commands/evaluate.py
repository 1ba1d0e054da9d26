"""``ganzoo eval CHECKPOINT``: every metric that applies to a checkpoint, with its protocol.

Light to import (the parser only); the metrics load when the command runs.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict

from ganzoo.argtypes import positive_int


def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="FID/KID/precision-recall, mode coverage, label accuracy of a checkpoint")
    p.add_argument("checkpoint", help="a checkpoint written by `ganzoo train` (runs/latest/checkpoint.pt) or kept by `ganzoo bench` (RESULTS/checkpoints/<run_id>.pt)")
    p.add_argument("--n", type=positive_int, default=10_000,
                   help="generated samples for the image metrics / 2D Fréchet distance (default 10000)")
    p.add_argument("--n-reference", type=positive_int, default=None,
                   help="real reference samples (default: as many as --n, at most the split's size)")
    p.add_argument("--n-modes", type=positive_int, default=None,
                   help="samples for mode counts (default: 2500 for 2D sets, 26000 for stacked-mnist, else --n)")
    p.add_argument("--extractor", default="auto", metavar="NAME[,NAME...]",
                   help="feature spaces: auto (ganzoo's extractor for the dataset, plus Inception if its "
                        "weights are given), a ganzoo extractor (ganzoo-mnist, ganzoo-digits, ...), or one of "
                        "torch-fidelity's pretrained nets: inception, dinov2-vit-{s,b,l,g}-14, clip-vit-b-32 "
                        "and the other clip-* nets, vgg16 (weights: --weights, else torch's hub cache, else "
                        "fetched there when the host answers); several comma-separated, e.g. "
                        "auto,dinov2-vit-l-14")
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="the weights file of the one pretrained space --extractor names, e.g. "
                        "dinov2_vitb14_pretrain.pth for dinov2-vit-b-14")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth, for standard "
                        "Inception FID, also with --extractor auto (or set $GANZOO_INCEPTION_WEIGHTS)")
    p.add_argument("--allow-download", action="store_true",
                   help="with --extractor auto: let ganzoo fetch the Inception weights if they are not here")
    p.add_argument("--reference-split", default=None,
                   help="real split to compare with (default: the split the checkpoint trained on)")
    p.add_argument("--data-root", default=None, help="where datasets live (default: the checkpoint's)")
    p.add_argument("--device", default="cpu", help="where to sample: cpu, cuda, auto")
    p.add_argument("--kid-subsets", type=positive_int, default=100,
                   help="KID: number of random subsets (of up to 1000 samples) to average (default 100)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the generator's samples (default: the run's seed + 12345)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run_eval(args) -> int:
    from ganzoo.errors import ConfigError
    from ganzoo.metrics.evaluation import evaluate
    from ganzoo.trainer import SEED_MAX, Trainer, read_checkpoint

    for flag, value in (("--n", args.n), ("--n-reference", args.n_reference)):
        if value is not None and value < 2:  # a covariance (FID) needs two samples
            raise ConfigError(f"{flag} must be at least 2, got {value}")
    if args.seed is not None and not 0 <= args.seed <= SEED_MAX:
        raise ConfigError(f"--seed must be in 0..{SEED_MAX}, got {args.seed}")
    overrides = {} if args.data_root is None else {"data_root": args.data_root}
    data = None
    if overrides:
        from ganzoo.data import load

        spec = dict(read_checkpoint(args.checkpoint)["dataset"])
        spec.update(overrides)
        data = load(spec.pop("name"), **spec)
    trainer = Trainer.from_checkpoint(args.checkpoint, data=data, device=args.device)
    if overrides:
        trainer.dataset_spec = dict(trainer.dataset_spec, **overrides)
    result = evaluate(trainer, n=args.n, n_reference=args.n_reference, n_modes=args.n_modes,
                      extractor=args.extractor, inception_weights=args.inception_weights,
                      weights=args.weights, allow_download=args.allow_download, reference_split=args.reference_split,
                      kid_subsets=args.kid_subsets, seed=args.seed)
    result = {"checkpoint": args.checkpoint, "variant": trainer.variant.name, "step": trainer.step,
              **result}
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_result(result))
    return 0


def format_result(result: Dict[str, Any]) -> str:
    """Metrics as aligned ``name  value`` lines, then the protocol."""
    proto = result.get("protocol", {})
    metrics = {k: v for k, v in result.items() if k not in ("protocol", "checkpoint", "variant", "step")}
    width = max((len(k) for k in metrics), default=0)
    lines = [f"{result.get('variant')} on {proto.get('dataset')}, step {result.get('step')} "
             f"({result.get('checkpoint')})", ""]
    for k, v in metrics.items():
        lines.append(f"  {k:<{width}}  {_fmt(v)}")
    lines += ["", "protocol:"]
    ref = proto.get("reference") or {}
    lines.append(f"  reference: {ref.get('dataset')} {ref.get('split')} split, first {ref.get('n')} "
                 f"of {ref.get('of')} ({ref.get('source')})")
    lines.append(f"  generated: {proto.get('generated')} samples"
                 + (f"; mode counts on {proto['mode_samples']}" if proto.get("mode_samples") else "")
                 + f"; sampler: {proto.get('sampler')}")
    for name, sp in (proto.get("feature_spaces") or {}).items():
        acc, official = sp.get("heldout_accuracy"), sp.get("official_weights")
        lines.append(f"  features: {name}, fingerprint {sp.get('fingerprint')}"
                     + (f" ({sp['title']}; {sp.get('paper')})" if sp.get("title") else "")
                     + (f", held-out accuracy {acc:.4f}" if acc is not None else "")
                     + (f", weights {sp.get('weights')}" if sp.get("weights") else "")
                     + ({True: " (the published file)", False: " (not the published file)"}.get(official, "")))
        if sp.get("trained_on"):
            t = sp["trained_on"]
            lines.append(f"    trained on {t.get('train')}; held out {t.get('heldout')}")
    for name, why in (proto.get("feature_spaces_missing") or {}).items():
        lines.append(f"  not measured in {name}: {why}")
    if proto.get("kid"):
        k = proto["kid"]
        lines.append(f"  KID: {k['subsets']} subsets of {k['subset_size']}, {k['kernel']} kernel")
    if proto.get("precision_recall"):
        lines.append(f"  precision/recall: k = {proto['precision_recall']['neighborhood']} nearest neighbours")
    if proto.get("density_coverage"):
        lines.append(f"  density/coverage (Naeem et al. 2020): k = {proto['density_coverage']['neighborhood']} "
                     f"nearest neighbours")
    if proto.get("hq_threshold"):
        lines.append(f"  high quality: {proto['hq_threshold']}")
    if proto.get("torch_fidelity"):
        lines.append(f"  torch-fidelity {proto['torch_fidelity']}")
    lines.append(f"  evaluation took {proto.get('eval_s', math.nan):.1f} s")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)

