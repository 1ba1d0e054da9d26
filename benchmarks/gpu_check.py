"""ganzoo's fast path on one GPU: the issue's reference rows and every variant, in one table.

Run through ``benchmarks/gpu_check.sh`` (installs nothing, fits in 6 minutes on one
H100/H200), or directly: ``PYTHONPATH=. python3 benchmarks/gpu_check.py [--budget S]``.
Writes ``gpu_check.json`` (every measurement) and ``gpu_check.txt`` (the table) under
``$OUT`` when it is set, else next to this script.

Columns: ``plain`` is :class:`ganzoo.throughput.PlainLoop` — a plain eager loop over the
same nets, batch and losses (default optimizers, no logging); ``eager``/``graph``/
``auto`` are ganzoo's trainer in that perf mode; ``ref`` the issue's numbers (one
H200, torch 2.11, a plain script). Rates are real images shown to D per second.
Data are synthetic (MNIST-shaped 1×28×28, or 3×64×64 for DCGAN): throughput does not
depend on the pixels. Imports nothing from ganzoo.metrics (no torch-fidelity needed).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganzoo.registry import VARIANTS  # noqa: E402
from ganzoo.throughput import matmul_peak, measure_throughput  # noqa: E402

MNIST, IMG64 = "1x28x28", "3x64x64"

# The issue's reference rows: (key, title, variant, arch, shape, batch, precision, refs).
REFERENCE = [
    ("mlp-b64", "seed MLP GAN, batch 64, fp32", "nsgan", "mlp", MNIST, 64, "fp32",
     {"plain": 12.4e3, "plain_item": 10.7e3, "graph": 125e3}),
    ("mlp-b4096", "seed MLP GAN, batch 4096, bf16", "nsgan", "mlp", MNIST, 4096, "bf16",
     {"plain": 638e3, "plain_tf32": 797e3, "graph": 4.13e6}),
    ("mlp-b32768", "seed MLP GAN, batch 32768, bf16", "nsgan", "mlp", MNIST, 32768, "bf16",
     {"plain": 4.78e6, "compile": 5.38e6, "graph": 9.52e6}),
    ("wgangp-b64", "WGAN-GP on the MLP nets, n_critic 5, batch 64", "wgan-gp", "mlp", MNIST, 64, "fp32",
     {"plain": 12.0e3, "graph": 120e3}),
    ("wgangp-b4096", "WGAN-GP, batch 4096 (fp32)", "wgan-gp", "mlp", MNIST, 4096, "fp32",
     {"plain": 742e3, "graph": 2.59e6}),
    ("dcgan-b128", "DCGAN 64x64, batch 128, bf16, channels_last", "nsgan", "dcgan", IMG64, 128, "bf16",
     {"plain": 17.2e3, "graph": 49.3e3}),
    ("dcgan-b1024", "DCGAN 64x64, batch 1024, bf16, channels_last", "nsgan", "dcgan", IMG64, 1024, "bf16",
     {"plain": 83.5e3, "graph": 86.8e3}),
]
VARIANT_BATCHES = (64, 4096)


def out_dir() -> Path:
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else Path(__file__).resolve().parent


def human(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


class Check:
    def __init__(self, budget: float, seconds: float, device: str, env: dict, smoke: bool = False):
        self.t0 = time.perf_counter()
        self.budget = budget
        self.seconds = seconds
        self.device = device
        self.env = env
        self.smoke = smoke
        self.results: list = []

    def save(self, **more) -> Path:
        """Write everything measured so far (also after each measurement: a timeout loses nothing)."""
        out = out_dir()
        out.mkdir(parents=True, exist_ok=True)
        path = out / "gpu_check.json"
        path.write_text(json.dumps({"env": self.env, **more, "measurements": self.results},
                                   indent=1, default=str) + "\n")
        return path

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def measure(self, tag: str, cost: float, **kw):
        """One measurement (None, recorded as skipped/failed, when it cannot be made)."""
        if self.smoke:  # a quick run of this script's own logic, on any device
            kw["batch"] = min(kw["batch"], 32)
            kw["data"] = "2" if kw.get("arch") == "mlp" else "1x28x28"
            kw["warmup"] = 4
            if not self.device.startswith("cuda") and kw.get("perf") == "graph":
                kw["perf"] = "auto"
        kw["device"] = self.device
        entry = {"tag": tag, **kw}
        if self.left() < cost:
            entry["skipped"] = f"time budget ({self.left():.0f} s left, needs ~{cost:.0f} s)"
            print(f"  skip {tag}: {entry['skipped']}", flush=True)
            self.results.append(entry)
            return None
        t = time.perf_counter()
        try:
            r = measure_throughput(seconds=self.seconds, **kw)
            entry.update(r)
        except Exception as err:  # noqa: BLE001  (a row fails, the check goes on)
            entry["error"] = f"{type(err).__name__}: {err}"
            entry["traceback"] = traceback.format_exc()
            print(f"  FAIL {tag}: {entry['error']}", flush=True)
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        entry["wall_s"] = time.perf_counter() - t
        if "img_per_s" in entry:
            print(f"  {tag}: {human(entry['img_per_s'])} img/s, {entry['ms_per_step']:.3f} ms/step, "
                  f"mode {entry['perf_used']}, mfu {entry['mfu'] or 0:.1%} ({entry['wall_s']:.1f} s)"
                  + (f"  [{'; '.join(entry['notices'])}]" if entry.get("notices") else ""), flush=True)
        self.results.append(entry)
        self.save()
        return entry


def rate(entry, key="img_per_s"):
    return entry.get(key) if entry else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=230.0, help="seconds for all measurements (default 230)")
    ap.add_argument("--seconds", type=float, default=0.7, help="timed seconds per measurement (default 0.7)")
    ap.add_argument("--variants", default=None, help="comma-separated variants (default: all registered)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only with --smoke")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny batches and 2D data: checks this script's logic on any device, measures nothing useful")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to measure (--device cpu --smoke tests the script)",
              file=sys.stderr)
        return 2
    cuda = args.device.startswith("cuda")
    dev = torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()})"
    env = {"device": dev, "torch": torch.__version__, "cuda": torch.version.cuda,
           "python": platform.python_version(),
           "capability": list(torch.cuda.get_device_capability(0)) if cuda else None,
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "smoke": args.smoke}
    check = Check(args.budget, args.seconds, args.device, env, smoke=args.smoke)
    print(f"gpu_check on {dev}, torch {torch.__version__}", flush=True)
    peaks = {p: matmul_peak(args.device, p) / 1e12 for p in ("bf16", "tf32", "fp32")}
    env["matmul_peak_tflops"] = peaks
    print("measured matmul peak (TFLOP/s): " + ", ".join(f"{k} {v:.3g}" for k, v in peaks.items()), flush=True)

    rows = []
    # 1. the reference rows: plain loop, ganzoo eager, ganzoo graph
    for key, title, variant, arch, shape, batch, precision, refs in REFERENCE:
        print(f"[{key}] {title}", flush=True)
        base = dict(variant=variant, arch=arch, data=shape, batch=batch, precision=precision)
        big = batch >= 4096 or arch == "dcgan"
        graph = check.measure(f"{key}/graph", 10 if big else 6, perf="graph", **base)
        eager = check.measure(f"{key}/eager+plain", 8, perf="eager", baseline=True, flops=False, **base)
        rows.append({"key": key, "title": title, "refs": refs, "plain": rate(eager, "plain_img_per_s"),
                     "eager": rate(eager), "graph": rate(graph), "mfu": (graph or {}).get("mfu"),
                     "mode": (graph or {}).get("perf_used"), "flops_per_img": (graph or {}).get("flops_per_img")})

    # 2. every registered variant at batch 64 and 4096 (the MLP nets, MNIST-shaped, fp32), perf auto
    names = args.variants.split(",") if args.variants else VARIANTS.names()
    variant_rows = []
    for batch in VARIANT_BATCHES:
        for name in names:
            tag = f"{name}-b{batch}"
            print(f"[{tag}]", flush=True)
            cost = 8 if batch >= 4096 else 5
            r = check.measure(tag, cost, variant=name, arch="mlp", data=MNIST, batch=batch, precision="fp32",
                              perf="auto", baseline=True)
            variant_rows.append({"variant": name, "batch": batch, "auto": rate(r),
                                 "plain": rate(r, "plain_img_per_s"), "mode": (r or {}).get("perf_used"),
                                 "mfu": (r or {}).get("mfu"), "notices": (r or {}).get("notices")})

    # 3. extras, as time allows: compile at 32768, the plain loop with .item() and with tf32
    extras = {}
    if not args.no_compile:
        print("[mlp-b32768/compile]", flush=True)
        extras["compile_b32768"] = rate(check.measure("mlp-b32768/compile", 60, variant="nsgan", arch="mlp",
                                                      data=MNIST, batch=32768, precision="bf16",
                                                      perf="compile", flops=False))
    print("[mlp-b4096/plain-tf32]", flush=True)
    extras["plain_tf32_b4096"] = rate(check.measure("mlp-b4096/plain-tf32", 8, variant="nsgan", arch="mlp",
                                                    data=MNIST, batch=4096, precision="tf32", perf="eager",
                                                    baseline=True, flops=False),
                                      "plain_img_per_s")

    table = render(env, rows, variant_rows, extras)
    print(table)
    path = check.save(rows=rows, variants=variant_rows, extras=extras)
    (path.parent / "gpu_check.txt").write_text(table + "\n")
    print(f"wrote {path} and {path.parent / 'gpu_check.txt'}")
    return 0


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def render(env, rows, variant_rows, extras) -> str:
    lines = [f"ganzoo gpu_check — {env['device']}, torch {env['torch']}, {env['date']}",
             "matmul peak measured: " + ", ".join(f"{k} {v:.3g} TFLOP/s" for k, v in env["matmul_peak_tflops"].items()),
             "", "Reference rows (img/s; ref = the issue's H200 numbers)",
             f"{'workload':<48} {'plain':>8} {'ref':>8} {'eager':>8} {'graph':>8} {'ref':>8} "
             f"{'vs ref':>7} {'vs plain':>8} {'MFU':>6} mode"]
    for r in rows:
        refs = r["refs"]
        lines.append(f"{r['title']:<48} {human(r['plain']):>8} {human(refs.get('plain')):>8} "
                     f"{human(r['eager']):>8} {human(r['graph']):>8} {human(refs.get('graph')):>8} "
                     f"{ratio(r['graph'], refs.get('graph')):>7} {ratio(r['graph'], r['plain']):>8} "
                     f"{(r['mfu'] or 0):>6.1%} {r['mode'] or '-'}")
    lines += ["", "Every variant (MLP nets, 1x28x28, fp32, perf auto vs the plain eager loop)",
              f"{'variant':<10} {'batch':>6} {'plain':>8} {'ganzoo':>8} {'speedup':>8} {'MFU':>6} mode"]
    for r in variant_rows:
        lines.append(f"{r['variant']:<10} {r['batch']:>6} {human(r['plain']):>8} {human(r['auto']):>8} "
                     f"{ratio(r['auto'], r['plain']):>8} {(r['mfu'] or 0):>6.1%} {r['mode'] or '-'}"
                     + (f"  ({'; '.join(r['notices'])})" if r.get("notices") else ""))
    lines += ["", "Extras: " + ", ".join(f"{k} {human(v)}" for k, v in extras.items()), "",
              "Targets (the issue's references were measured on one NVIDIA H200 with torch 2.11; "
              "on another card they are a yardstick, not a like-for-like comparison):"]
    by_key = {r["key"]: r for r in rows}
    for r in rows:
        ok = r["graph"] and r["graph"] >= r["refs"]["graph"]
        lines.append(f"  [{'PASS' if ok else 'FAIL'}] {r['key']}: graph {human(r['graph'])} >= ref {human(r['refs']['graph'])}")
    mfu = by_key.get("mlp-b32768", {}).get("mfu")
    lines.append(f"  [{'PASS' if mfu and mfu >= 0.5 else 'FAIL'}] seed MLP b32768 bf16 MFU {(mfu or 0):.1%} >= 50%")
    dc = by_key.get("dcgan-b1024", {}).get("graph")
    lines.append(f"  [{'PASS' if dc and dc >= 130e3 else 'FAIL'}] DCGAN 64x64 b1024 {human(dc)} >= 130k")
    for r in variant_rows:
        if r["batch"] == 64:
            ok = r["auto"] and r["plain"] and r["auto"] >= 10 * r["plain"]
            lines.append(f"  [{'PASS' if ok else 'FAIL'}] {r['variant']} b64: {ratio(r['auto'], r['plain'])} its plain loop (>= 10x)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
