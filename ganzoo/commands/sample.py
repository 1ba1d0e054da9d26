"""``ganzoo sample CHECKPOINT``: draw samples from a checkpoint into a PNG."""
from __future__ import annotations

from pathlib import Path

from ganzoo.argtypes import positive_int
from ganzoo.errors import ConfigError


def add_sample(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG")
    p.add_argument("checkpoint")
    p.add_argument("--n", type=positive_int, default=64)
    p.add_argument("--out", default="samples.png")
    p.add_argument("--label", type=int, default=None, help="conditional variants: one label for all samples")
    p.add_argument("--device", default="cpu")


def run_sample(args) -> int:
    from ganzoo.plots import save_samples
    from ganzoo.trainer import Trainer

    check_image_path(args.out)
    trainer = Trainer.from_checkpoint(args.checkpoint, device=args.device)
    labels = None
    if args.label is not None:
        import torch

        if not 0 <= args.label < trainer.data.num_classes:
            raise ConfigError(f"--label must be in 0..{trainer.data.num_classes - 1}, got {args.label}")
        labels = torch.full((args.n,), args.label, dtype=torch.long)
    samples = trainer.sample(args.n, labels=labels).cpu()
    title = f"{trainer.variant.name} on {trainer.data.name}, step {trainer.step}"
    save_samples(samples, trainer.data, args.out, title=title)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def check_image_path(path: str) -> None:
    """A file name whose suffix matplotlib can write (refused before any sampling)."""
    from matplotlib.figure import Figure

    supported = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in supported:
        raise ConfigError(f"--out {path!r}: cannot write a {suffix or 'suffix-less'} file; "
                          f"valid suffixes: {', '.join('.' + s for s in sorted(supported))}")

