"""``ganzoo report DIR``: tables, figures and REPORT.md from a run store alone.

Writes into DIR: ``runs.csv`` (one row per run, with its failure class), ``summary.csv``
(one row per dataset × variant configuration: mean, std, 95 % t-interval and count of every
measure over seeds, the rank and tier, the count of each failure class, success rate),
``figures/*.png`` and ``REPORT.md``.

REPORT.md is data and a template: this module computes the values and the tables
(pandas ``to_markdown``) in :func:`report_data`; ``templates/report.md.j2`` (Jinja2) holds
the prose and the layout. The run frame and the summary come from :mod:`ganzoo.bench.frame`.

Ranking: within a dataset, variants are ranked by the mean final value of the
dataset's quality metric over seeds, where a seed that diverged or failed (no final
value) counts as the worst final value seen on that dataset: a variant that fails
often cannot rank first on its lucky seeds. Bold marks go, in the headline, to tier 1
(not distinguishable by Welch's t test, Holm-corrected, from the best configuration whose
runs are all ok), elsewhere to the best mean of a column; never to a configuration with a
run that is not of class ok (collapsed, did not start, diverged or failed).

A store of an equal-budget search (a suite with ``[search]``): the tables and figures above
show the re-runs of each variant's best settings (the trials are one seed each, of many
settings); the search's own section, ``trials.csv`` and figures come from
:mod:`ganzoo.bench.sweep_report`.
"""
from __future__ import annotations

import functools
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jinja2
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
from ganzoo.bench.record import RunRecord, as_record
from ganzoo.bench.stability import lower_is_better
from ganzoo.bench.store import RunStore
from ganzoo.errors import MissingFileError

TEMPLATES = Path(__file__).with_name("templates")
ENVIRONMENT_KEYS = ["device", "cpu", "gpu", "cuda", "torch", "torch_fidelity", "ganzoo", "git_commit",
                    "python", "platform", "workers", "threads_per_worker"]


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


def all_ok(sub: pd.DataFrame) -> pd.Series:
    """Configurations whose every run is of failure class ok (the only ones a bold mark may go to)."""
    if "class:ok" not in sub:
        return pd.Series(True, index=sub.index)
    return sub["class:ok"] == sub["runs"]


def best_mask(values: pd.Series, higher_better: Optional[bool],
              eligible: Optional[pd.Series] = None) -> pd.Series:
    """True where the value is the best among ``eligible`` rows (ties all marked); nothing for a
    single row. A value better than every eligible one (a failed run's) is never marked."""
    v = pd.to_numeric(values, errors="coerce")
    if higher_better is None or v.notna().sum() < 2:
        return pd.Series(False, index=values.index)
    if eligible is not None:
        v = v.where(eligible)
    if not v.notna().any():
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
        marks = best_mask(sub[f"{m.key}:mean"], m.higher_better, all_ok(sub))
        arrow = "" if m.higher_better is None else (" ↑" if m.higher_better else " ↓")
        table[m.label + arrow] = [f"**{c}**" if b else c for c, b in zip(cells, marks)]
    return table


def class_rate(name: str) -> Callable:
    def rate(row) -> str:
        n = row.get(f"class:{name}", 0)
        return f"{n}/{row['runs']}" if n else "0"
    return rate


def failures_cell(row) -> str:
    """``3 collapsed, 1 diverged``: the runs of a configuration that are not of class ok."""
    from ganzoo.bench.failures import CLASSES

    parts = [f"{int(row.get(f'class:{c}', 0))} {c}" for c in CLASSES[1:] if row.get(f"class:{c}", 0)]
    return ", ".join(parts)


def success(row) -> str:
    if not np.isfinite(row.get("threshold") or math.nan):
        return "—"
    r = row["success_rate"]
    return "—" if not np.isfinite(r) else f"{r:.0%}"


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False)


# ---- the report ----------------------------------------------------------------------------
def write_report(directory, figures: bool = True) -> Path:
    """Read DIR/runs.jsonl and write runs.csv, summary.csv, figures/ and REPORT.md; returns REPORT.md."""
    directory = Path(directory)
    store = RunStore(directory)
    from ganzoo.bench.sweep_report import report_runs

    records = [as_record(r) for r in report_runs(store.latest(), _bench_starts(store))]  # a search's: its re-runs
    if not records:
        raise MissingFileError(f"no finished runs in {store.path}: run `ganzoo bench` first")
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


def render(directory: Path, store: RunStore, records, df: pd.DataFrame, summary: pd.DataFrame,
           figs: Dict[str, Dict[str, str]]) -> str:
    """REPORT.md's text: :func:`report_data` through ``templates/report.md.j2``."""
    return report_template().render(report_data(directory, store, records, df, summary, figs))


@functools.lru_cache(maxsize=None)
def report_template(name: str = "report.md.j2") -> jinja2.Template:
    """The report's Jinja2 template; a value it names that the data lacks is an error."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(name)


def report_data(directory: Path, store: RunStore, records, df: pd.DataFrame, summary: pd.DataFrame,
                figs: Dict[str, Dict[str, str]]) -> Dict[str, Any]:
    """Every value and table the template shows (no prose here). ``records``: stored lines
    or :class:`RunRecord` s."""
    records = [as_record(r) for r in records]
    starts = _bench_starts(store)
    suite = (starts[-1] if starts else {}).get("suite") or {}
    datasets = _datasets(df, starts)
    quality = bool(summary["metric"].notna().any())
    notes = _dataset_notes(suite)
    return {
        "title": _title(suite, df),
        "description": suite.get("description"),
        "profile": suite.get("profile"),
        "counts": run_counts(df),
        "written": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
        "directory": str(directory),
        "store_name": store.path.name,
        "not_in_report": not_in_report(starts, df, stored={r.get("run_id") for r in store.latest()}),
        "quality": quality,
        "headline": _headline(summary, datasets) if quality else _headline_throughput(summary, datasets),
        "ranked_by": ranked_by(df, summary, datasets) if quality else None,
        "intervals": interval_note(summary),
        "comparison": _comparison(df, summary, figs) if quality else None,
        "published": published_results(summary) if quality else None,
        "sections": [dataset_section(d, df, summary, figs.get(d, {}), notes.get(d, "")) for d in datasets],
        "throughput_figure": figs.get("_all", {}).get("throughput"),
        "problems": problems_table(df),
        "protocol": protocol_table(records, datasets),
        "hyperparameters": _markdown(hyperparameter_table(records, datasets)),
        "environment": environment_table(records, df, store),
        "sweep": _sweep(directory, store, starts, datasets, figures=bool(figs)),
    }


def _sweep(directory: Path, store: RunStore, starts, datasets: List[str], figures: bool) -> Optional[str]:
    """The equal-budget search's section (``templates/sweep.md.j2``), None for a store without one."""
    from ganzoo.bench.sweep_report import sweep_data

    lines = store.latest()
    data = sweep_data(directory, lines, starts, thresholds_from(store, lines), datasets, figures=figures,
                      fmt_num=fmt_num, failures_cell=failures_cell)
    return report_template("sweep.md.j2").render(data) if data else None


def _comparison(df: pd.DataFrame, summary: pd.DataFrame, figs) -> Optional[Dict[str, Any]]:
    out = rank_comparison(df)
    if out is None:
        return None
    out["figure"] = figs.get("_all", {}).get("ranks")
    return out


def _bench_starts(store: RunStore) -> List[Dict[str, Any]]:
    """The ``ganzoo bench`` calls that wrote into the store, oldest first."""
    return [i for i in store.invocations() if i.get("event") == "start"]


def _datasets(df: pd.DataFrame, invocations: List[Dict[str, Any]]) -> List[str]:
    order: List[str] = []
    for inv in invocations:
        for d in inv.get("datasets") or []:
            if d not in order:
                order.append(d)
    return [d for d in order if d in set(df.dataset)] + sorted(set(df.dataset) - set(order))


def _dataset_notes(suite: Dict[str, Any]) -> Dict[str, str]:
    """dataset -> the suite's word on why it runs what it runs (``note`` in the suite file)."""
    return {d: (t or {}).get("note", "") for d, t in ((suite.get("raw") or {}).get("datasets") or {}).items()}


def _title(suite: Dict[str, Any], df: pd.DataFrame) -> str:
    return suite.get("name") or (df["suite"].dropna().iloc[0] if df["suite"].notna().any() else "benchmark")


def run_counts(df: pd.DataFrame) -> Dict[str, int]:
    """Runs by status, and the sizes of the matrix."""
    return {"runs": len(df), "ok": int((df.status == OK).sum()), "diverged": int((df.status == "diverged").sum()),
            "failed": int((df.status == "failed").sum()), "variants": df.variant.nunique(),
            "datasets": df.dataset.nunique(), "seeds": df.seed.nunique()}


def not_in_report(starts: List[Dict[str, Any]], df: pd.DataFrame,
                  stored: Optional[set] = None) -> Optional[Dict[str, List[str]]]:
    """What the last bench call left out: its skip notes and the labels of planned runs that did
    not run (``stored``: run ids stored but not in ``df``, e.g. a search's trials); None when
    nothing was."""
    if not starts:
        return None
    last = starts[-1]
    have = set(df.run_id) | (stored or set())
    unrun = [label for rid, label in (last.get("planned") or {}).items() if rid not in have]
    skipped = list(last.get("skipped") or [])
    return {"skipped": skipped, "unrun": unrun} if skipped or unrun else None


# ---- headline and published values ---------------------------------------------------------
def published_results(summary: pd.DataFrame, refs=None) -> Optional[Dict[str, Any]]:
    """Published values beside ours (``benchmarks/references.toml``), each marked consistent
    or not by :func:`ganzoo.bench.references.consistency`; other-metric values listed apart.
    None when no published value concerns this report."""
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
            elsewhere.append({"variant": ref.variant, "dataset": ref.dataset, "metric": ref.metric,
                              "label": ref.label})
            continue
        for _, r in hit.iterrows():
            n = int(r[f"{key}:n"] or 0)
            verdict = pub.consistency(ref, r[f"{key}:mean"], r[f"{key}:std"], n)
            z = pub.z_score(ref, r[f"{key}:mean"], r[f"{key}:std"], n)
            rows.append({"variant": r["config"], "dataset": ref.dataset, "metric": ref.metric,
                         "ours": fmt_cell(r, key) + f" (n = {n})", "published": ref.label,
                         "z": "—" if not math.isfinite(z) else f"{z:.1f}", "ours vs published": pub.mark(verdict)})
    if not rows and not elsewhere:
        return None
    not_here = sorted({f"{r.variant} ({r.published_as}, {r.source})" for r in refs
                       if (r.variant, r.dataset) not in present
                       and r.dataset in set(summary["dataset"])})
    return {"table": _markdown(pd.DataFrame(rows)) if rows else None, "z_limit": f"{pub.Z_LIMIT:g}",
            "elsewhere": elsewhere, "not_here": not_here}


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
    return _markdown(table)


def _headline(summary: pd.DataFrame, datasets: List[str]) -> str:
    cols: Dict[str, Dict[str, str]] = {}
    configs: List[str] = []
    for d in datasets:
        sub = summary[summary.dataset == d]
        if sub.empty or not sub["metric"].notna().any():
            continue
        metric = sub["metric"].dropna().iloc[0]
        key = f"q.{metric}"
        arrow = " ↓" if lower_is_better(metric) else " ↑"
        ok = all_ok(sub)
        cells = {}
        for (_, r), clean in zip(sub.iterrows(), ok):
            c = fmt_cell(r, key)
            rank = f" ({int(r['rank'])})" if np.isfinite(r["rank"]) else ""
            tier = r.get("tier")
            bold = tier == "1" and clean
            bad = failures_cell(r)
            cells[r["config"]] = (f"**{c}**" if bold else c) + rank + (f" · {bad}" if bad else "")
            if r["config"] not in configs:
                configs.append(r["config"])
        cols[f"{d}: {metric}{arrow}"] = cells
    if not cols:
        return "(no quality metric in these runs)"
    table = pd.DataFrame({"variant": configs})
    for name, cells in cols.items():
        table[name] = [cells.get(c, "n/a") for c in configs]
    return _markdown(table)


def _space(metric: str) -> Optional[str]:
    """The feature space a metric is measured in: ``FD[dinov2-vit-l-14]`` -> dinov2-vit-l-14."""
    return metric[metric.index("[") + 1:metric.rindex("]")] if "[" in metric and metric.endswith("]") else None


def ranked_by(df: pd.DataFrame, summary: pd.DataFrame, datasets: List[str]) -> str:
    """Per dataset, the metric (and feature space) the headline ranks by, and the other
    spaces its quality table carries."""
    parts = []
    for d in datasets:
        sub = summary[summary.dataset == d]
        if sub.empty or not sub["metric"].notna().any():
            continue
        metric = sub["metric"].dropna().iloc[0]
        space = _space(metric)
        others = [s for s in dict.fromkeys(_space(m) for m in quality_metrics(df, d)) if s and s != space]
        text = f"{d} by {metric}" + (f" (feature space {space}" if space else "")
        if others:
            text += (", " if space else " (") + f"also measured in {', '.join(others)}: see its quality table"
        parts.append(text + (")" if space or others else ""))
    return "; ".join(parts)


def interval_note(summary: pd.DataFrame) -> str:
    """How many seeds the intervals rest on, dataset by dataset."""
    parts = []
    for d, g in summary.groupby("dataset", sort=False):
        key = f"q.{g['metric'].dropna().iloc[0]}:n" if g["metric"].notna().any() else None
        ns = sorted({int(n) for n in (g[key] if key in g else g["runs"]).fillna(0)})
        parts.append(f"{d} n = {'–'.join(map(str, [ns[0], ns[-1]] if len(ns) > 1 else ns))}")
    return "; ".join(parts)


def rank_comparison(df: pd.DataFrame) -> Optional[Dict[str, Any]]:
    """:func:`ganzoo.bench.ranks.rank_test` as the report's table: mean ranks, the CD, and the
    pairs it calls different. None when no dataset qualifies."""
    from ganzoo.bench.ranks import rank_test

    test, used = rank_test(df)
    if test is None:
        return None
    k = len(test.names)
    order = np.argsort(test.mean_ranks)
    best = order[0]
    rows = []
    for i in order:
        beaten = [test.names[j] for j in order if test.different(i, j) and test.mean_ranks[j] > test.mean_ranks[i]]
        rows.append({"variant": test.names[i], "mean rank": f"{test.mean_ranks[i]:.2f}",
                     "vs the best": "—" if i == best else ("worse" if test.different(best, i) else
                                                           "not distinguishable"),
                     "significantly better than": ", ".join(beaten) or "—"})
    pairs = sum(test.different(i, j) for i in range(k) for j in range(i + 1, k))
    return {"table": _markdown(pd.DataFrame(rows)), "cd": f"{test.cd:.2f}", "p": f"{test.friedman_p:.2g}",
            "blocks": test.blocks, "datasets": ", ".join(used), "k": k, "pairs": pairs,
            "alpha": f"{test.alpha:g}"}


# ---- one dataset ------------------------------------------------------------------------
def dataset_section(d: str, df: pd.DataFrame, summary: pd.DataFrame, figs: Dict[str, str],
                    note: str = "") -> Dict[str, Any]:
    """A dataset's tables (quality and stability only where a quality metric was measured),
    the suite's note on it, and the paths of its figures."""
    sub = summary[summary.dataset == d]
    runs = df[df.dataset == d]
    metrics = quality_metrics(df, d)
    section: Dict[str, Any] = {"dataset": d, "note": note, "metric": metrics[0] if metrics else None,
                               "threshold": None, "figures": figs,
                               "throughput": _markdown(_throughput_table(sub, runs, quality=bool(metrics))),
                               "memory_kinds": list(runs["peak_mem_kind"].dropna().unique())}
    if metrics:
        section.update(threshold=_threshold(sub, metrics[0]), **_quality_tables(sub, metrics))
    return section


def _threshold(sub: pd.DataFrame, metric: str) -> Optional[str]:
    """``≤ 15.0`` (``≥`` for a metric where higher is better), or None without a threshold."""
    thr = sub["threshold"].dropna()
    return f"{'≤' if lower_is_better(metric) else '≥'} {fmt_num(thr.iloc[0])}" if len(thr) else None


def _quality_tables(sub: pd.DataFrame, metrics: List[str]) -> Dict[str, str]:
    quality = measure_table(sub, [quality_measure(m) for m in metrics],
                            extra={"arch": lambda r: r["arch"], "tier": lambda r: r.get("tier") or "—",
                                   "not ok": lambda r: failures_cell(r) or "—"})
    best = Measure("best", f"best {metrics[0]} on the curve", not lower_is_better(metrics[0]), "stability")
    rates = {"runs": lambda r: f"{r['runs']}", "ok": class_rate("ok"), "collapsed": class_rate("collapsed"),
             "did not start": class_rate("did not start"), "diverged": class_rate("diverged"),
             "failed": class_rate("failed"), "reached threshold": success}
    # Loss oscillations and gradient norms stay in runs.csv: their units differ between variants.
    stability = measure_table(sub, [best, *[m for m in STABILITY if m.key == "fall_back"]], extra=rates)
    return {"quality": _markdown(quality), "stability": _markdown(stability)}


def _throughput_table(sub: pd.DataFrame, runs: pd.DataFrame, quality: bool) -> pd.DataFrame:
    """Throughput (and time-to-quality); a CPU peak RSS gets no best mark (it is not the run's alone)."""
    cpu_rss = runs["peak_mem_kind"].fillna("").str.startswith("CPU").any()
    measures = [Measure(m.key, m.label, None, m.group) if m.key == "peak_mem_mib" and cpu_rss else m
                for m in THROUGHPUT]
    table = measure_table(sub, measures)
    return table if quality else table.drop(columns="rank")


# ---- problems, protocol, environment -----------------------------------------------------------
def problems_table(df: pd.DataFrame) -> Optional[str]:
    """The runs not of class ok (collapsed, did not start, diverged, failed), with the step and
    the reason; None when every run is ok."""
    bad = df[df["class"] != OK]
    if bad.empty:
        return None
    return _markdown(pd.DataFrame({
        "dataset": bad.dataset, "variant": bad.variant, "seed": bad.seed,
        "class": bad["class"],
        "at step": bad.diverged_at.map(lambda s: "—" if s is None or not np.isfinite(s) else f"{int(s)}"),
        "why": [r["divergence"] if r["status"] == "diverged" else (r["error"] or _class_evidence(r))
                for _, r in bad.iterrows()],
    }))


def _class_evidence(row: pd.Series) -> str:
    """The final values that put a finished run in its class (``bench.failures``)."""
    labels = {"q.clustered_modes": "modes with a cluster", "q.nearest_modes": "modes holding mass",
              "q.covered_modes": "covered modes", "q.duplicates": "near-copies", "q.diversity": "diversity",
              "q.top_class_share": "largest class's share"}
    return "; ".join(f"{label} {fmt_num(row[k])}" for k, label in labels.items()
                     if k in row and pd.notna(row[k]))


def protocol_table(records, datasets: List[str]) -> str:
    """One column per dataset: data, nets, budget, sample counts, reference, extractor, seeds."""
    ema_used = any(r.setting("g_ema") for r in records)
    rows = [_protocol_column(d, [r for r in records if r.dataset == d], ema_used) for d in datasets]
    table = pd.DataFrame(rows).set_index("dataset").T.reset_index().rename(columns={"index": ""})
    return _markdown(table)


def _protocol_column(d: str, recs: List[RunRecord], ema_used: bool) -> Dict[str, Any]:
    spec = recs[0].spec or {}
    proto: Dict[str, Any] = next((r.protocol for r in recs if r.protocol), {})
    column = {
        "dataset": d,
        "data": f"{proto.get('data_source', spec.get('split', ''))} (n={proto.get('data_size', '?')})",
        "arch": ", ".join(sorted({r.arch or "?" for r in recs})),
        "steps (G)": ", ".join(map(str, sorted({r.setting("steps") for r in recs}))),
        "batch": ", ".join(map(str, sorted({r.batch_size for r in recs}))),
        "eval every": spec.get("eval_every") or "end only",
        "samples (curve / final)": f"{spec.get('eval_samples')} / {spec.get('final_samples')}"
                                   + (f"; modes from {proto['mode_samples']}" if proto.get("mode_samples") else ""),
        "reference": describe_reference(proto.get("reference")),
        "feature extractor [fingerprint]": describe_extractor(proto),
        "seeds": ", ".join(map(str, sorted({r.seed for r in recs}))),
        "precision": ", ".join(sorted({r.precision for r in recs})),
    }
    if ema_used:  # a row only where some run evaluated an EMA (ganzoo.ema)
        column["G evaluated"] = ", ".join(f"EMA of G's weights, decay {e:g}" if e else "last G"
                                          for e in sorted({r.setting("g_ema", 0.0) for r in recs}))
    return column


def hyperparameter_table(records, datasets: Sequence[str]) -> pd.DataFrame:
    """One row per distinct (variant, hyperparameters), naming the datasets that ran them; a
    variant whose settings differ between datasets (a suite override) gets one row each."""
    seen: Dict[Tuple[str, str], List[str]] = {}
    records = [as_record(r) for r in records]
    for r in sorted(records, key=lambda r: (r.variant, datasets.index(r.dataset)
                                             if r.dataset in datasets else len(datasets))):
        h = dict(r.setting("hparams", {}))
        if h.get("optimizer", "adam") != "adam":
            h.pop("betas", None)  # Adam's alone; RMSprop runs never read them
        key = (r.variant, ", ".join(f"{k}={_short(x)}" for k, x in h.items()))
        if r.dataset not in seen.setdefault(key, []):
            seen[key].append(r.dataset)
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
            acc, official = sp.get("heldout_accuracy"), sp.get("official_weights")
            parts.append(f"{name} [{sp.get('fingerprint', '?')}]"
                         + (f", held-out accuracy {acc:.1%}" if isinstance(acc, (int, float)) else "")
                         + (f" ({sp['title']}, weights SHA-256 {sp.get('sha256')}"
                            + {True: ", the published file", False: ", not the published file"}.get(official, "")
                            + ")" if sp.get("title") else ""))
        for name, why in (proto.get("feature_spaces_missing") or {}).items():
            parts.append(f"{name}: not measured ({why})")
        return "; ".join(parts)
    if proto.get("hq_threshold"):
        return f"none (2D): high quality = {proto['hq_threshold']}"
    ext = proto.get("extractor")
    fp = proto.get("fingerprint")
    return f"{ext} [{fp}]" if ext and fp else (ext or "—")


def describe_reference(ref: Any) -> str:
    if isinstance(ref, dict):
        which = str(ref.get("which") or "")
        held = f" ({which.split(' of ', 1)[1]})" if " of " in which else ""
        return f"{ref.get('dataset')} {ref.get('split')}: first {ref.get('n')} of {ref.get('of')}{held}"
    return str(ref) if ref else "—"


def _short(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in x) + ")"
    return str(x)


def environment_table(records, df: pd.DataFrame, store: RunStore) -> str:
    """Versions and machine (every distinct value over the runs), when the runs ran, the bench
    commands and their wall time, and the sum of the runs' own times."""
    rows = [*_environment_rows(records), *_run_period_rows(df), *_bench_call_rows(store), _run_time_row(df)]
    return _markdown(pd.DataFrame(rows))


def _environment_rows(records) -> List[Dict[str, str]]:
    vals: Dict[str, List[str]] = {}
    for r in records:
        for k in ENVIRONMENT_KEYS:
            v = getattr(r.part("env"), k)
            if v is not None:
                vals.setdefault(k, [])
                if str(v) not in vals[k]:
                    vals[k].append(str(v))
    return [{"": k, "value": "; ".join(v)} for k, v in vals.items()]


def _run_period_rows(df: pd.DataFrame) -> List[Dict[str, str]]:
    started, finished = df["started"].dropna(), df["finished"].dropna()
    return [{"": "runs between", "value": f"{started.min()} and {finished.max()}"}] if len(started) else []


def _bench_call_rows(store: RunStore) -> List[Dict[str, str]]:
    """The ``ganzoo bench`` commands, and their wall time (the last call's so far if it has not ended)."""
    inv = store.invocations()
    starts = [i for i in inv if i.get("event") == "start"]
    if not starts:
        return []
    ends = {i.get("id"): i for i in inv if i.get("event") == "end"}
    cmds = list(dict.fromkeys(i.get("command", "") for i in starts))
    wall = 0.0
    for s in starts:
        e = ends.get(s.get("id"))
        if e and e.get("wall_s") is not None:
            wall += e["wall_s"]
        elif s is starts[-1] and s.get("t0_unix"):
            wall += max(0.0, datetime.now(timezone.utc).timestamp() - s["t0_unix"])
    return [{"": "command", "value": "; ".join(f"`{c}`" for c in cmds)},
            {"": "bench wall time", "value": f"{wall / 60:.1f} min over {len(starts)} "
             f"call(s) of `ganzoo bench` (training, evaluation and this report)"}]


def _run_time_row(df: pd.DataFrame) -> Dict[str, str]:
    run_s = df["wall_s"].dropna().sum()
    return {"": "sum of run times", "value": f"{run_s / 60:.1f} min (training "
            f"{df['train_s'].dropna().sum() / 60:.1f} min, evaluation {df['eval_s'].dropna().sum() / 60:.1f} min)"}
