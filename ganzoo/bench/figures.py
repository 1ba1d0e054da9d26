"""The report's figures (matplotlib, PNG), drawn from the store and the runs frame.

Per dataset: quality against training wall-clock (mean over seeds, band min–max),
final quality per seed (a strip plot), samples per variant (an image grid, or a
scatter over the real modes for 2D sets, via :func:`ganzoo.plots.draw_samples`),
losses over training. Across datasets: throughput bars.
"""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import numpy as np
import pandas as pd

from ganzoo.bench.frame import OK, config_label, quality_metrics
from ganzoo.bench.record import RunRecord
from ganzoo.bench.stability import lower_is_better
from ganzoo.bench.store import RunStore

FIG_DIR = "figures"
DPI = 110
SAMPLES_DPI = 80
GRID_IMAGES = 36  # images per variant in the samples figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: List[str]) -> Dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(names) > 10 else "tab10"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _save(fig, path: Path, dpi: int = DPI) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    _plt().close(fig)


def draw_all(directory: Path, store: RunStore, df: pd.DataFrame, summary: pd.DataFrame) -> Dict[str, Dict[str, str]]:
    """Draw every figure; returns dataset -> {kind: relative path} ('_all' for cross-dataset ones)."""
    out: Dict[str, Dict[str, str]] = {}
    records = {r.run_id: r for r in map(RunRecord.from_dict, store.latest())}
    df = df.assign(config=config_label(df))
    for dataset in df.dataset.unique():
        sub = df[df.dataset == dataset]
        order = list(summary[summary.dataset == dataset]["config"])
        colors = _colors(order)
        metrics = quality_metrics(df, dataset)
        figs: Dict[str, str] = {}
        if metrics:
            p = curve_figure(directory, dataset, sub, records, metrics[0], order, colors)
            if p:
                figs["curve"] = p
            figs["final"] = final_figure(directory, dataset, sub, metrics[0], order, colors)
        p = samples_figure(directory, dataset, sub, store, order)
        if p:
            figs["samples"] = p
        p = losses_figure(directory, dataset, sub, records, order, colors)
        if p:
            figs["losses"] = p
        out[dataset] = figs
    out["_all"] = {}
    p = throughput_figure(directory, df, summary)
    if p:
        out["_all"]["throughput"] = p
    p = rank_figure(directory, df, summary)
    if p:
        out["_all"]["ranks"] = p
    return out


def rank_figure(directory, df, summary):
    """A critical-difference diagram (Demšar 2006): each variant at its mean rank over the
    blocks (dataset, seed), and a bar of the Nemenyi CD; variants closer than CD are not
    distinguishable."""
    from ganzoo.bench.ranks import rank_test

    test, _ = rank_test(df)
    if test is None:
        return None
    plt = _plt()
    order = np.argsort(test.mean_ranks)
    k = len(order)
    fig, ax = plt.subplots(figsize=(8, 0.28 * k + 1.4))
    best = test.mean_ranks[order[0]]
    for row, i in enumerate(order):
        r = test.mean_ranks[i]
        tied = abs(r - best) <= test.cd or test.friedman_p >= test.alpha
        ax.plot([r], [row], "o", color="tab:green" if tied else "tab:grey")
        ax.text(r + 0.15, row, test.names[i], va="center", fontsize="small")
    ax.axvspan(best, best + test.cd, color="tab:green", alpha=0.12, lw=0)
    ax.set_xlim(0.5, k + 2.5)
    ax.set_ylim(k - 0.4, -0.8)
    ax.set_yticks([])
    ax.set_xlabel("mean rank over blocks (1 = best)")
    ax.set_title(f"Friedman p = {test.friedman_p:.2g}; Nemenyi CD = {test.cd:.2f} over {test.blocks} blocks "
                 f"(green band: within CD of the best)", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(FIG_DIR) / "ranks.png"
    _save(fig, directory / path)
    return str(path)


def curve_figure(directory, dataset, sub, records, metric, order, colors):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for config in order:
        # Seeds evaluate at the same steps: the band spans the seeds at each step, and
        # each step sits at the seeds' mean training time when it was reached.
        by_step: Dict[int, List[tuple]] = {}
        seeds = 0
        for rid in sub[sub.config == config].run_id:
            pts = [(p.get("step"), p.get("train_s"), p.get(metric)) for p in records[rid].curve or []]
            pts = [p for p in pts if None not in p and math.isfinite(p[2])]
            seeds += bool(pts)
            for step, t, v in pts:
                by_step.setdefault(int(step), []).append((t, v))
        if not by_step:
            continue
        steps = sorted(by_step)
        vals = [np.array([tv[1] for tv in by_step[s]]) for s in steps]
        mean = np.array([v.mean() for v in vals])
        ax.plot(steps, mean, color=colors[config], label=f"{config} ({seeds})", lw=1.6, marker=".", ms=4)
        if seeds > 1:
            ax.fill_between(steps, [v.min() for v in vals], [v.max() for v in vals], color=colors[config],
                            alpha=0.15, lw=0)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("generator steps (wall-clock to quality: the time-to-quality table)")
    ax.set_ylabel(f"{metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
    ax.set_title(f"{dataset}: {metric} during training (mean over seeds; band: min–max)", fontsize="medium")
    thr = sub["threshold"].dropna()
    if len(thr):
        ax.axhline(thr.iloc[0], color="grey", ls=":", lw=1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5), title="variant (seeds)",
              title_fontsize="x-small")
    path = Path(FIG_DIR) / f"{dataset}_curve.png"
    _save(fig, directory / path)
    return str(path)


def final_figure(directory, dataset, sub, metric, order, colors):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(order) + 2), 4))
    col = f"q.{metric}"
    rng = np.random.default_rng(0)
    finite = sub[col].dropna()
    bad_y = (finite.max() if lower_is_better(metric) else finite.min()) if len(finite) else 0.0
    for i, config in enumerate(order):
        g = sub[sub.config == config]
        ok = g[g.status == OK][col].dropna()
        x = i + rng.uniform(-0.12, 0.12, size=len(ok))
        ax.scatter(x, ok, color=colors[config], s=22, zorder=3)
        if len(ok):
            ax.hlines(ok.mean(), i - 0.3, i + 0.3, color="black", lw=1.2, zorder=4)
        n_bad = int((g.status != OK).sum())
        if n_bad:
            ax.scatter([i] * n_bad, [bad_y] * n_bad, marker="x", color="red", s=40, zorder=5)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=40, ha="right", fontsize="small")
    ax.set_ylabel(f"final {metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
    ax.set_title(f"{dataset}: final {metric} per seed (bar: mean; red ×: diverged or failed)",
                 fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    path = Path(FIG_DIR) / f"{dataset}_final.png"
    _save(fig, directory / path)
    return str(path)


def samples_figure(directory, dataset, sub, store, order):
    import torch

    from ganzoo.plots import draw_samples

    panels = []
    for config in order:
        g = sub[sub.config == config].sort_values("seed")
        for rid, seed in zip(g.run_id, g.seed):
            arrays = store.load_samples(rid)
            if arrays:
                panels.append((config, seed, arrays))
                break
    if not panels:
        return None
    plt = _plt()
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.3 * nrow), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (config, seed, arrays) in zip(axes.flat, panels):
        if "images" in arrays:
            x = torch.from_numpy(arrays["images"][:GRID_IMAGES]).float() / 127.5 - 1.0
            draw_samples(ax, x, SimpleNamespace(kind="image"))
        else:
            data = SimpleNamespace(kind="points", x=torch.from_numpy(arrays["real"]),
                                   modes=torch.from_numpy(arrays["modes"]) if "modes" in arrays else None)
            draw_samples(ax, torch.from_numpy(arrays["samples"]), data)
            legend = ax.get_legend()
            if legend is not None and ax is not axes.flat[0]:
                legend.remove()
            elif legend is not None:
                legend.set(alpha=0.8)
            ax.tick_params(labelsize="x-small")
        ax.set_title(f"{config} (seed {seed})", fontsize="small")
    fig.suptitle(f"{dataset}: final samples per variant", fontsize="medium")
    fig.tight_layout()
    path = Path(FIG_DIR) / f"{dataset}_samples.png"
    _save(fig, directory / path, dpi=SAMPLES_DPI)
    return str(path)


def losses_figure(directory, dataset, sub, records, order, colors):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    drawn = 0
    for config in order:
        for ax, key in zip(axes, ("d_loss", "g_loss")):
            traces = []
            for rid in sub[sub.config == config].run_id:
                lt = records[rid].losses or {}
                if key in lt and lt.get("step"):
                    traces.append((np.asarray(lt["step"], float),
                                   np.asarray([np.nan if v is None else v for v in lt[key]], float)))
            if not traces:
                continue
            n = min(len(s) for s, _ in traces)
            y = np.nanmean(np.stack([v[:n] for _, v in traces]), axis=0)
            ax.plot(traces[0][0][:n], y, color=colors[config], lw=1.2, label=config)
            drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    for ax, key in zip(axes, ("D loss", "G loss")):
        ax.set_xlabel("G step")
        ax.set_title(f"{dataset}: {key} (each variant's own loss)", fontsize="medium")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    path = Path(FIG_DIR) / f"{dataset}_losses.png"
    _save(fig, directory / path)
    return str(path)


def throughput_figure(directory, df, summary):
    datasets = list(dict.fromkeys(summary.dataset))
    if "img_per_s:mean" not in summary or not summary["img_per_s:n"].fillna(0).any():
        return None
    plt = _plt()
    ncol = min(2, len(datasets))
    nrow = math.ceil(len(datasets) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 0.32 * summary.groupby("dataset").size().max() * nrow + 1.5 * nrow),
                             squeeze=False)
    for ax in axes.flat[len(datasets):]:
        ax.axis("off")
    for ax, d in zip(axes.flat, datasets):
        sub = summary[summary.dataset == d].sort_values("img_per_s:mean")
        ax.barh(sub["config"], sub["img_per_s:mean"], xerr=sub["img_per_s:std"].fillna(0),
                color="tab:blue", alpha=0.8)
        ax.set_title(f"{d}", fontsize="medium")
        ax.set_xlabel("real images shown to D per second (training time only)", fontsize="small")
        ax.tick_params(labelsize="small")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Throughput (mean over seeds; error bar: std)", fontsize="medium")
    fig.tight_layout()
    path = Path(FIG_DIR) / "throughput.png"
    _save(fig, directory / path)
    return str(path)
