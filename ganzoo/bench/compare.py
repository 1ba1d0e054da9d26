"""``ganzoo compare DIR_A DIR_B``: two result sets side by side, with deltas and significance.

Runs are matched on dataset × variant × arch × batch size × precision × perf (not on
run_id: comparing two commits or two hyperparameter sets is the point). For every
measure both sides have, the table shows A and B (mean [95 % t-interval] over
seeds), the delta B − A, its relative size, the effect size (Hedges' g: the delta in
pooled standard deviations, small-sample corrected), the two-sided p-value of a test over
seeds, and a mark: ``*`` p < 0.05, ``**`` p < 0.01, with ▲ when B is better and ▼
when B is worse. The test is Welch's t test (default), Mann-Whitney U (with 3 seeds a
side it cannot reach p < 0.05, which the output says) or ``bootstrap`` (the 95 % / 99 %
bootstrap CI of the difference of means excludes 0; reported as p < 0.05 / p < 0.01).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ganzoo.bench import stats
from ganzoo.bench.frame import (
    CONFIG_KEYS,
    STABILITY,
    THROUGHPUT,
    quality_measure,
    quality_metrics,
    runs_frame,
    thresholds_from,
)
from ganzoo.bench.record import RunRecord
from ganzoo.bench.report import fmt_num
from ganzoo.bench.store import RunStore
from ganzoo.errors import ConfigError, MissingFileError

TESTS = ("welch", "mannwhitney", "bootstrap")
TEST_NAMES = {"welch": "Welch's t test (two-sided, unequal variances)", "mannwhitney": "Mann-Whitney U (two-sided)",
              "bootstrap": "bootstrap CI of the difference of means"}


def load_runs(directory) -> pd.DataFrame:
    store = RunStore(directory)
    records = store.latest()
    if not records:
        raise MissingFileError(f"no finished runs in {store.path}")
    return runs_frame(records, thresholds_from(store, records))


def _p_value(a: List[float], b: List[float], test: str) -> float:
    """Mann-Whitney U's p-value; for ``bootstrap`` only a bound (shown as "< 0.01",
    "< 0.05" or "≥ 0.05"): 0.005 when the 99 % CI of the difference excludes 0,
    0.04 when only the 95 % one does, else 1."""
    if test == "welch":
        return stats.welch_p(a, b)
    if test == "mannwhitney":
        return stats.mann_whitney(a, b)
    lo95, hi95 = stats.bootstrap_diff_ci(a, b, 0.95)
    if not (math.isfinite(lo95) and math.isfinite(hi95)):
        return math.nan
    if lo95 > 0 or hi95 < 0:
        lo99, hi99 = stats.bootstrap_diff_ci(a, b, 0.99)
        return 0.005 if (lo99 > 0 or hi99 < 0) else 0.04
    return 1.0


def _show_p(p: float, test: str) -> str:
    if not np.isfinite(p):
        return "—"
    if test == "bootstrap":  # a bound, not a measured p-value
        return "< 0.01" if p < 0.01 else "< 0.05" if p < 0.05 else "≥ 0.05"
    return f"{p:.3g}"


def _cell(values: List[float]) -> str:
    s = stats.summarize(values)
    if s.n == 0:
        return "—"
    if s.n >= 2 and math.isfinite(s.ci_lo):
        return f"{fmt_num(s.mean)} [{fmt_num(s.ci_lo)}, {fmt_num(s.ci_hi)}]"
    return fmt_num(s.mean)


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, test: str = "welch",
                   measures: Optional[List[str]] = None) -> pd.DataFrame:
    """Long table: one row per matched configuration × measure."""
    if test not in TESTS:
        raise ConfigError(f"unknown test {test!r}; valid: {', '.join(TESTS)}")
    keys = [*CONFIG_KEYS, "g_ema"]  # an EMA of G is another configuration (the runs frame's column)
    rows: List[Dict[str, Any]] = []
    b_groups = {k: g for k, g in b.groupby(keys, sort=False)}
    for k, ga in a.groupby(keys, sort=False):
        gb = b_groups.get(k)
        if gb is None:
            continue
        dataset = k[0]
        qm = [quality_measure(m) for m in dict.fromkeys(quality_metrics(a, dataset) + quality_metrics(b, dataset))]
        for m in qm + [STABILITY[0]] + [t for t in THROUGHPUT if t.key in ("img_per_s", "ttq_s")]:
            if measures and m.label not in measures and m.key not in measures:
                continue
            if m.key not in ga or m.key not in gb:
                continue
            va, vb = ga[m.key].tolist(), gb[m.key].tolist()
            sa, sb = stats.summarize(va), stats.summarize(vb)
            if sa.n == 0 and sb.n == 0:
                continue
            delta = sb.mean - sa.mean
            p = _p_value(va, vb, test)
            mark = stats.significance_mark(p)
            better = (delta > 0) == bool(m.higher_better) if m.higher_better is not None and delta else None
            rows.append({
                "dataset": dataset, "variant": k[1], "arch": k[2], "batch_size": k[3],
                "precision": k[4], "perf": k[5], "measure": m.label, "key": m.key,
                "higher_better": m.higher_better,
                "A": _cell(va), "B": _cell(vb), "n_A": sa.n, "n_B": sb.n,
                "A_mean": sa.mean, "B_mean": sb.mean, "delta": delta,
                "delta_pct": 100.0 * delta / abs(sa.mean) if sa.mean else math.nan,
                "hedges_g": stats.hedges_g(va, vb),
                "p": p, "min_p": stats.min_p_value(sa.n, sb.n) if test == "mannwhitney" else math.nan, "sig": mark,
                "verdict": "" if not mark else ("▲ B better" if better else "▼ B worse" if better is False else "differs"),
            })
    return pd.DataFrame(rows)


def render(table: pd.DataFrame, dir_a, dir_b, test: str) -> str:
    lines = ["# ganzoo compare", "", f"- A: `{dir_a}`", f"- B: `{dir_b}`",
             f"- test over seeds: {TEST_NAMES[test]}; "
             "`*` p < 0.05, `**` p < 0.01 (not corrected for the number of cells); Δ = B − A; g: Hedges' g "
             "(Δ in pooled standard deviations); cells: mean [95 % t-interval of the mean].", ""]
    if table.empty:
        return "\n".join(lines + ["No configuration (dataset × variant × arch × batch × precision × perf) "
                                  "is in both result sets.", ""])
    for note in table.attrs.get("differences", []):
        lines.append(f"- differs: {note}")
    if table.attrs.get("differences"):
        lines.append("")
    if test == "mannwhitney":
        floor = table["min_p"].min()
        if floor >= 0.05:
            lines += [f"> With these seed counts the smallest attainable Mann-Whitney p-value is "
                      f"{floor:.3g}, so no difference can reach p < 0.05; use more seeds or "
                      f"`--test welch` (the default).", ""]
    if int(table[["n_A", "n_B"]].min(axis=1).max()) < 2:
        lines += ["> Every cell has one seed on a side: no test can reach significance; run more seeds.", ""]
    for dataset, g in table.groupby("dataset", sort=False):
        show = pd.DataFrame({
            "variant": g["variant"], "measure": g["measure"], "A": g["A"], "B": g["B"],
            "Δ": g["delta"].map(fmt_num),
            "Δ %": g["delta_pct"].map(lambda x: "—" if not np.isfinite(x) else f"{x:+.1f}%"),
            "g": g["hedges_g"].map(lambda x: "—" if not np.isfinite(x) else f"{x:+.2f}"),
            "p": g["p"].map(lambda p: _show_p(p, test)),
            "": (g["sig"] + " " + g["verdict"]).str.strip(),
        })
        lines += [f"## {dataset}", "", show.to_markdown(index=False), ""]
    n_sig = int((table["sig"] != "").sum())
    lines += [f"{n_sig} of {len(table)} cells differ significantly.", ""]
    return "\n".join(lines)


SETTINGS = ("steps", "eval_samples", "final_samples", "kid_subsets", "z_dim", "split", "device",
            "ganzoo_version", "hparams")


def settings_differences(dir_a, dir_b, limit: int = 12) -> List[str]:
    """What else differs between matched runs of A and B (steps, sample counts, versions, ...)."""
    def settings(directory):
        out: Dict[tuple, Dict[str, set]] = {}
        for rec in map(RunRecord.from_dict, RunStore(directory).latest()):
            key = tuple(getattr(rec, k) for k in CONFIG_KEYS)
            for name in SETTINGS:
                out.setdefault(key, {}).setdefault(name, set()).add(repr(rec.setting(name)))
            out[key].setdefault("git_commit", set()).add(repr(rec.part("env").git_commit))
        return out

    a, b = settings(dir_a), settings(dir_b)
    notes: List[str] = []
    for key in [k for k in a if k in b]:
        for name in a[key]:
            if a[key][name] != b[key].get(name):
                va, vb = ", ".join(sorted(a[key][name])), ", ".join(sorted(b[key].get(name, {"—"})))
                note = f"{name} on {key[0]}: A {va}, B {vb}"
                if name == "hparams":
                    note = f"hyperparameters of {key[1]} on {key[0]}"
                if note not in notes:
                    notes.append(note)
    return notes[:limit] + ([f"… and {len(notes) - limit} more"] if len(notes) > limit else [])


def compare(dir_a, dir_b, test: str = "welch", out: Optional[str] = None):
    """Compare two bench directories; returns (table, markdown). Writes OUT.md/OUT.csv if asked."""
    table = compare_frames(load_runs(dir_a), load_runs(dir_b), test=test)
    table.attrs["differences"] = settings_differences(dir_a, dir_b)
    text = render(table, dir_a, dir_b, test)
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.with_suffix(".md").write_text(text)
        table.to_csv(p.with_suffix(".csv"), index=False)
    return table, text
