"""ganzoo's trainer step against a plain eager loop, interleaved, on the CPU.

    .venv/bin/python benchmarks/cpu_step_compare.py [--variants nsgan,wgan-gp] [--shape 1x28x28]
        [--batch 64] [--steps 5] [--rounds 7] [--threads N]

The same comparison as ``make bench-micro`` (benchmarks/test_step_variants.py), but the
ganzoo and plain rounds alternate, so a busy machine slows both alike; the table gives
each side's best and median round in real images per second and the ratio of the
bests (ganzoo / plain; the target is >= 0.95). ``plain-fused`` is the plain loop with
fused Adam. Synthetic data; nothing is read from disk.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganzoo.registry import VARIANTS  # noqa: E402
from ganzoo.throughput import PlainLoop, synthetic_data  # noqa: E402
from ganzoo.trainer import TrainConfig, Trainer  # noqa: E402


def compare(variant: str, data, batch: int, steps: int, rounds: int, fused_plain: bool,
            clock=time.perf_counter):
    torch.manual_seed(0)
    trainer = Trainer(variant, data, arch="mlp",
                      config=TrainConfig(steps=10 ** 9, batch_size=batch, device="cpu", log_every=100))
    sides = {"ganzoo": lambda: trainer.fit(trainer.step + steps)}
    plain = PlainLoop(trainer)
    sides["plain"] = lambda: plain.run(steps)
    if fused_plain:
        fused = PlainLoop(trainer, fused=True)
        sides["plain-fused"] = lambda: fused.run(steps)
    times = {k: [] for k in sides}
    for fn in sides.values():
        fn()  # warm-up
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for k in order:
            t = clock()
            sides[k]()
            times[k].append(clock() - t)
    images = steps * trainer.images_per_step
    return {k: (images / min(v), images / statistics.median(v)) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=None, help="comma-separated (default: all registered)")
    ap.add_argument("--shape", default="1x28x28", help="sample shape (default 1x28x28, the seed MLP)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="iterations per timed round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with this process's CPU time instead of wall time: with --threads 1, "
                         "robust to other processes on a busy machine")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = synthetic_data(args.shape, n=4096)
    names = args.variants.split(",") if args.variants else VARIANTS.names()
    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}; "
          f"mlp nets, {args.shape}, batch {args.batch}, {args.steps} steps x {args.rounds} rounds, "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    print(f"{'variant':<10} {'ganzoo best':>12} {'plain best':>11} {'ratio':>6} {'ganzoo med':>11} "
          f"{'plain med':>10} {'plain-fused best':>17}")
    worst = None
    for name in names:
        r = compare(name, data, args.batch, args.steps, args.rounds, fused_plain=True,
                    clock=time.process_time if args.cpu_time else time.perf_counter)
        ratio = r["ganzoo"][0] / r["plain"][0]
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{name:<10} {r['ganzoo'][0]:>12.0f} {r['plain'][0]:>11.0f} {ratio:>6.2f} "
              f"{r['ganzoo'][1]:>11.0f} {r['plain'][1]:>10.0f} {r['plain-fused'][0]:>17.0f}", flush=True)
    print(f"worst ganzoo/plain ratio (bests): {worst:.2f}; load now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
