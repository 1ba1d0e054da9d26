"""Ranks across datasets: the Friedman test and the Nemenyi critical difference over blocks
(dataset, seed), on the datasets where every variant ran on the same seeds with one
configuration each (``stats.friedman_nemenyi``; Demšar 2006, JMLR 7:1-30).

A block is one seed of one dataset: within it the variants are ranked by the dataset's
quality metric (a diverged or failed run counts as the worst value seen on that dataset),
so datasets with different metrics and units pool through their ranks alone.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from ganzoo.bench import stats
from ganzoo.bench.frame import config_label
from ganzoo.bench.stability import lower_is_better


def rank_test(df: pd.DataFrame) -> Tuple[Optional[stats.RankTest], List[str]]:
    """(the test, the datasets it pooled as "name (n seeds)"); (None, []) when none qualifies."""
    runs = df.assign(config=config_label(df))
    candidates = {}  # variant set -> (blocks, datasets): the set with the most blocks is tested
    for d, g in runs.groupby("dataset", sort=False):
        metric = g["metric"].dropna()
        if metric.empty or f"q.{metric.iloc[0]}" not in g:
            continue
        key, low = f"q.{metric.iloc[0]}", lower_is_better(metric.iloc[0])
        worst = g[key].max() if low else g[key].min()
        if g.groupby("variant")["config"].nunique().max() > 1:  # one configuration per variant only
            continue
        table = g.assign(_v=g[key].fillna(worst)).pivot_table(index="seed", columns="variant", values="_v")
        if table.shape[1] < 3 or table.isna().any().any():
            continue
        names = tuple(sorted(table.columns))
        sign = -1.0 if low else 1.0  # higher is better in every block
        blocks, used = candidates.setdefault(names, ([], []))
        blocks.append(sign * table[list(names)].to_numpy())
        used.append(f"{d} ({table.shape[0]} seeds)")
    if not candidates:
        return None, []
    variants, (blocks, used) = max(candidates.items(), key=lambda kv: sum(len(b) for b in kv[1][0]))
    return stats.friedman_nemenyi(np.vstack(blocks), list(variants), higher_better=True), used
