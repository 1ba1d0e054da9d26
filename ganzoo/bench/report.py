"""``ganzoo report DIR``: tables, figures and REPORT.md from a run store alone.

Writes into DIR: ``runs.csv`` (one row per run), ``summary.csv`` (one row per dataset ×
variant configuration: mean, std, 95 % bootstrap CI and count of every measure over
seeds, the rank, runs ok, success rate), ``figures/*.png`` and ``REPORT.md``.

Ranking: within a dataset, variants are ranked by the mean final value of the
dataset's quality metric over seeds, where a seed that diverged or failed (no final
value) counts as the worst final value seen on that dataset: a variant that fails
often cannot rank first on its lucky seeds. Best marks (bold) go to the best mean
of each column.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ganzoo.bench.frame import (  # noqa: F401  (re-exported: the report's frame)
    CONFIG_KEYS,
    OK,
    STABILITY,
    THROUGHPUT,
    Measure,
    config_label,
    quality_measure,
    quality_metrics,
    runs_frame,
    setup_id,
    summarize,
    thresholds_from,
)
from ganzoo.bench.stability import lower_is_better
from ganzoo.bench.store import RunStore


# ---- formatting --------------------------------------------------------------------
def fmt_num(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    x = x + 0.0  # no "-0.00"
    a = abs(x)
    if a < 1e-12:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_cell(row: pd.Series, key: str) -> str:
    """``mean [ci_lo, ci_hi]`` (the CI only when there are 2+ values)."""
    mean, n = row.get(f"{key}:mean"), row.get(f"{key}:n", 0)
    if not n:
        return "—"
    lo, hi = row.get(f"{key}:ci_lo"), row.get(f"{key}:ci_hi")
    if n >= 2 and np.isfinite(lo) and np.isfinite(hi):
        return f"{fmt_num(mean)} [{fmt_num(lo)}, {fmt_num(hi)}]"
    return fmt_num(mean)


def best_mask(values: pd.Series, higher_better: Optional[bool]) -> pd.Series:
    """True where the value is the column's best (ties all marked); nothing for a single row."""
    v = pd.to_numeric(values, errors="coerce")
    if higher_better is None or v.notna().sum() < 2:
        return pd.Series(False, index=values.index)
    best = v.max() if higher_better else v.min()
    return v == best


def measure_table(sub: pd.DataFrame, measures: Sequence[Measure],
                  extra: Optional[Dict[str, Callable]] = None) -> pd.DataFrame:
    """A markdown-ready table: rank, variant, then one formatted column per measure, best in bold."""
    table = pd.DataFrame({"rank": sub["rank"].map(lambda r: "—" if not np.isfinite(r) else f"{int(r)}"),
                          "variant": sub["config"]})
    for name, fn in (extra or {}).items():
        table[name] = sub.apply(fn, axis=1)
    for m in measures:
        if f"{m.key}:mean" not in sub:
            continue
        if not sub[f"{m.key}:n"].fillna(0).any() and not (m.key == "ttq_s" and sub["threshold"].notna().any()):
            continue  # a column with no value at all (time-to-quality stays: "never reached")
        cells = sub.apply(lambda r: fmt_cell(r, m.key), axis=1)
        marks = best_mask(sub[f"{m.key}:mean"], m.higher_better)
        arrow = "" if m.higher_better is None else (" ↑" if m.higher_better else " ↓")
        table[m.label + arrow] = [f"**{c}**" if b else c for c, b in zip(cells, marks)]
    return table


def runs_ok(row) -> str:
    return f"{row['ok']}/{row['runs']}"


def success(row) -> str:
    if not np.isfinite(row.get("threshold") or math.nan):
        return "—"
    r = row["success_rate"]
    return "—" if not np.isfinite(r) else f"{r:.0%}"


# ---- the report ----------------------------------------------------------------------------
def write_report(directory, figures: bool = True) -> Path:
    """Read DIR/runs.jsonl and write runs.csv, summary.csv, figures/ and REPORT.md; returns REPORT.md."""
    directory = Path(directory)
    store = RunStore(directory)
    records = store.latest()
    if not records:
        raise FileNotFoundError(f"no finished runs in {store.path}: run `ganzoo bench` first")
    thresholds = thresholds_from(store, records)
    df = runs_frame(records, thresholds)
    summary = summarize(df)
    df.to_csv(directory / "runs.csv", index=False)
    summary.to_csv(directory / "summary.csv", index=False)
    figs: Dict[str, Dict[str, str]] = {}
    if figures:
        from ganzoo.bench import figures as fg

        figs = fg.draw_all(directory, store, df, summary)
    text = render(directory, store, records, df, summary, figs)
    out = directory / "REPORT.md"
    out.write_text(text)
    return out


def _datasets(df: pd.DataFrame, invocations: List[Dict[str, Any]]) -> List[str]:
    order: List[str] = []
    for inv in invocations:
        for d in inv.get("datasets") or []:
            if d not in order:
                order.append(d)
    return [d for d in order if d in set(df.dataset)] + sorted(set(df.dataset) - set(order))


def render(directory: Path, store: RunStore, records, df: pd.DataFrame, summary: pd.DataFrame,
           figs: Dict[str, Dict[str, str]]) -> str:
    inv = [i for i in store.invocations() if i.get("event") == "start"]
    last = inv[-1] if inv else {}
    suite = last.get("suite") or {}
    datasets = _datasets(df, inv)
    lines: List[str] = []
    title = suite.get("name") or (df["suite"].dropna().iloc[0] if df["suite"].notna().any() else "benchmark")
    lines += [f"# ganzoo benchmark: `{title}`", ""]
    if suite.get("description"):
        lines += [suite["description"], ""]
    if suite.get("profile"):
        lines += [f"> **Profile.** {suite['profile']}", ""]
    n_ok = int((df.status == OK).sum())
    lines += [f"{len(df)} runs: {n_ok} ok, {int((df.status == 'diverged').sum())} diverged, "
              f"{int((df.status == 'failed').sum())} failed; "
              f"{df.variant.nunique()} variants × {df.dataset.nunique()} datasets × "
              f"{df.seed.nunique()} seeds. Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
              f"by `ganzoo report {directory}` from `{store.path.name}` alone.", ""]
    lines += _missing_block(store, df)
    quality = bool(summary["metric"].notna().any())
    if quality:
        lines += ["## Headline", "", _headline(summary, datasets), "",
                  "Each cell: mean final value over seeds [95 % bootstrap CI] (rank within the dataset). "
                  "Bold: best of the column. ↓ lower is better, ↑ higher is better.", ""]
        lines += published_block(summary)
    else:
        lines += ["## Headline: real images per second", "", _headline_throughput(summary, datasets), "",
                  "Each cell: mean img/s over seeds [95 % bootstrap CI]; training time only. Bold: fastest "
                  "on the dataset. No quality was measured in this suite.", ""]
    lines += ["How to read the tables: every number is the mean over seeds with its 95 % bootstrap "
              "confidence interval in brackets (percentile bootstrap of the mean, 2,000 resamples; "
              "with 3 seeds it is a rough range, not a guarantee). "
              + ("Rank orders variants by the "
                 "dataset's quality metric, counting a diverged or failed seed as the worst value "
                 "seen on that dataset. Runs ok: seeds that finished without diverging. Success: "
                 "seeds whose quality curve reached the dataset's threshold. Fall-back: how much "
                 "worse the final value is than the best value along the curve. Oscillation: mean "
                 "rolling standard deviation (50 steps) of the loss over the second half of "
                 "training. " if quality else "")
              + "Throughput counts training time only (evaluation excluded): img/s are "
              "real images shown to D per second (n_critic × batch per generator step); s/kimg is "
              "the StyleGAN convention" + ("; time-to-quality is training seconds until the curve "
                                           "first reached the threshold (mean over the seeds that "
                                           "reached it)." if quality else "."), ""]
    notes = {d: (t or {}).get("note", "") for d, t in ((suite.get("raw") or {}).get("datasets") or {}).items()}
    for d in datasets:
        lines += _dataset_section(d, df, summary, figs.get(d, {}), notes.get(d, ""))
    if figs.get("_all", {}).get("throughput"):
        lines += ["## Throughput", "", f"![throughput]({figs['_all']['throughput']})", ""]
    lines += _problems_block(df)
    lines += _protocol_block(records, df, datasets, inv)
    lines += _environment_block(records, df, store)
    lines += ["## Files", "",
              "- `runs.jsonl`: one JSON record per run (the store; curves, losses, environment).",
              "- `runs.csv`: one row per run; `summary.csv`: one row per dataset × variant "
              "(`measure:mean|std|ci_lo|ci_hi|n`).",
              "- `figures/`: the plots above; `samples/`: the samples they show.", ""]
    return "\n".join(lines)


def published_block(summary: pd.DataFrame, refs=None) -> List[str]:
    """Published values beside ours (``benchmarks/references.toml``), each marked consistent
    or not by :func:`ganzoo.bench.references.consistency`; other-metric values listed apart."""
    from ganzoo.bench import references as pub

    refs = pub.load_references() if refs is None else refs
    rows, elsewhere = [], []
    present = set(zip(summary["variant"], summary["dataset"]))
    for ref in refs:
        key = f"q.{ref.metric}"
        hit = summary[(summary.variant == ref.variant) & (summary.dataset == ref.dataset)]
        if (ref.variant, ref.dataset) not in present:
            continue
        if f"{key}:mean" not in hit or not hit[f"{key}:n"].fillna(0).any():
            elsewhere.append(f"- {ref.variant} on {ref.dataset}: {ref.metric} = {ref.label}; "
                             f"not comparable with this report's metrics (another feature space or measure).")
            continue
        for _, r in hit.iterrows():
            ok = pub.consistency(ref, r[f"{key}:mean"], r[f"{key}:ci_lo"], r[f"{key}:ci_hi"],
                                 int(r[f"{key}:n"] or 0))
            rows.append({"variant": r["config"], "dataset": ref.dataset, "metric": ref.metric,
                         "ours": fmt_cell(r, key), "published": ref.label, "ours vs published": pub.mark(ok)})
    if not rows and not elsewhere:
        return []
    missing = sorted({f"{r.variant} ({r.published_as}, {r.source})" for r in refs
                      if (r.variant, r.dataset) not in present
                      and r.dataset in set(summary["dataset"])})
    lines = ["### Published results beside ours", ""]
    if rows:
        lines += [pd.DataFrame(rows).to_markdown(index=False), ""]
    lines += [f"Consistent: the published mean lies inside our 95 % CI over seeds, widened on each "
              f"side by {pub.SE_WIDTH:g} published standard errors (no widening where the paper "
              f"gives no spread; one seed: our value alone). Published protocols differ from ours "
              f"(see `benchmarks/references.toml`): a mark of not consistent is a result to "
              f"explain, not a failure of the run.", ""]
    lines += elsewhere + ([""] if elsewhere else [])
    if missing:
        lines += ["Published rows for variants not in this report: " + "; ".join(missing) + ".", ""]
    return lines


def _headline_throughput(summary: pd.DataFrame, datasets: List[str]) -> str:
    order = summary.sort_values(["variant", "arch", "batch_size", "precision", "perf"], kind="stable")
    configs = list(dict.fromkeys(order["config"]))
    table = pd.DataFrame({"variant": configs})
    for d in datasets:
        sub = summary[summary.dataset == d]
        marks = best_mask(sub["img_per_s:mean"], True)
        cells = {r["config"]: (f"**{fmt_cell(r, 'img_per_s')}**" if b else fmt_cell(r, "img_per_s"))
                 for (_, r), b in zip(sub.iterrows(), marks)}
        table[d] = [cells.get(c, "n/a") for c in configs]
    return table.to_markdown(index=False)


def _headline(summary: pd.DataFrame, datasets: List[str]) -> str:
    cols: Dict[str, Dict[str, str]] = {}
    configs: List[str] = []
    for d in datasets:
        sub = summary[summary.dataset == d]
        if sub.empty or not sub["metric"].notna().any():
            continue
        metric = sub["metric"].dropna().iloc[0]
        key = f"q.{metric}"
        marks = best_mask(sub[f"{key}:mean"], not lower_is_better(metric))
        arrow = " ↓" if lower_is_better(metric) else " ↑"
        cells = {}
        for (_, r), b in zip(sub.iterrows(), marks):
            c = fmt_cell(r, key)
            rank = f" ({int(r['rank'])})" if np.isfinite(r["rank"]) else ""
            cells[r["config"]] = (f"**{c}**" if b else c) + rank
            if r["config"] not in configs:
                configs.append(r["config"])
        cols[f"{d}: {metric}{arrow}"] = cells
    if not cols:
        return "(no quality metric in these runs)"
    table = pd.DataFrame({"variant": configs})
    for name, cells in cols.items():
        table[name] = [cells.get(c, "n/a") for c in configs]
    return table.to_markdown(index=False)


def _dataset_section(d: str, df: pd.DataFrame, summary: pd.DataFrame, figs: Dict[str, str],
                     note: str = "") -> List[str]:
    sub = summary[summary.dataset == d]
    runs = df[df.dataset == d]
    metrics = quality_metrics(df, d)
    lines = [f"## {d}", ""]
    if note:  # the suite's word on why this dataset runs what it runs
        lines += [f"> {note}", ""]
    thr = sub["threshold"].dropna()
    if metrics:
        t = f"; threshold {metrics[0]} {'≤' if lower_is_better(metrics[0]) else '≥'} {fmt_num(thr.iloc[0])}" \
            if len(thr) else ""
        lines += [f"Quality metric: **{metrics[0]}**{t}.", ""]
    if metrics:
        q = measure_table(sub, [quality_measure(m) for m in metrics],
                          extra={"arch": lambda r: r["arch"], "runs ok": runs_ok})
        lines += ["### Quality (final evaluation)", "", q.to_markdown(index=False), ""]
        best = [Measure("best", f"best {metrics[0]} on the curve", not lower_is_better(metrics[0]),
                        "stability")]
        st = measure_table(sub, best + STABILITY, extra={"runs ok": runs_ok, "success": success})
        lines += ["### Stability", "", st.to_markdown(index=False), ""]
    cpu_rss = runs["peak_mem_kind"].fillna("").str.startswith("CPU").any()
    tp = measure_table(sub, [Measure(m.key, m.label, None, m.group) if m.key == "peak_mem_mib" and cpu_rss
                             else m for m in THROUGHPUT])
    if not metrics:
        tp = tp.drop(columns="rank")
    lines += ["### Throughput" + (" and time-to-quality" if metrics else ""), "", tp.to_markdown(index=False), ""]
    kinds = runs["peak_mem_kind"].dropna().unique()
    if len(kinds):
        lines += [f"Peak memory: {'; '.join(kinds)}.", ""]
    for key, caption in (("curve", "quality against training wall-clock (mean over seeds, band: min–max)"),
                         ("final", "final quality per seed"), ("samples", "samples (first seed)"),
                         ("losses", "losses over training (mean over seeds)")):
        if figs.get(key):
            lines += [f"![{d} {key}]({figs[key]})", f"*{d}: {caption}.*", ""]
    return lines


def _missing_block(store: RunStore, df: pd.DataFrame) -> List[str]:
    inv = [i for i in store.invocations() if i.get("event") == "start"]
    if not inv:
        return []
    last = inv[-1]
    planned = last.get("planned") or {}
    have = set(df.run_id)
    missing = [label for rid, label in planned.items() if rid not in have]
    lines = []
    for note in last.get("skipped") or []:
        lines.append(f"- {note}")
    if missing:
        lines.append(f"- **{len(missing)} planned run(s) did not run** (time budget or interruption): "
                     + ", ".join(missing[:12]) + (" …" if len(missing) > 12 else ""))
    return (["**Not in this report:**", "", *lines, ""] if lines else [])


def _problems_block(df: pd.DataFrame) -> List[str]:
    bad = df[df.status != OK]
    if bad.empty:
        return ["## Diverged and failed runs", "", "None: every run finished without diverging.", ""]
    t = pd.DataFrame({
        "dataset": bad.dataset, "variant": bad.variant, "seed": bad.seed, "status": bad.status,
        "at step": bad.diverged_at.map(lambda s: "—" if s is None or not np.isfinite(s) else f"{int(s)}"),
        "why": [r.divergence if r.status == "diverged" else (r.error or "") for r in bad.itertuples()],
    })
    return ["## Diverged and failed runs", "",
            "A diverged run stopped at a non-finite loss or metric, or ended with its logistic D "
            "saturated (D(x) > 0.999 on real and < 0.001 on fake over at least the last quarter "
            "of training); its final quality is left out of the means and counts as the worst "
            "value for ranks. A failed run raised an error (its traceback is in `runs.jsonl`).", "",
            t.to_markdown(index=False), ""]


def _protocol_block(records, df: pd.DataFrame, datasets: List[str], inv) -> List[str]:
    rows = []
    ema_used = any(r.get("spec", {}).get("g_ema") for r in records)
    for d in datasets:
        recs = [r for r in records if r.get("dataset") == d]
        spec = recs[0].get("spec", {})
        proto: Dict[str, Any] = {}
        for r in recs:
            if r.get("protocol"):
                proto = r["protocol"]
                break
        seeds = sorted({r["seed"] for r in recs})
        rows.append({
            "dataset": d,
            "data": f"{proto.get('data_source', spec.get('split', ''))} (n={proto.get('data_size', '?')})",
            "arch": ", ".join(sorted({r.get("arch", "?") for r in recs})),
            "steps (G)": ", ".join(map(str, sorted({r["spec"]["steps"] for r in recs}))),
            "batch": ", ".join(map(str, sorted({r["batch_size"] for r in recs}))),
            "eval every": spec.get("eval_every") or "end only",
            "samples (curve / final)": f"{spec.get('eval_samples')} / {spec.get('final_samples')}"
                                       + (f"; modes from {proto['mode_samples']}" if proto.get("mode_samples") else ""),
            "reference": describe_reference(proto.get("reference")),
            "feature extractor [fingerprint]": describe_extractor(proto),
            "seeds": ", ".join(map(str, seeds)),
            "precision": ", ".join(sorted({r["precision"] for r in recs})),
            **({"G evaluated": ", ".join(f"EMA of G's weights, decay {e:g}" if e else "last G"
                                         for e in sorted({r["spec"].get("g_ema", 0.0) for r in recs}))}
               if ema_used else {}),  # a row only where some run evaluated an EMA (ganzoo.ema)
        })
    table = pd.DataFrame(rows).set_index("dataset").T.reset_index().rename(columns={"index": ""})
    return ["## Protocol", "", table.to_markdown(index=False), "",
            "Budget rule: equal generator steps. Every run of a dataset trains the same number of "
            "G steps (each after the variant's n_critic D steps), whatever its cost per step; the "
            "throughput tables give the training time this took.", "",
            "Every run uses the variant's own defaults (its paper's settings) unless the suite "
            "overrides them:", "", hyperparameter_table(records, datasets).to_markdown(index=False), ""]


def hyperparameter_table(records, datasets: Sequence[str]) -> pd.DataFrame:
    """One row per distinct (variant, hyperparameters), naming the datasets that ran them; a
    variant whose settings differ between datasets (a suite override) gets one row each."""
    seen: Dict[Tuple[str, str], List[str]] = {}
    for r in sorted(records, key=lambda r: (r["variant"], datasets.index(r["dataset"])
                                             if r["dataset"] in datasets else len(datasets))):
        h = dict(r["spec"].get("hparams", {}))
        if h.get("optimizer", "adam") != "adam":
            h.pop("betas", None)  # Adam's alone; RMSprop runs never read them
        key = (r["variant"], ", ".join(f"{k}={_short(x)}" for k, x in h.items()))
        if r["dataset"] not in seen.setdefault(key, []):
            seen[key].append(r["dataset"])
    every = set(datasets)
    rows = [{"variant": v, "datasets": "all" if set(ds) >= every and len(every) > 1 else ", ".join(ds),
             "hyperparameters": h} for (v, h), ds in seen.items()]
    return pd.DataFrame(rows, columns=["variant", "datasets", "hyperparameters"])


def describe_extractor(proto: Dict[str, Any]) -> str:
    """The feature spaces of a run's metrics with their fingerprints (or the 2D rule)."""
    spaces = proto.get("feature_spaces") or {}
    if spaces:
        parts = []
        for name, sp in spaces.items():
            acc = sp.get("heldout_accuracy")
            parts.append(f"{name} [{sp.get('fingerprint', '?')}]"
                         + (f", held-out accuracy {acc:.1%}" if isinstance(acc, (int, float)) else ""))
        return "; ".join(parts)
    if proto.get("hq_threshold"):
        return f"none (2D): high quality = {proto['hq_threshold']}"
    ext = proto.get("extractor")
    fp = proto.get("fingerprint")
    return f"{ext} [{fp}]" if ext and fp else (ext or "—")


def describe_reference(ref: Any) -> str:
    if isinstance(ref, dict):
        return f"{ref.get('dataset')} {ref.get('split')}: first {ref.get('n')} of {ref.get('of')}"
    return str(ref) if ref else "—"


def _short(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in x) + ")"
    return str(x)


def _environment_block(records, df: pd.DataFrame, store: RunStore) -> List[str]:
    keys = ["device", "cpu", "gpu", "cuda", "torch", "torch_fidelity", "ganzoo", "git_commit",
            "python", "platform", "workers", "threads_per_worker"]
    vals: Dict[str, List[str]] = {}
    for r in records:
        for k in keys:
            v = (r.get("env") or {}).get(k)
            if v is not None:
                vals.setdefault(k, [])
                if str(v) not in vals[k]:
                    vals[k].append(str(v))
    rows = [{"": k, "value": "; ".join(v)} for k, v in vals.items()]
    started = df["started"].dropna()
    finished = df["finished"].dropna()
    if len(started):
        rows.append({"": "runs between", "value": f"{started.min()} and {finished.max()}"})
    inv = store.invocations()
    starts = [i for i in inv if i.get("event") == "start"]
    ends = {i.get("id"): i for i in inv if i.get("event") == "end"}
    if starts:
        cmds = list(dict.fromkeys(i.get("command", "") for i in starts))
        rows.append({"": "command", "value": "; ".join(f"`{c}`" for c in cmds)})
        wall = 0.0
        for s in starts:
            e = ends.get(s.get("id"))
            if e and e.get("wall_s") is not None:
                wall += e["wall_s"]
            elif s is starts[-1] and s.get("t0_unix"):
                wall += max(0.0, datetime.now(timezone.utc).timestamp() - s["t0_unix"])
        rows.append({"": "bench wall time", "value": f"{wall / 60:.1f} min over {len(starts)} "
                     f"call(s) of `ganzoo bench` (training, evaluation and this report)"})
    run_s = df["wall_s"].dropna().sum()
    rows.append({"": "sum of run times", "value": f"{run_s / 60:.1f} min (training "
                 f"{df['train_s'].dropna().sum() / 60:.1f} min, evaluation {df['eval_s'].dropna().sum() / 60:.1f} min)"})
    return ["## Environment", "", pd.DataFrame(rows).to_markdown(index=False), ""]
