"""ganzoo's fast path on one GPU: issue 6's reference rows and every variant, in one table.

Run through ``benchmarks/gpu_check.sh`` (about 5 minutes on one H100/H200), or directly:
``PYTHONPATH=. python3 benchmarks/gpu_check.py [--budget S]``. ``--smoke`` runs a tiny
version of every row (batch ≤ 16, 2-D points for the MLP rows, 8×8 images for DCGAN, a few
steps) on any device, the CPU when there is no GPU, in seconds: it checks this script
(rows, targets, ratios, files), not the speed; ``make test`` runs it (tests/test_gpu_check.py).

Writes ``gpu_check.json`` (every measurement, the rows, the targets) and ``gpu_check.txt``
(the table) under ``$OUT`` when set, else ``--out``, else next to this script — after
every measurement, each file replaced whole: a kill or a timeout loses only the
measurement in progress. ``"complete": true`` in the JSON once every row has run.

Columns: ``plain`` is :class:`ganzoo.throughput.PlainLoop` — a plain eager loop over the
same nets, batch and losses (default optimizers, no logging) in the same process;
``eager``/``graph``/``auto`` are ganzoo's trainer in that perf mode; ``ref`` is issue 6's
numbers (one NVIDIA H200, torch 2.11, a plain script written apart from ganzoo). Rates are
real images shown to D per second. Data are synthetic (MNIST-shaped 1×28×28, or 3×64×64
for DCGAN, at least one batch of rows): throughput does not depend on the pixels.
Imports nothing from ganzoo.metrics (no torch-fidelity needed).

Targets: each one is a ratio to a named reference number, with its reason (REFERENCE,
VARIANT_SPEEDUP, MFU_REF below). The references are an H200's: on another card (an H100
has the same compute, less memory bandwidth) they are a yardstick, and the table says so.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganzoo import faults  # noqa: E402
from ganzoo.files import atomic_write  # noqa: E402
from ganzoo.perf import compile_refusal  # noqa: E402
from ganzoo.registry import VARIANTS  # noqa: E402
from ganzoo.throughput import matmul_peak, measure_throughput  # noqa: E402

MNIST, IMG64 = "1x28x28", "3x64x64"
REF_CARD = "NVIDIA H200"
KILL_POINT = "gpu-check-row"  # ganzoo.faults: a test kills the script after its N-th write

# Why each reference row needs the ratio it needs (ganzoo's graph / the reference's graph).
# ganzoo's graphed step replays the same nets and losses as the reference's graph, plus what
# the trainer logs: the gradient norms of G and D, the means of D's outputs and the stacked
# row of logged values — about 10 more small kernels per D and G step (a few µs each in a
# replay), against the reference's few hundred.
LAUNCH_BOUND = ("batch 64 is launch-bound (about 0.5 ms a step for the MLP; the reference's graph is 10x its "
                "plain loop): ganzoo's ~10 extra small kernels per D and G step cost ~5-10 %; need 0.85")
LARGE_BATCH = ("a step of 1 ms or more (the reference's graph rate over the batch): ganzoo's ~10 extra small "
               "kernels per D and G step add under 4 %; need 0.9, the rest for the spread of a sub-second "
               "measurement")


@dataclass(frozen=True)
class Reference:
    """One of issue 6's rows: the workload, the reference's numbers (img/s), the target."""

    key: str
    title: str
    variant: str
    arch: str
    shape: str
    batch: int
    precision: str
    refs: Dict[str, float]  # the reference's img/s: plain (its eager loop), graph, and others
    need: float  # this row's target: ganzoo's graph / refs["graph"] >= need
    why: str


# The reference script turned TF32 on globally, so its "fp32" rows were TF32 rows; ganzoo's
# fp32 is true fp32 (TF32 off). Those rows run at tf32 here, like with like. (Its WGAN-GP at
# batch 4096 needs about 96 TFLOP/s, above an H200's true-fp32 peak: it could not pass at fp32.)
REFERENCE = [
    Reference("mlp-b64", "seed MLP GAN, b64, tf32 (ref 'fp32' = TF32)", "nsgan", "mlp", MNIST, 64, "tf32",
              {"plain": 12.4e3, "plain_item": 10.7e3, "graph": 125e3}, 0.85, LAUNCH_BOUND),
    Reference("mlp-b4096", "seed MLP GAN, b4096, bf16", "nsgan", "mlp", MNIST, 4096, "bf16",
              {"plain": 638e3, "plain_tf32": 797e3, "graph": 4.13e6}, 0.9, LARGE_BATCH),
    Reference("mlp-b32768", "seed MLP GAN, b32768, bf16", "nsgan", "mlp", MNIST, 32768, "bf16",
              {"plain": 4.78e6, "compile": 5.38e6, "graph": 9.52e6}, 0.9, LARGE_BATCH),
    Reference("wgangp-b64", "WGAN-GP MLP, n_critic 5, b64, tf32 (ref 'fp32' = TF32)", "wgan-gp", "mlp", MNIST,
              64, "tf32", {"plain": 12.0e3, "graph": 120e3}, 0.85, LAUNCH_BOUND),
    Reference("wgangp-b4096", "WGAN-GP MLP, b4096, tf32 (ref 'fp32' = TF32)", "wgan-gp", "mlp", MNIST, 4096,
              "tf32", {"plain": 742e3, "graph": 2.59e6}, 0.9, LARGE_BATCH),
    Reference("dcgan-b128", "DCGAN 64x64, b128, bf16, channels_last", "nsgan", "dcgan", IMG64, 128, "bf16",
              {"plain": 17.2e3, "graph": 49.3e3}, 0.85,
              "partly launch-bound (about 2.6 ms a step; the reference's graph is 2.9x its plain loop), and "
              "BatchNorm adds small kernels: need 0.85, as at batch 64"),
    # Replaces the earlier "DCGAN b1024 >= 130k": the reference's own graph reached 86.8k and
    # its plain loop 83.5k — conv-bound, capture gained 4 % — so nothing at the step level
    # makes 1.5x that; the target is the reference's graph, as for every row.
    Reference("dcgan-b1024", "DCGAN 64x64, b1024, bf16, channels_last", "nsgan", "dcgan", IMG64, 1024, "bf16",
              {"plain": 83.5e3, "graph": 86.8e3}, 0.9,
              "convolution-bound (the reference's graph is 1.04x its plain loop; 130k was never reached): "
              + LARGE_BATCH.split(": ", 1)[1]),
]

# Every variant at batch 64: ganzoo's auto mode over its own plain loop (same process, same
# nets), against the reference's graph-over-plain ratio at batch 64 — seed MLP 125k / 12.4k =
# 10.1x (WGAN-GP: 120k / 12.0k = 10.0x). Need 0.8 of it (>= 8.06x): ganzoo's graph does a
# little more than the reference's (0.85 above) and ganzoo's PlainLoop is not the reference
# script's loop. Replaces the earlier ">= 10x", which asked for more than the reference got.
VARIANT_SPEEDUP = dict(reference="mlp-b64 graph / plain (125k / 12.4k)", value=125e3 / 12.4e3, need=0.8)
# A variant that declares graph_safe = False never runs as a graph (ganzoo.perf): it runs
# eagerly, and its reference is its own plain loop (1.0x). Need 0.8: the same math plus the
# grad norms and the log row, with no host synchronisation.
EAGER_SPEEDUP = dict(reference="its own plain loop (eager: graph_safe = False)", value=1.0, need=0.8)
# MFU of the seed MLP at batch 32768, bf16: the reference reached about 42 % of the card's
# measured bf16 matmul peak (issue 6: 9.52M img/s at about 35 MFLOP per image), not the
# earlier target's 50 %. MFU divides by this card's own measured peak, so this is the target
# that still reads right on another card; need 0.9 of it, as for the rate (LARGE_BATCH).
MFU_REF = dict(key="mlp-b32768", reference="mlp-b32768 graph MFU (~42 % of the H200's bf16 peak)",
               value=0.42, need=0.9)
VARIANT_BATCHES = (64, 4096)
SMOKE_BATCH = 16


def out_dir(arg: Optional[str] = None) -> Path:
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"])
    return Path(arg) if arg else Path(__file__).resolve().parent


def human(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def ratio(a, b) -> Optional[float]:
    return a / b if a and b else None


def times(x: Optional[float]) -> str:
    return f"{x:.2f}x" if x is not None else "-"


def pct(x: Optional[float]) -> str:
    return f"{x:.1%}" if x is not None else "-"


class Check:
    """The measurements, the rows made of them, and the two files, rewritten after each one."""

    def __init__(self, args, device: str, env: dict):
        self.t0 = time.perf_counter()
        self.budget = args.budget
        self.seconds = args.seconds
        self.smoke = args.smoke
        self.device = device
        self.env = env
        self.out = out_dir(args.out)
        self.measurements: List[dict] = []
        self.rows: List[dict] = []
        self.variant_rows: List[dict] = []
        self.extras: Dict[str, dict] = {}

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def measure(self, tag: str, cost: float, **kw) -> Optional[dict]:
        """One measurement (None, recorded as skipped or failed, when it cannot be made)."""
        kw.setdefault("warmup", 6)
        entry: Dict[str, Any] = {"tag": tag, "perf_requested": kw["perf"]}
        if self.smoke:  # a tiny run of this script's own logic, on any device
            kw["batch"] = min(kw["batch"], SMOKE_BATCH)
            kw["data"] = "2" if kw["arch"] == "mlp" else "1x8x8"
            kw["warmup"] = 2
            if not self.device.startswith("cuda") and kw["perf"] in ("graph", "compile"):
                kw["perf"] = "auto"  # no CUDA graph here, and a CPU compile takes tens of seconds
        kw["device"] = self.device
        entry.update({k: v for k, v in kw.items() if k != "device"})
        if self.left() < cost:
            entry["skipped"] = f"time budget ({self.left():.0f} s left, needs ~{cost:.0f} s)"
            print(f"  skip {tag}: {entry['skipped']}", flush=True)
            self.measurements.append(entry)
            self.write()
            return None
        t = time.perf_counter()
        try:
            entry.update(measure_throughput(seconds=self.seconds, **kw))
        except Exception as err:  # noqa: BLE001  (a measurement fails, the check goes on)
            entry["error"] = f"{type(err).__name__}: {err}"
            entry["traceback"] = traceback.format_exc()
            print(f"  FAIL {tag}: {entry['error']}", flush=True)
        finally:
            if self.device.startswith("cuda"):  # this row's blocks back to the card before the next row
                gc.collect()
                torch.cuda.empty_cache()
        entry["wall_s"] = time.perf_counter() - t
        if "img_per_s" in entry:
            print(f"  {tag}: {human(entry['img_per_s'])} img/s, {entry['ms_per_step']:.3f} ms/step, "
                  f"mode {entry['perf_used']}, mfu {pct(entry['mfu'])} ({entry['wall_s']:.1f} s)"
                  + (f"  [{'; '.join(entry['notices'])}]" if entry.get("notices") else ""), flush=True)
        self.measurements.append(entry)
        self.write()
        return entry

    def document(self, complete: bool = False) -> dict:
        return {"env": self.env, "complete": complete, "rows": self.rows, "variants": self.variant_rows,
                "extras": self.extras, "targets": targets(self.rows, self.variant_rows, self.extras),
                "measurements": self.measurements}

    def write(self, complete: bool = False) -> Path:
        """Both files, each replaced whole (a reader or a kill never sees half of one)."""
        doc = self.document(complete)
        text = render(doc) + "\n"
        path = self.out / "gpu_check.json"
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1, default=str) + "\n"))
        atomic_write(self.out / "gpu_check.txt", lambda tmp: Path(tmp).write_text(text))
        if faults.armed(KILL_POINT):
            faults.die()
        return path


def rate(entry, key="img_per_s"):
    return entry.get(key) if entry else None


# ---- targets ---------------------------------------------------------------------------
def target(name: str, unit: str, reference: str, ref_value: float, value: Optional[float],
           need: Optional[float], why: str, ran: bool = True, missing: str = "FAIL") -> dict:
    """One target: ``value`` over ``ref_value`` (the named reference) must reach ``need``
    (None: shown for information). ``unit``: "img/s", "x" (a speedup) or "MFU". Status PASS,
    FAIL, info, 'not run' (skipped for time) or ``missing`` (ran, but gave no value: a failed
    row is a FAIL)."""
    r = ratio(value, ref_value)
    if need is None:
        status = "info"
    elif r is None:
        status = missing if ran else "not run"
    else:
        status = "PASS" if r >= need else "FAIL"
    return {"target": name, "unit": unit, "reference": reference, "ref_value": ref_value, "value": value,
            "ratio": r, "need": need, "status": status, "why": why}


def targets(rows: List[dict], variant_rows: List[dict], extras: Dict[str, dict]) -> List[dict]:
    """Every target, from the rows measured so far (rows not yet run: 'not run')."""
    out = []
    by_key = {r["key"]: r for r in rows}
    for ref in REFERENCE:
        row = by_key.get(ref.key, {})
        out.append(target(f"{ref.key} graph", "img/s", f"{ref.key} ref graph", ref.refs["graph"], row.get("graph"),
                          ref.need, ref.why, ran=bool(row.get("graph_ran"))))
    row = by_key.get(MFU_REF["key"], {})
    out.append(target(f"{MFU_REF['key']} graph MFU", "MFU", MFU_REF["reference"], MFU_REF["value"], row.get("mfu"),
                      MFU_REF["need"], "the reference reached ~42 %, not 50 %; MFU divides by this card's own "
                      "measured bf16 peak, so it reads right on another card; need 0.9, as for the rate",
                      ran=bool(row.get("graph_ran")), missing="no MFU" if row.get("graph") else "FAIL"))
    for r in variant_rows:
        if r["batch"] != 64:
            continue
        spec = EAGER_SPEEDUP if r.get("graph_refused") else VARIANT_SPEEDUP
        why = ("graph_safe = False: runs eagerly, the same math as its plain loop plus the logged values, no "
               "host sync; need 0.8" if r.get("graph_refused") else
               "0.8 of the reference's graph-over-plain ratio at batch 64 (10.1x): ganzoo's graph does a little "
               "more (need 0.85 above), and ganzoo's plain loop is not the reference script's")
        out.append(target(f"{r['variant']}-b64 auto / plain", "x", spec["reference"], spec["value"],
                          ratio(r.get("auto"), r.get("plain")), spec["need"], why, ran=bool(r.get("ran"))))
    ref32768 = next(r for r in REFERENCE if r.key == "mlp-b32768").refs
    ref4096 = next(r for r in REFERENCE if r.key == "mlp-b4096").refs
    for key, (reference, value, note) in {
        "compile_b32768": ("mlp-b32768 ref compile", ref32768["compile"], "ganzoo compiles G and D only"),
        "plain_tf32_b4096": ("mlp-b4096 ref plain tf32", ref4096["plain_tf32"], "the plain loop at tf32"),
    }.items():
        row = extras.get(key) or {}
        out.append(target(key, "img/s", reference, value, row.get("value"), None, note))
    return out


# ---- the check --------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=180.0,
                    help="seconds for all measurements; a row that would not fit is skipped (default 180)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="timed seconds per measurement (default 0.5; 0.01 with --smoke)")
    ap.add_argument("--variants", default=None, help="comma-separated variants (default: all registered)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    ap.add_argument("--device", default="auto", help="auto (default: cuda, or cpu with --smoke), cuda, cuda:N, cpu")
    ap.add_argument("--out", default=None, help="folder for gpu_check.json/.txt ($OUT wins; default: beside this)")
    ap.add_argument("--smoke", action="store_true",
                    help="every row, tiny (batch <= 16, 2-D points, 8x8 images, few steps), on any device: "
                         "checks this script in seconds, measures nothing useful")
    args = ap.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.01 if args.smoke else 0.5
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to measure (--smoke runs the script on the CPU)",
              file=sys.stderr)
        return 2
    if not cuda and not args.smoke:
        print("gpu_check: measuring needs a CUDA device; on the CPU only --smoke runs", file=sys.stderr)
        return 2
    dev = torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()})"
    env = {"device": dev, "torch": torch.__version__, "cuda": torch.version.cuda,
           "python": platform.python_version(),
           "capability": list(torch.cuda.get_device_capability(0)) if cuda else None,
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "smoke": args.smoke, "budget_s": args.budget,
           "seconds": args.seconds, "argv": sys.argv[1:] if argv is None else list(argv),
           "reference_card": REF_CARD}
    check = Check(args, device, env)
    gc.freeze()  # what is alive now stays: the collection after each row then scans only that row's objects
    print(f"gpu_check on {dev}, torch {torch.__version__}{' (smoke)' if args.smoke else ''}", flush=True)
    env["matmul_peak_tflops"] = {p: matmul_peak(device, p) / 1e12 for p in ("bf16", "tf32", "fp32")}
    print("measured matmul peak (TFLOP/s): " + ", ".join(f"{k} {v:.3g}" for k, v in
                                                         env["matmul_peak_tflops"].items()), flush=True)

    # 1. the reference rows: ganzoo's graph, ganzoo eager and the plain loop
    for ref in REFERENCE:
        print(f"[{ref.key}] {ref.title}", flush=True)
        row = {"key": ref.key, "title": ref.title, "precision": ref.precision, "batch": ref.batch,
               "refs": ref.refs, "need": ref.need, "plain": None, "eager": None, "graph": None, "mfu": None,
               "mode": None, "flops_per_img": None, "graph_ran": False}
        check.rows.append(row)
        base = dict(variant=ref.variant, arch=ref.arch, data=ref.shape, batch=ref.batch, precision=ref.precision)
        big = ref.batch >= 4096 or ref.arch == "dcgan"
        graph = check.measure(f"{ref.key}/graph", 10 if big else 6, perf="graph", **base)
        row.update(graph=rate(graph), mfu=(graph or {}).get("mfu"), mode=(graph or {}).get("perf_used"),
                   flops_per_img=(graph or {}).get("flops_per_img"), graph_ran=graph is not None)
        eager = check.measure(f"{ref.key}/eager+plain", 8, perf="eager", baseline=True, flops=False, **base)
        row.update(plain=rate(eager, "plain_img_per_s"), eager=rate(eager))
        check.write()

    # 2. every registered variant at batch 64 (the targets), then the cheap extra, then batch
    # 4096 (no target), then the compile extra (about a minute of compiling): a budget cut
    # drops the least useful rows. MLP nets, MNIST-shaped, tf32 (what the reference's "fp32"
    # was, so the batch-64 target compares like with like), perf auto (graph, then compile
    # where it can work, then eager: ganzoo.perf).
    names = args.variants.split(",") if args.variants else VARIANTS.names()

    def variant_row(name: str, batch: int) -> None:
        tag = f"{name}-b{batch}"
        print(f"[{tag}]", flush=True)
        cls = VARIANTS.get(name) if name in VARIANTS else None
        row = {"variant": name, "batch": batch, "auto": None, "plain": None, "mode": None, "mfu": None,
               "notices": None, "ran": False, "graph_refused": bool(cls and getattr(cls, "graph_safe", True) is False),
               "compile_refusal": compile_refusal(cls) if cls else None}
        check.variant_rows.append(row)
        r = check.measure(tag, 8 if batch >= 4096 else 5, variant=name, arch="mlp", data=MNIST, batch=batch,
                          precision="tf32", perf="auto", baseline=True)
        row.update(auto=rate(r), plain=rate(r, "plain_img_per_s"), mode=(r or {}).get("perf_used"),
                   mfu=(r or {}).get("mfu"), notices=(r or {}).get("notices"), ran=r is not None)
        check.write()

    for name in names:
        variant_row(name, VARIANT_BATCHES[0])

    def extra(key: str, tag: str, cost: float, field: str, **kw) -> None:
        print(f"[{tag}]", flush=True)
        row = {"key": key, "tag": tag, "value": None, "mode": None}
        check.extras[key] = row
        r = check.measure(tag, cost, **kw)
        row.update(value=rate(r, field), mode=(r or {}).get("perf_used"))
        check.write()

    extra("plain_tf32_b4096", "mlp-b4096/plain-tf32", 8, "plain_img_per_s", variant="nsgan", arch="mlp",
          data=MNIST, batch=4096, precision="tf32", perf="eager", baseline=True, flops=False)
    for batch in VARIANT_BATCHES[1:]:
        for name in names:
            variant_row(name, batch)
    if not args.no_compile:
        extra("compile_b32768", "mlp-b32768/compile", 60, "img_per_s", variant="nsgan", arch="mlp", data=MNIST,
              batch=32768, precision="bf16", perf="compile", flops=False)

    path = check.write(complete=True)
    print(render(check.document(complete=True)))
    print(f"wrote {path} and {path.parent / 'gpu_check.txt'} ({time.perf_counter() - check.t0:.0f} s)")
    return 0


# ---- the table --------------------------------------------------------------------------
def render(doc: dict) -> str:
    env = doc["env"]
    card_note = ("" if env["device"] == REF_CARD else
                 f" (this card: {env['device']} — the references are a yardstick, not like for like)")
    lines = [f"ganzoo gpu_check — {env['device']}, torch {env['torch']}, cuda {env['cuda']}, python "
             f"{env['python']}, {env['date']}" + ("  [SMOKE: tiny rows, not a measurement]" if env["smoke"] else ""),
             "matmul peak measured: " + ", ".join(f"{k} {v:.3g} TFLOP/s" for k, v in
                                                  env.get("matmul_peak_tflops", {}).items()),
             ("" if doc["complete"] else "INCOMPLETE: rows still to run (or the run was cut short)"),
             f"Reference rows (img/s; ref = issue 6's numbers on one {REF_CARD}, torch 2.11){card_note}",
             f"{'workload':<52} {'plain':>7} {'ref':>7} {'/ref':>6} {'eager':>7} {'graph':>7} {'ref':>7} "
             f"{'/ref':>6} {'/plain':>7} {'MFU':>6} mode"]
    for r in doc["rows"]:
        refs = r["refs"]
        lines.append(f"{r['title']:<52} {human(r['plain']):>7} {human(refs.get('plain')):>7} "
                     f"{times(ratio(r['plain'], refs.get('plain'))):>6} {human(r['eager']):>7} "
                     f"{human(r['graph']):>7} {human(refs.get('graph')):>7} "
                     f"{times(ratio(r['graph'], refs.get('graph'))):>6} {times(ratio(r['graph'], r['plain'])):>7} "
                     f"{pct(r['mfu']):>6} {r['mode'] or '-'}")
    lines += ["", "Every variant (MLP nets, 1x28x28, tf32, perf auto vs the plain eager loop at tf32)",
              f"{'variant':<10} {'batch':>6} {'plain':>8} {'ganzoo':>8} {'speedup':>8} {'MFU':>6} {'mode':<7} compile"]
    for r in doc["variants"]:
        lines.append(f"{r['variant']:<10} {r['batch']:>6} {human(r['plain']):>8} {human(r['auto']):>8} "
                     f"{times(ratio(r['auto'], r['plain'])):>8} {pct(r['mfu']):>6} {r['mode'] or '-':<7} "
                     f"{'not tried (' + r['compile_refusal'].split(' ', 2)[2] + ')' if r.get('compile_refusal') else 'may be tried'}"
                     + (f"  ({'; '.join(r['notices'])})" if r.get("notices") else ""))
    lines += ["", "Extras: " + ", ".join(f"{e['tag']} {human(e['value'])}" for e in doc["extras"].values()), "",
              f"Targets: measured / reference >= need (references: one {REF_CARD}){card_note}"]
    show = {"img/s": human, "x": times, "MFU": pct}
    reasons: List[str] = []
    for t in doc["targets"]:
        need = f"need >= {t['need']:.2f}" if t["need"] is not None else "(info)"
        fmt = show[t["unit"]]
        if t["why"] not in reasons:
            reasons.append(t["why"])
        lines.append(f"  [{t['status']:>7}] {t['target']:<24} {fmt(t['value']):>7} vs {t['reference']} "
                     f"{fmt(t['ref_value'])}: {times(t['ratio'])} {need} [{reasons.index(t['why']) + 1}]")
    lines += ["Why these ratios:"] + [f"  [{i}] {why}" for i, why in enumerate(reasons, 1)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
