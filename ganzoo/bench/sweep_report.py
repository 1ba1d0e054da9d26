"""The equal-budget section of a report: what a ``[search]`` suite found (ganzoo.bench.search).

Per dataset and variant, from the store alone:

- the **distribution of the final quality over the trials** (a box over the trials that
  finished, every trial as a point, and the share of trials that are not of class ok:
  collapsed, did not start, diverged or failed; ``bench.failures``);
- the **best quality as a function of the budget** (Lucic et al. 2018, Fig. 4): the best of b
  trials taken at random from the T done, over all T! orderings, computed exactly
  (:func:`ganzoo.bench.search.best_of_budget`): the mean and the central 95 % of its
  distribution. A failed or diverged trial counts as the worst value seen on the dataset
  (the rule the headline ranks by);
- the **best settings found** (the drawn keys of the best trial, and the variant's own
  settings, trial 0, beside them);
- the **re-seeded scores of the best settings**, compared across variants with the report's
  own statistics (``frame.summarize``: mean and 95 % t-interval over seeds, rank, Welch's t
  test Holm-corrected against the best: tiers, "undecided" where a side has one seed);
- **one sentence per dataset**: does the ranking under the papers' own settings (the ranks of
  a baseline results folder, e.g. results/example-quick) survive an equal budget? Kendall's τ
  between the two rankings, and every pair of variants tested both ways (Welch, Holm over the
  pairs of each ranking): the pairs that keep their order with significance in both, the ones
  that reverse, the ones that only one side tells apart. The answer: "no" when at least as
  many pairs reverse as keep their order (or τ < 0 significantly); "yes" when pairs keep
  their order, none reverses or is lost and τ > 0 significantly; "in part" when more pairs
  keep their order than reverse; "its differences vanish" when the baseline tells pairs apart and none of
  them is told apart here (Lucic et al.'s finding; with few seeds a side this is also what
  low power looks like, which the sentence's counts let the reader judge); else "undecided".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ganzoo.bench import stats
from ganzoo.bench.frame import OK, runs_frame, summarize
from ganzoo.bench.search import BEST, LEVEL, TRIAL, best_of_budget, top_k, trial_results
from ganzoo.bench.stability import lower_is_better

FIG_DIR = "figures"
ALPHA = 0.05


def stage(rec: Mapping[str, Any]) -> Optional[str]:
    """A stored run's stage in a search (``trial`` or ``best``), None for an ordinary run."""
    return ((rec.get("spec") or {}).get("search") or {}).get("stage")


def has_search(records: Sequence[Mapping[str, Any]]) -> bool:
    return any(stage(r) for r in records)


def search_settings(starts: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The ``[search]`` table of the latest bench call (with the suite's path), {} when none."""
    for inv in reversed(list(starts)):
        suite = inv.get("suite") or {}
        table = (suite.get("raw") or {}).get("search")
        if table:
            return {**table, "_suite_path": suite.get("path")}
    return {}


# ---- which stored runs are the search's current ones ----------------------------------------
def current_runs(records: Sequence[Mapping[str, Any]], trials: Optional[int] = None,
                 k: Optional[int] = None) -> Tuple[List[Mapping[str, Any]], List[Mapping[str, Any]]]:
    """(trial records, best re-run records) of the search as the store now holds it: trials
    0..trials-1 of each cell, and the re-runs of the settings :func:`search.top_k` picks from
    them (a re-run of a setting no longer among the k best, e.g. after a retried trial, is left
    out). ``trials`` and ``k``: the suite's (default: what the store shows)."""
    trial_recs = [r for r in records if stage(r) == TRIAL]
    best_recs = [r for r in records if stage(r) == BEST]
    if k is None:
        k = max([(r["spec"]["search"].get("rank") or 1) for r in best_recs], default=1)
    cells = dict.fromkeys(r["spec"]["search"]["cell"] for r in trial_recs)
    keep_trials, picked = [], set()
    for cell in cells:
        done = trial_results(trial_recs, cell)
        limit = trials if trials is not None else len(done)
        done = [t for t in done if t.trial < limit]
        ids = {t.run_id for t in done}
        keep_trials += [r for r in trial_recs if r.get("run_id") in ids]
        if len(done) < limit:
            continue
        metric = next(((r.get("spec") or {}).get("metric") for r in trial_recs
                       if r["spec"]["search"]["cell"] == cell), None)
        for t in top_k(done, k, lower_is_better(metric) if metric else False):
            picked.add((cell, t.trial))
    keep_best = [r for r in best_recs if (r["spec"]["search"]["cell"], r["spec"]["search"]["trial"]) in picked]
    return keep_trials, keep_best


# ---- the frames --------------------------------------------------------------------------------
def trials_frame(trial_recs: Sequence[Mapping[str, Any]], thresholds) -> pd.DataFrame:
    """One row per trial: the runs frame's columns, plus trial, cell, the drawn settings."""
    df = runs_frame(trial_recs, thresholds)
    if df.empty:
        return df
    meta = {r["run_id"]: r["spec"]["search"] for r in trial_recs}
    df["trial"] = df.run_id.map(lambda i: meta[i]["trial"])
    df["cell"] = df.run_id.map(lambda i: meta[i]["cell"])
    df["settings"] = df.run_id.map(lambda i: settings_text(meta[i].get("params") or {}))
    return df.sort_values(["dataset", "variant", "trial"], kind="stable").reset_index(drop=True)


def settings_text(params: Mapping[str, Any]) -> str:
    """``lr=3.2e-04, beta1=0.5, n_critic=5``; ``own settings`` for trial 0 with defaults."""
    if not params:
        return "own settings"
    return ", ".join(f"{k}={_num(v)}" for k, v in params.items())


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2e}" if v and (abs(v) < 1e-2 or abs(v) >= 1e3) else f"{v:.3g}"
    return str(v)


def filled_values(df: pd.DataFrame, metric: str) -> pd.Series:
    """Each run's final value, a run without one (diverged, failed) at the worst value seen
    in ``df`` (the rule the headline ranks by)."""
    col = f"q.{metric}"
    vals = df[col] if col in df else pd.Series(np.nan, index=df.index)
    finite = vals.dropna()
    if finite.empty:
        return vals
    worst = finite.max() if lower_is_better(metric) else finite.min()
    return vals.fillna(worst)


# ---- per dataset ---------------------------------------------------------------------------------
def dataset_search(d: str, trials: pd.DataFrame, best: pd.DataFrame, baseline: Optional[pd.DataFrame],
                   directory: Optional[Path], figures: bool, k: int) -> Dict[str, Any]:
    """The search section of dataset ``d``: tables, figure paths and the sentence."""
    sub = trials[trials.dataset == d]
    metric = sub["metric"].dropna().iloc[0] if sub["metric"].notna().any() else None
    out: Dict[str, Any] = {"dataset": d, "metric": metric, "figures": {}, "trials": int(sub.trial.max() + 1)
                           if len(sub) else 0, "variants": sub.variant.nunique(),
                           "steps": ", ".join(str(int(s)) for s in sorted(sub.steps.dropna().unique()))}
    if metric is None:
        return out
    low = lower_is_better(metric)
    filled = sub.assign(_v=filled_values(sub, metric))
    order = _order(filled, low)
    curves = {v: best_of_budget(g.sort_values("trial")["_v"].to_numpy(), higher_better=not low)
              for v, g in filled.groupby("variant") if g["_v"].notna().all() and len(g)}
    out["distribution"] = _markdown(distribution_table(sub, metric, order, curves))
    reseeded = reseeded_table(d, best, metric, k)
    out["reseeded"] = _markdown(reseeded["table"]) if reseeded else None
    out["reseed_note"] = reseeded["note"] if reseeded else None
    out["verdict"] = verdict(d, metric, reseeded, baseline, best)
    if figures and directory is not None:
        out["figures"] = {"trials": trials_figure(directory, d, sub, metric, order),
                          "budget": budget_figure(directory, d, curves, metric, order, sub)}
    return out


def _order(filled: pd.DataFrame, low: bool) -> List[str]:
    """Variants by their best trial, best first."""
    best = filled.groupby("variant")["_v"].min() if low else filled.groupby("variant")["_v"].max()
    return list(best.sort_values(ascending=low, kind="stable").index)


def distribution_table(sub: pd.DataFrame, metric: str, order: List[str], curves) -> pd.DataFrame:
    col = f"q.{metric}"
    rows = []
    for v in order:
        g = sub[sub.variant == v].sort_values("trial")
        ok_vals = g[g.status == OK][col].dropna()
        bad = g[g["class"] != OK]
        classes = bad["class"].value_counts()
        low = lower_is_better(metric)
        best_row = g.loc[ok_vals.idxmin() if low else ok_vals.idxmax()] if len(ok_vals) else None
        own = g[g.trial == 0]
        own_text = "—"
        if len(own) and own.iloc[0]["settings"] == "own settings":
            ov = own.iloc[0][col]
            own_text = f"{_fmt(ov)} ({own.iloc[0]['class']})" if pd.notna(ov) else own.iloc[0]["class"]
        curve = curves.get(v)
        half = len(g) // 2 or 1
        rows.append({
            "variant": v, "trials": len(g),
            "not ok": f"{len(bad)}/{len(g)}" + (f" ({', '.join(f'{n} {c}' for c, n in classes.items())})" if len(bad) else ""),
            f"median [IQR] of {metric}": (f"{_fmt(ok_vals.median())} [{_fmt(ok_vals.quantile(0.25))}, "
                                           f"{_fmt(ok_vals.quantile(0.75))}]") if len(ok_vals) else "—",
            "best trial": f"{_fmt(best_row[col])} (#{int(best_row['trial'])})" if best_row is not None else "—",
            "best settings": best_row["settings"] if best_row is not None else "—",
            "own settings (#0)": own_text,
            f"best of {half} (mean [95 %])": (f"{_fmt(curve.mean[half - 1])} [{_fmt(curve.lo[half - 1])}, "
                                              f"{_fmt(curve.hi[half - 1])}]") if curve is not None else "—",
        })
    return pd.DataFrame(rows)


def reseeded_table(d: str, best: pd.DataFrame, metric: str, k: int) -> Optional[Dict[str, Any]]:
    """The re-runs of the best settings on dataset ``d`` with rank and tier (frame.summarize
    over one setting per variant: with k > 1, the one with the best re-seeded mean)."""
    sub = best[best.dataset == d] if len(best) else best
    if sub is None or sub.empty:
        return None
    col, low = f"q.{metric}", lower_is_better(metric)
    sub = sub.assign(_v=filled_values(sub, metric))
    chosen = []
    others = []
    for v, g in sub.groupby("variant", sort=False):
        means = g.groupby("trial")["_v"].mean()
        pick = means.idxmin() if low else means.idxmax()
        chosen.append(g[g.trial == pick])
        others += [f"{v} #{int(t)}: {_fmt(m)}" for t, m in means.items() if t != pick]
    runs = pd.concat(chosen)
    summary = summarize(runs.drop(columns=["_v"]))
    settings = runs.groupby("variant")["settings"].first()
    trial_of = runs.groupby("variant")["trial"].first()
    rows = []
    for _, r in summary.iterrows():
        mean_key = f"{col}:mean"
        n = int(r.get(f"{col}:n") or 0)
        cell = (f"{_fmt(r[mean_key])} [{_fmt(r[f'{col}:ci_lo'])}, {_fmt(r[f'{col}:ci_hi'])}]"
                if n >= 2 else _fmt(r.get(mean_key)))
        rows.append({"rank": "—" if not np.isfinite(r["rank"]) else int(r["rank"]), "variant": r["variant"],
                     f"re-seeded {metric} (mean [95 % t])": cell, "not ok": (FORMAT["failures"](r) if "failures" in FORMAT else "") or "—",
                     "tier": r.get("tier") or "—",
                     "p vs best (Holm)": "—" if not np.isfinite(r.get("p_vs_best", np.nan)) else f"{r['p_vs_best']:.2g}",
                     "setting (trial)": f"{settings[r['variant']]} (#{int(trial_of[r['variant']])})"})
    note = ("the other re-run settings' means: " + "; ".join(others)) if others else None
    return {"table": pd.DataFrame(rows), "summary": summary, "runs": runs, "note": note, "k": k}


# ---- the sentence ----------------------------------------------------------------------------------
def per_seed(df: pd.DataFrame, metric: str) -> Dict[str, List[float]]:
    """variant -> its runs' values (worst-filled; log for a positive lower-is-better distance,
    as the report's tiers test them)."""
    df = df.assign(_v=filled_values(df, metric))
    out = {v: list(g["_v"].dropna()) for v, g in df.groupby("variant")}
    if lower_is_better(metric) and all(x > 0 for vals in out.values() for x in vals):
        out = {v: list(np.log(vals)) for v, vals in out.items()}
    return out


def pair_outcomes(a: Dict[str, List[float]], b: Dict[str, List[float]], higher_better: bool) -> Dict[str, List[str]]:
    """Every pair of the variants in both: Welch's t test in ``a`` and in ``b`` (Holm over the
    pairs of each); "kept": told apart in both, same order; "reversed": told apart in both,
    opposite orders; "lost": told apart in ``a`` only; "new": in ``b`` only."""
    names = sorted(set(a) & set(b))
    pairs = [(x, y) for i, x in enumerate(names) for y in names[i + 1:]]

    def tested(values):
        p = stats.holm([stats.welch_p(values[x], values[y]) for x, y in pairs])
        sign = [np.sign(np.mean(values[x]) - np.mean(values[y])) * (1 if higher_better else -1) for x, y in pairs]
        return p, sign

    pa, sa = tested(a)
    pb, sb = tested(b)
    out: Dict[str, List[str]] = {"kept": [], "reversed": [], "lost": [], "new": []}
    for (x, y), p1, s1, p2, s2 in zip(pairs, pa, sa, pb, sb):
        sig1, sig2 = p1 < ALPHA, p2 < ALPHA  # nan compares False: untested
        first, second = (x, y) if s1 > 0 else (y, x)
        if sig1 and sig2:
            out["kept" if s1 == s2 else "reversed"].append(f"{first} > {second}")
        elif sig1:
            out["lost"].append(f"{first} > {second}")
        elif sig2:
            out["new"].append(f"{x} > {y}" if s2 > 0 else f"{y} > {x}")
    out["pairs"] = [f"{x}–{y}" for x, y in pairs]
    return out


def verdict(d: str, metric: str, reseeded: Optional[Dict[str, Any]], baseline: Optional[pd.DataFrame],
            best: pd.DataFrame) -> Optional[str]:
    """One sentence: does the baseline's ranking (each variant at its own settings) survive an
    equal budget on ``d``?"""
    if reseeded is None or baseline is None or baseline.empty:
        return None
    base = baseline[baseline.dataset == d]
    if base.empty:
        return f"{d}: the baseline has no runs on this dataset, so there is no ranking to compare."
    from scipy.stats import kendalltau

    from ganzoo.bench.frame import config_label

    base = base.assign(config=config_label(base))
    base = base[base.config == base.variant]  # one configuration per variant (e.g. not MNIST's extra arch)
    base_metric = base["metric"].dropna().iloc[0] if base["metric"].notna().any() else None
    if base_metric != metric:
        return f"{d}: the baseline ranks by {base_metric}, this search by {metric}: no comparison."
    bsum = summarize(base)
    here = reseeded["summary"]
    common = sorted(set(bsum.variant) & set(here.variant))
    if len(common) < 3:
        return f"{d}: fewer than 3 variants in both rankings: no comparison."
    r_base = bsum.set_index("variant")["rank"].reindex(common)
    r_here = here.set_index("variant")["rank"].reindex(common)
    tau, p_tau = kendalltau(r_base, r_here)
    low = lower_is_better(metric)
    pairs = pair_outcomes(per_seed(base[base.variant.isin(common)], metric),
                          per_seed(reseeded["runs"][reseeded["runs"].variant.isin(common)], metric), not low)
    n_pairs = len(pairs["pairs"])
    told = len(pairs["kept"]) + len(pairs["reversed"]) + len(pairs["lost"])
    t1_base = sorted(bsum[bsum.tier == "1"].variant)
    t1_here = sorted(here[here.tier == "1"].variant)
    first_base = bsum.sort_values("rank").variant.iloc[0]
    first_here = here.sort_values("rank").variant.iloc[0]
    similar = bool(np.isfinite(p_tau) and p_tau < ALPHA and tau > 0)
    kept, rev = len(pairs["kept"]), len(pairs["reversed"])
    if (rev and rev >= kept) or (np.isfinite(p_tau) and p_tau < ALPHA and tau < 0):
        answer = "**no, it does not survive**"
    elif kept and similar and not rev and not pairs["lost"]:
        answer = "**yes, it survives**"
    elif kept:  # more of the baseline's pairs keep their order than reverse
        answer = f"**it survives in part** ({kept} pair(s) kept, {rev} reversed, {len(pairs['lost'])} lost)"
    elif told:  # Lucic et al.'s finding: the differences are not distinguishable
        answer = ("**its differences vanish**: none of the pairs the baseline tells apart is told apart "
                  "here" + (", though the order is similar" if similar else ""))
    else:
        answer = "**undecided**"
    base_steps = ", ".join(str(int(s)) for s in sorted(base.steps.dropna().unique()))
    here_steps = ", ".join(str(int(s)) for s in sorted(reseeded["runs"].steps.dropna().unique()))
    seeds_base = int(base.groupby("variant").size().median())
    seeds_here = int(reseeded["runs"].groupby("variant").size().median())
    text = (f"{d}: does the ranking under the papers' own settings survive an equal budget? {answer}. "
            f"Kendall τ = {tau:.2f} (p = {p_tau:.2g}, {len(common)} variants) between the baseline's ranks "
            f"(each variant at its own settings, {base_steps} steps, {seeds_base} seeds) and the ranks of the "
            f"best setting of the search re-run here ({here_steps} steps, {seeds_here} seeds). ")
    text += (f"Of the {n_pairs} pairs, the baseline tells {told} apart (Welch, Holm, 5 %): "
             f"{len(pairs['kept'])} keep their order here with significance"
             + (f" ({_list(pairs['kept'])})" if pairs["kept"] else "")
             + f", {len(pairs['reversed'])} reverse" + (f" ({_list(pairs['reversed'])})" if pairs["reversed"] else "")
             + f", {len(pairs['lost'])} are not told apart here; {len(pairs['new'])} pair(s) are told apart "
               f"only here" + (f" ({_list(pairs['new'])})" if pairs["new"] else "") + ". ")
    text += (f"First there: {first_base}, here: {first_here}; tier 1 there: {', '.join(t1_base) or 'none'}; "
             f"here: {', '.join(t1_here) or 'none'}.")
    return text


def _list(items: List[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f", … ({len(items) - n} more)" if len(items) > n else "")


# ---- figures ---------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def trials_figure(directory: Path, d: str, sub: pd.DataFrame, metric: str, order: List[str]) -> Optional[str]:
    """A box per variant over its finished trials, every trial a point (hollow: not of class
    ok), and under each box the share of trials that are not ok."""
    col = f"q.{metric}"
    if col not in sub or not sub[col].notna().any():
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.62 * len(order) + 2), 4.4))
    rng = np.random.default_rng(0)
    data = [sub[(sub.variant == v) & (sub.status == OK)][col].dropna().to_numpy() for v in order]
    ax.boxplot([x if len(x) else [np.nan] for x in data], positions=range(len(order)), widths=0.55,
               showfliers=False, medianprops={"color": "black"})
    for i, v in enumerate(order):
        g = sub[(sub.variant == v) & (sub.status == OK)]
        ok = g["class"] == OK
        x = i + rng.uniform(-0.15, 0.15, size=len(g))
        ax.scatter(x[ok.to_numpy()], g[col][ok], s=16, color="tab:blue", zorder=3)
        ax.scatter(x[~ok.to_numpy()], g[col][~ok], s=16, facecolors="none", edgecolors="tab:red", zorder=3)
    labels = []
    for v in order:
        g = sub[sub.variant == v]
        labels.append(f"{v}\n{int((g['class'] != OK).sum())}/{len(g)} not ok")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize="x-small")
    ax.set_ylabel(f"final {metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
    ax.set_title(f"{d}: final {metric} over the search's trials (box: finished trials; hollow red: "
                 f"not of class ok; diverged and failed trials are counted under the name)", fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    path = Path(FIG_DIR) / f"{d}_search_trials.png"
    _save(fig, directory / path)
    return str(path)


def budget_figure(directory: Path, d: str, curves, metric: str, order: List[str], sub: pd.DataFrame) -> Optional[str]:
    """Best value against the number of trials, per variant: mean over all orderings and its
    central 95 % band (Lucic et al. 2018, Fig. 4)."""
    if not curves:
        return None
    plt = _plt()
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(order) > 10 else "tab10"]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for i, v in enumerate([v for v in order if v in curves]):
        c = curves[v]
        ax.plot(c.budget, c.mean, color=cmap(i % cmap.N), lw=1.6, marker=".", ms=4, label=v)
        ax.fill_between(c.budget, c.lo, c.hi, color=cmap(i % cmap.N), alpha=0.10, lw=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("budget: trials (settings drawn at random)")
    ax.set_ylabel(f"best final {metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
    ax.set_title(f"{d}: best {metric} against the budget (mean over all orderings of the trials; band: "
                 f"central {LEVEL:.0%}, exact)", fontsize="small")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    path = Path(FIG_DIR) / f"{d}_search_budget.png"
    _save(fig, directory / path)
    return str(path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)


# ---- the section -------------------------------------------------------------------------------------
def sweep_data(directory: Optional[Path], records: Sequence[Mapping[str, Any]], starts: Sequence[Mapping[str, Any]],
               thresholds, datasets: Sequence[str], figures: bool = True, fmt_num=None,
               failures_cell=None) -> Optional[Dict[str, Any]]:
    """Everything the template's search section shows, and ``trials.csv`` in ``directory``;
    None when the store holds no search. ``fmt_num``, ``failures_cell``: the report's formats
    of a number and of a configuration's runs that are not ok (passed in: the report imports
    this module, not the other way round)."""
    if not has_search(records):
        return None
    FORMAT.update({k: f for k, f in (("num", fmt_num), ("failures", failures_cell)) if f is not None})
    settings = search_settings(starts)
    k = settings.get("best")
    trial_recs, best_recs = current_runs(records, settings.get("trials"), k)
    trials = trials_frame(trial_recs, thresholds)
    if trials.empty:
        return None
    best = trials_frame(best_recs, thresholds) if best_recs else pd.DataFrame()
    baseline, baseline_path = load_baseline(settings)
    if directory is not None:
        trials.to_csv(directory / "trials.csv", index=False)
    order = [d for d in datasets if d in set(trials.dataset)] + sorted(set(trials.dataset) - set(datasets))
    sections = [dataset_search(d, trials, best, baseline, directory, figures, k or 1) for d in order]
    return {"sections": sections, "k": k or 1, "trials": settings.get("trials"),
            "seed": settings.get("seed", 0), "space": space_table(trial_recs, settings),
            "baseline": baseline_path, "level": f"{LEVEL:.0%}", "note": settings.get("note", ""),
            "waiting": [s["dataset"] for s in sections if s.get("reseeded") is None]}


def load_baseline(settings: Mapping[str, Any]) -> Tuple[Optional[pd.DataFrame], Optional[str]]:
    """The runs frame of the ``baseline`` results folder the search names (None when none is
    named or it has no runs)."""
    import os

    from ganzoo.bench.frame import thresholds_from
    from ganzoo.bench.store import RunStore

    path = settings.get("baseline")
    if not path:
        return None, None
    shown = path
    if not os.path.isabs(path) and settings.get("_suite_path"):
        suite_dir = Path(settings["_suite_path"]).parent
        path = os.path.normpath(suite_dir / path)
        shown = os.path.relpath(path, suite_dir.parent)  # from the checkout the suite lives in
        if not Path(path).is_dir() and Path(shown).is_dir():  # the store was moved: this checkout's copy
            path = shown
    store = RunStore(path)
    recs = [r for r in store.latest() if not stage(r)]
    if not recs:
        return None, shown
    return runs_frame(recs, thresholds_from(store, recs)), shown


def space_table(trial_recs: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    """The searched keys per variant: as the suite declares them (each key's distribution), else
    (a variant this installation does not have) the range of the values the trials drew."""
    from ganzoo.bench.search import Search

    declared = Search(trials=1, space=dict(settings.get("space") or {}), spaces=dict(settings.get("spaces") or {}))
    rows: Dict[str, Dict[str, List[Any]]] = {}
    for r in trial_recs:
        for key, v in ((r["spec"]["search"].get("params")) or {}).items():
            rows.setdefault(r["variant"], {}).setdefault(key, []).append(v)
    out = []
    for v in sorted(rows):
        try:
            out.append({"variant": v, "drawn": "; ".join(f"{k} {dist.describe()}"
                                                         for k, dist in declared.variant_space(v).items())})
            continue
        except Exception:  # not registered here, or not declared: what was drawn
            pass
        parts = []
        for key, vals in rows[v].items():
            uniq = sorted(set(vals), key=float) if all(isinstance(x, (int, float)) for x in vals) else sorted(set(map(str, vals)))
            parts.append(f"{key} ∈ {{{', '.join(_num(x) for x in uniq)}}}" if len(uniq) <= 4 else
                         f"{key} {_num(uniq[0])}…{_num(uniq[-1])}")
        out.append({"variant": v, "drawn": "; ".join(parts)})
    return _markdown(pd.DataFrame(out, columns=["variant", "drawn"]).rename(columns={"drawn": "search space"}))


FORMAT: Dict[str, Any] = {}  # the report's number and failure-cell formats (sweep_data sets them)


def _fmt(x: Any) -> str:
    return FORMAT["num"](x) if "num" in FORMAT else f"{x:.3g}"


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False)


def report_runs(records: Sequence[Mapping[str, Any]], starts: Sequence[Mapping[str, Any]] = ()) -> List[Mapping[str, Any]]:
    """The runs the report's ordinary tables show: every run of an ordinary suite; of a search,
    the re-runs of the settings it now picks (its trials and any stale re-run left out).
    ``starts``: the bench calls' start lines (the latest one's [search] table decides)."""
    if not has_search(records):
        return list(records)
    settings = search_settings(starts)
    _, best = current_runs(records, settings.get("trials"), settings.get("best"))
    keep = {r.get("run_id") for r in best}
    return [r for r in records if not stage(r) or r.get("run_id") in keep]
