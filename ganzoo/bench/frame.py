"""The runs of a store as pandas frames: one row per run, and the summary over seeds.

What the report, the figures and ``ganzoo compare`` all read (none of them imports
another): the run frame's columns (identity, status, final metrics as ``q.<name>``,
stability, throughput), the labels that tell configurations apart, and the summary's
mean / std / 95 % t-interval / count of every measure with the rank per dataset.

Every run gets its failure class (``bench.failures``: ok, collapsed, did not start,
diverged, failed); the summary counts them per configuration.

Ranking: within a dataset, variants are ranked by the mean final value of the
dataset's quality metric over seeds, where a seed that diverged or failed (no final
value) counts as the worst final value seen on that dataset. Tiers: the best-ranked
configuration and every one that Welch's t test (Holm-corrected over the table) cannot
tell from it at 5 % form tier 1, "not distinguishable from the best". Positive distances
where lower is better (FID, KID) are tested on the log scale: their spread over seeds
grows with their size (a FID of 200 varies by tens, one of 40 by units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ganzoo.bench import stats
from ganzoo.bench.failures import CLASSES, failure_class
from ganzoo.bench.record import as_record
from ganzoo.bench.stability import lower_is_better, time_to_quality
from ganzoo.bench.store import RunStore
from ganzoo.files import json_hash

CONFIG_KEYS = ["dataset", "variant", "arch", "batch_size", "precision", "perf"]
OK = "ok"
# Final values that feed the failure classes, not quality columns of their own.
DIAGNOSTICS = ("top_mode_share", "top_class_share", "clustered_modes", "nearest_modes")
ALPHA = 0.05


@dataclass(frozen=True)
class Measure:
    """A column of the report: where it comes from in a run's row, and which way is better."""

    key: str  # column of the runs frame
    label: str
    higher_better: Optional[bool]  # None: no "best" (informational)
    group: str  # quality | stability | throughput


STABILITY = [
    Measure("fall_back", "fall-back from best", False, "stability"),
    Measure("osc_d_loss", "D-loss oscillation", False, "stability"),
    Measure("osc_g_loss", "G-loss oscillation", False, "stability"),
    Measure("grad_norm_d_median", "‖∇D‖ median", None, "stability"),
]
THROUGHPUT = [
    Measure("img_per_s", "img/s", True, "throughput"),
    Measure("s_per_kimg", "s/kimg", False, "throughput"),
    Measure("g_steps_per_s", "G steps/s", True, "throughput"),
    Measure("ms_per_step", "ms/step", False, "throughput"),
    Measure("mfu", "MFU", True, "throughput"),
    Measure("peak_mem_mib", "peak mem (MiB)", False, "throughput"),
    Measure("ttq_s", "time-to-quality (s)", False, "throughput"),
]


# Shown without a "best": diversity, the nearest-neighbour ratio and density (Naeem et al. 2020)
# are good near 1, not at an end. Named without the feature space: "density" for "density[x]".
NEUTRAL = ("diversity", "nn_ratio", "duplicates", "density")


def quality_measure(metric: str) -> Measure:
    better = None if metric.split("[")[0] in NEUTRAL else not lower_is_better(metric)
    return Measure(f"q.{metric}", metric, better, "quality")


# ---- the runs frame --------------------------------------------------------------------
def thresholds_from(store: RunStore, records: Sequence[Any]) -> Dict[str, Tuple[str, Optional[float]]]:
    """dataset -> (metric, threshold): the latest bench call's suite, else the records' specs."""
    out: Dict[str, Tuple[str, Optional[float]]] = {}
    for rec in map(as_record, records):
        if rec.setting("metric"):
            out[rec.dataset] = (rec.setting("metric"), rec.setting("threshold"))
    for inv in store.invocations():
        for d, mt in (inv.get("thresholds") or {}).items():
            if mt and mt[0]:
                out[d] = (mt[0], mt[1])
    return out


STABILITY_COLUMNS = ("best", "final", "fall_back", "osc_d_loss", "osc_g_loss", "grad_norm_d_median",
                     "grad_norm_g_median", "grad_norm_d_max", "grad_norm_g_max")
THROUGHPUT_COLUMNS = ("img_per_s", "s_per_kimg", "g_steps_per_s", "ms_per_step", "mfu", "peak_mem_mib")


def runs_frame(records: Sequence[Any],
               thresholds: Optional[Dict[str, Tuple[str, Optional[float]]]] = None) -> pd.DataFrame:
    """One row per run (stored lines or :class:`RunRecord` s): identity, status, final metrics
    (``q.<name>``), stability, throughput."""
    thresholds = thresholds or {}
    rows = []
    for rec in map(as_record, records):
        st, tp, tm = rec.part("stability"), rec.part("throughput"), rec.part("timing")
        metric, thr = thresholds.get(rec.dataset, (rec.setting("metric"), None))
        row: Dict[str, Any] = {k: getattr(rec, k) for k in ["run_id", "suite", *CONFIG_KEYS, "seed", "status"]}
        row["setup"] = setup_id(rec.spec or {})
        row.update(metric=metric, divergence=st.divergence, diverged_at=st.diverged_at, error=rec.error_line,
                   steps=rec.setting("steps"), steps_done=rec.steps_done, g_ema=rec.setting("g_ema", 0.0),
                   num_modes=(rec.protocol or {}).get("num_modes"))
        for k, v in (rec.final or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[f"q.{k}"] = float(v)
        if rec.status != OK:  # a diverged run has no trustworthy final quality
            for k in [k for k in row if k.startswith("q.")]:
                row[k] = math.nan
        for k in STABILITY_COLUMNS:
            row[k] = getattr(st, k)
        ttq, _ = time_to_quality(rec.curve or [], metric, thr) if metric else (None, None)
        row.update(threshold=thr, ttq_s=ttq,
                   reached=None if thr is None else (ttq is not None and rec.status != "failed"))
        for k in THROUGHPUT_COLUMNS:
            row[k] = getattr(tp, k)
        row["peak_mem_kind"] = tp.peak_mem_kind
        row.update(train_s=tm.train_s, eval_s=tm.eval_s, wall_s=tm.wall_s, started=tm.started,
                   finished=tm.finished)
        row["class"] = failure_class(row)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    num = [c for c in df.columns if c.startswith("q.")] + [
        *STABILITY_COLUMNS, "ttq_s", "img_per_s", "s_per_kimg", "g_steps_per_s", "peak_mem_mib",
        "train_s", "eval_s", "wall_s"]
    for c in num:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df.sort_values(["dataset", "variant", "seed"], kind="stable").reset_index(drop=True)


def quality_metrics(df: pd.DataFrame, dataset: str) -> List[str]:
    """The final metrics present for ``dataset``, its primary metric first (``*_std`` left out)."""
    sub = df[df.dataset == dataset]
    names = [c[2:] for c in sub.columns if c.startswith("q.") and sub[c].notna().any()
             and not c.endswith("_std") and c[2:] not in DIAGNOSTICS]
    primary = sub["metric"].dropna().iloc[0] if sub["metric"].notna().any() else None
    if primary in names:
        names.remove(primary)
        names.insert(0, primary)
    return names


def setup_id(spec: Dict[str, Any]) -> str:
    """A short hash of everything that defines a run but its seed (steps, hyperparameters,
    sample counts, ...): runs pool as seeds of one configuration only when these agree."""
    from ganzoo.bench.suite import hashed_fields

    return json_hash({k: v for k, v in hashed_fields(spec).items() if k != "seed"})[:6]


# ---- the summary -----------------------------------------------------------------------
def config_label(df: pd.DataFrame) -> pd.Series:
    """The variant name, plus what tells apart two rows of one variant on one dataset
    (arch, batch size, precision, perf mode, steps, else the setup hash of the rest),
    e.g. ``nsgan · b256 · bf16`` or ``nsgan · steps 600``."""
    label = df["variant"].astype(str)
    prefix = {"arch": "", "batch_size": "b", "precision": "", "perf": "", "steps": "steps ", "g_ema": "EMA ",
              "setup": "setup "}
    for _, g in df.groupby("dataset", sort=False):
        varying = [k for k in prefix if k != "setup" and g.groupby("variant")[k].nunique().max() > 1]
        if g.groupby(["variant", *varying])["setup"].nunique().max() > 1:  # something else differs
            varying.append("setup")
        for k in varying:
            label.loc[g.index] = label.loc[g.index] + " · " + prefix[k] + g[k].astype(str)
    return label


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × configuration, with mean/std/ci_lo/ci_hi/n of every measure."""
    df = df.copy()
    df["config"] = config_label(df)
    rows = []
    for (dataset, config), g in df.groupby(["dataset", "config"], sort=False):
        metrics = quality_metrics(df, dataset)
        row: Dict[str, Any] = {"dataset": dataset, "config": config}
        for k in CONFIG_KEYS[1:]:
            row[k] = g[k].iloc[0]
        row.update(runs=len(g), ok=int((g.status == OK).sum()),
                   diverged=int((g.status == "diverged").sum()), failed=int((g.status == "failed").sum()),
                   metric=metrics[0] if metrics else None)
        for c in CLASSES:
            row[f"class:{c}"] = int((g["class"] == c).sum())
        reached = g["reached"].dropna()
        row["success_rate"] = float(reached.mean()) if len(reached) else math.nan
        row["threshold"] = g["threshold"].iloc[0]
        best = [Measure("best", "best", None, "stability")]
        for m in [quality_measure(q) for q in metrics] + best + STABILITY + THROUGHPUT:
            s = stats.summarize(g[m.key].tolist()) if m.key in g else stats.summarize([])
            row.update({f"{m.key}:mean": s.mean, f"{m.key}:std": s.std, f"{m.key}:ci_lo": s.ci_lo,
                        f"{m.key}:ci_hi": s.ci_hi, f"{m.key}:n": s.n})
        rows.append(row)
    out = pd.DataFrame(rows)
    out["rank"] = np.nan
    for dataset, g in df.groupby("dataset", sort=False):
        metrics = quality_metrics(df, dataset)
        if not metrics:
            continue
        col = f"q.{metrics[0]}"
        low = lower_is_better(metrics[0])
        vals = g[col]
        worst = vals.max() if low else vals.min()
        if not np.isfinite(worst):
            continue
        filled = g.assign(_v=vals.fillna(worst))
        score = filled.groupby("config", sort=False)["_v"].mean()
        ranks = score.rank(ascending=low, method="min")
        idx = out.dataset == dataset
        out.loc[idx, "rank"] = out.loc[idx, "config"].map(ranks).values
        out.loc[idx, "rank_score"] = out.loc[idx, "config"].map(score).values
        per_config = filled.groupby("config", sort=False)["_v"].apply(list).to_dict()
        if low and (vals.dropna() > 0).all():  # FID, KID: distances whose spread grows with them
            per_config = {c: list(np.log(v)) for c, v in per_config.items()}
        clean = set(g.groupby("config", sort=False)["class"].apply(lambda c: (c == OK).all()).loc[lambda s: s].index)
        tiers = best_tier(per_config, score, low, clean)
        for k in ("tier", "p_vs_best"):
            out.loc[idx, k] = out.loc[idx, "config"].map({c: t[k] for c, t in tiers.items()}).values
    return out.sort_values(["dataset", "rank", "variant", "arch", "batch_size", "precision", "perf"],
                           kind="stable", na_position="last").reset_index(drop=True)


def best_tier(values: Dict[str, List[float]], score: pd.Series, low: bool,
              eligible: Optional[set] = None) -> Dict[str, Dict[str, Any]]:
    """config -> {tier, p_vs_best}: tier "1" for the best-scoring configuration and those Welch's
    t test (Holm-corrected over the others) cannot tell from it at ``ALPHA``, "2" for the rest,
    "undecided" where either side has fewer than 2 seeds (no test is possible). The best is
    chosen among ``eligible`` configurations (those whose every run is ok) when there is one:
    a collapsed generator's score does not define what "as good as the best" means; the others
    get tier "not ok"."""
    pool = score[[c for c in score.index if c in eligible]] if eligible else score
    best = pool.idxmin() if low else pool.idxmax()
    others = [c for c in values if c != best]
    raw = [stats.welch_p(values[best], values[c]) for c in others]
    adjusted = stats.holm(raw)
    out = {best: {"tier": "1", "p_vs_best": math.nan}}
    for c, p in zip(others, adjusted):
        if eligible and c not in eligible:  # tiers rank the configurations whose every run is ok
            out[c] = {"tier": "not ok", "p_vs_best": p}
        elif not math.isfinite(p):
            out[c] = {"tier": "undecided", "p_vs_best": math.nan}
        else:
            out[c] = {"tier": "1" if p >= ALPHA else "2", "p_vs_best": p}
    if len(values[best]) < 2 and others:
        out[best]["tier"] = "undecided" if all(t["tier"] == "undecided" for c, t in out.items() if c != best) \
            else out[best]["tier"]
    return out
