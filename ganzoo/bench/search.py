"""An equal-budget hyperparameter search per variant (Lucic et al. 2018, "Are GANs Created Equal?").

Lucic et al. ask which variant gives the best quality *for the same search budget*, not under
each paper's own settings. Their method (compare_gan v1, ``generate_tasks_lib.py``): per
model, 100 settings drawn at random from a wide space (the authors' own settings always
among them), each trained once on one seed; then the best setting re-trained on 50 seeds.
They report the distribution of FID over the search and the best FID as a function of the
budget. A suite's ``[search]`` table does the same here::

    seeds = [1, 2, 3]            # the re-run seeds of the best settings (not the search's seed)

    [search]
    trials = 8                   # settings per variant and dataset: the equal budget
    seed = 0                     # the search's seed: every variant's draws come from it, and
                                 #   every trial trains on it (compare_gan: tf_seed 0)
    include_defaults = true      # trial 0 is the variant's own settings (the dataset protocol's,
                                 #   else its paper's), as compare_gan's phase 1 always includes
    best = 1                     # k: the k best settings per variant and dataset are re-run on
                                 #   the suite's `seeds`
    datasets = ["ring8"]         # optional: the datasets searched (default: all of the suite's);
                                 #   a suite dataset not listed is not run
    baseline = "../results/example-quick"   # optional: a results folder whose ranks (each
                                 #   variant at its own settings) the report compares with
    [search.space]               # every variant's space: a range or a list of choices
    lr = { low = 1e-5, high = 1e-2, scale = "log" }
    beta1 = { choices = [0.0, 0.5, 0.9] }
    n_critic = { choices = [1, 5] }
    [search.spaces.wgan-gp]      # per-variant keys over [search.space] (the same key replaces it)
    gp_weight = { low = 0.1, high = 100.0, scale = "log" }
    [search.spaces.unrolled]
    n_critic = "fixed"           # this variant keeps its own value of a common key

A key is a hyperparameter of the variant (``n_critic``, ``gp_weight``, ``clip``, ...), or one of
two shorthands: ``lr`` sets ``lr_g`` and ``lr_d`` to one value (Lucic et al. tune one learning
rate), and ``beta1`` sets the first of Adam's ``betas`` (β2 stays the variant's). ``beta1`` in
``[search.space]`` applies to the variants whose optimizer has betas (Adam, AdamW); a variant
trained with RMSprop (WGAN, R1, as their papers) keeps its optimizer and has no β1 to draw.
A range is uniform (``scale = "linear"``, the default) or log-uniform (``scale = "log"``); an
integer hyperparameter draws whole numbers. Every bound and choice is checked as the variant
checks the value (``n_critic >= 1``, a learning rate > 0), when the suite is read.

**The sampler: Optuna's RandomSampler.** Lucic et al.'s search is random, so every trial's
settings can be drawn up front, when the suite is planned, before anything trains: the same
suite gives the same trials, and each trial is an ordinary :class:`RunSpec` whose
hyperparameters are part of its resolved spec, so its run id follows from them. The store
then does the rest: a killed sweep resumes, each trial runs once, any executor (local, Ray)
runs it. Optuna's ``study.ask`` hands out draws without running anything, from typed
distributions that check themselves (a log scale over 0 is its error too), with one seeded
generator per study. Ray Tune's search spaces draw only inside ``tune.run``, which
schedules, checkpoints and resumes trials itself (in ``~/ray_results``): a second runner
beside the store, which the bench must not have. Each variant's study is seeded with a hash
of (search seed, variant), so adding a variant or a dataset draws nothing new for the others;
the draws of one variant are the same on every dataset (compare_gan re-seeds Python's
``random`` with 123 for each dataset's experiment, so its datasets share draws too); and
the draws are prefix-stable: raising ``trials`` from 8 to 16 keeps the first 8. A
different Optuna release could draw other numbers from the same seed; the trials would
then be new runs (new ids), never a silent mix: the plan checks that a folder's stored
trials are the ones it draws (:func:`check_store`).

**Best k, re-seeded.** When every trial of a (dataset, variant) is stored, the k best
settings by the dataset's metric (a trial that diverged or failed has no value and is never
picked; ties go to the earlier trial) are re-run on the suite's seeds, which must not
contain the search's seed: the best trial's own seed is the lucky draw the re-run guards
against (the winner's curse). These runs too are ordinary specs, planned from what the
store holds, so a resumed sweep plans the same ones.

**Best quality against the budget** (Lucic et al. Fig. 4): for a budget of b trials, the
best value among b trials picked at random from the T done, i.e. over every ordering of the
trials, the best of the first b. :func:`best_of_budget` gives its mean and its 2.5-97.5 %
quantiles exactly (the order statistics of sampling without replacement), so it needs no
resampling and no seed: "all T! orderings".
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ganzoo.config import Setting
from ganzoo.errors import ConfigError
from ganzoo.files import canonical_json, json_hash

SHORTHANDS = ("lr", "beta1")  # keys that are not a variant's hyperparameter of that name
SCALES = ("linear", "log")
FIXED = "fixed"  # [search.spaces.V] key = "fixed": V keeps its own value of a common key
TRIAL, BEST = "trial", "best"  # a search run's stage (RunSpec.search["stage"])
LEVEL = 0.95  # the budget curve's band: the central 95 % of the best-of-b distribution

S = Setting
SEARCH_KEYS = {"trials": S(int, minimum=1), "seed": S(int, minimum=0), "include_defaults": S(bool),
               "best": S(int, minimum=1), "datasets": S(str, axis=True), "baseline": S(str),
               "space": S(dict), "spaces": S(dict), "note": S(str)}
RANGE_KEYS = {"low": S(float), "high": S(float), "scale": S(str, choices=lambda: SCALES),
              "choices": S(list)}


class SearchError(ConfigError):
    """A ``[search]`` table (or a command line's seeds for it) is invalid; the message says how.
    The suite reader raises it as its SuiteError."""


def _error(message: str) -> ConfigError:
    return SearchError(message)


# ---- one key's distribution ------------------------------------------------------------
@dataclass(frozen=True)
class Dist:
    """What one key of a space draws: a range (uniform or log-uniform, float or int) or choices."""

    key: str
    kind: str  # "float" | "int" | "choice"
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Tuple[Any, ...] = ()

    def optuna(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of {" + ", ".join(_fmt(c) for c in self.choices) + "}"
        what = "log-uniform" if self.log else "uniform"
        whole = " integers" if self.kind == "int" else ""
        return f"{what}{whole} [{_fmt(self.low)}, {_fmt(self.high)}]"


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def hparam_updates(key: str, value: Any, hp: Mapping[str, Any]) -> Dict[str, Any]:
    """What setting ``key`` to ``value`` changes in a variant's resolved hyperparameters ``hp``."""
    if key == "lr":
        return {"lr_g": value, "lr_d": value}
    if key == "beta1":
        return {"betas": [value, list(hp["betas"])[1]]}
    return {key: value}


def uses_betas(optimizer: str) -> bool:
    """Whether the optimizer named ``optimizer`` reads Adam's ``betas``: read from the torch
    optimizer it builds (its ``defaults``), not from a list of names."""
    import torch

    from ganzoo.optimizers import OPTIMIZERS

    kind = OPTIMIZERS.get(optimizer)
    hp = {"betas": (0.5, 0.999), **kind.hparams}
    opt = kind.build([torch.nn.Parameter(torch.zeros(1))], hp, lr=1e-3)
    return "betas" in opt.defaults


def parse_dist(key: str, table: Any, variant_cls, where: str) -> Dist:
    """One ``key = { low, high, scale }`` or ``key = { choices = [...] }`` for ``variant_cls``,
    every bound and choice checked as the variant checks the value."""
    name = variant_cls.registered_name
    hp = variant_cls.default_hparams()
    if key == "beta1":
        if not uses_betas(hp["optimizer"]):
            raise _error(f"{where}: {name} trains with {hp['optimizer']}, which has no beta1 "
                         f"(beta1 is Adam's); its keys: {', '.join(valid_keys(variant_cls))}")
    elif key not in SHORTHANDS and key not in hp:
        raise _error(f"{where}: {name} has no hyperparameter {key!r}; valid keys: "
                     f"{', '.join(valid_keys(variant_cls))}")
    if not isinstance(table, dict):
        raise _error(f"{where}: must be a table {{ low = .., high = .., scale = \"log\" }} or "
                     f"{{ choices = [..] }}, got {table!r}")
    try:
        from ganzoo import config

        config.check_table(table, RANGE_KEYS, where)
    except ConfigError as err:
        raise _error(str(err)) from None
    target = "lr_g" if key == "lr" else ("betas" if key == "beta1" else key)
    whole = isinstance(hp.get(target), int) and not isinstance(hp.get(target), bool)

    def check(value: Any) -> Any:
        if key == "beta1":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise _error(f"{where}: beta1 must be a number in [0, 1) (Adam's β1), got {value!r}")
            return float(value)
        try:
            resolved = variant_cls.resolve_hparams(hparam_updates(key, value, hp))
        except ConfigError as err:
            raise _error(f"{where}: {err}") from None
        return resolved[target]

    if "choices" in table:
        extra = sorted(set(table) - {"choices"})
        if extra:
            raise _error(f"{where}: choices take no {', '.join(extra)} (a range is low/high/scale)")
        choices = table["choices"]
        if not choices:
            raise _error(f"{where}: choices must not be empty")
        if any(not isinstance(c, (bool, int, float, str)) for c in choices):
            raise _error(f"{where}: choices must be numbers, strings or true/false, got {choices!r}")
        values = tuple(check(c) for c in choices)
        if len(set(map(canonical_json, values))) < len(values):
            raise _error(f"{where}: choices repeat a value: {choices!r}")
        return Dist(key, "choice", choices=values)
    missing = [k for k in ("low", "high") if k not in table]
    if missing:
        raise _error(f"{where}: a range needs low and high (missing {', '.join(missing)}), or give choices = [..]")
    low, high, scale = table["low"], table["high"], table.get("scale", "linear")
    if not low < high:
        raise _error(f"{where}: empty range: low ({low:g}) must be below high ({high:g}); "
                     f"for one value, set it in [overrides.{name}] hparams")
    if scale == "log" and low <= 0:
        raise _error(f"{where}: a log scale needs a range above 0, got low = {low:g} "
                     f"(use scale = \"linear\", or a low > 0)")
    if whole and not (float(low).is_integer() and float(high).is_integer()):
        raise _error(f"{where}: {key} is a whole number: low and high must be whole numbers, got {low!r}, {high!r}")
    check(int(low) if whole else low)
    check(int(high) if whole else high)
    return Dist(key, "int" if whole else "float", low=low, high=high, log=scale == "log")


def valid_keys(variant_cls) -> List[str]:
    """The keys a space may hold for ``variant_cls``: its hyperparameters and the shorthands."""
    hp = variant_cls.default_hparams()
    keys = [k for k in hp if k not in ("optimizer",)]
    extra = ["lr"] + (["beta1"] if uses_betas(hp["optimizer"]) else [])
    return sorted(set(keys) | set(extra))


# ---- the [search] table -----------------------------------------------------------------
@dataclass
class Search:
    """A suite's parsed ``[search]`` table (see the module docstring)."""

    trials: int
    seed: int = 0
    include_defaults: bool = True
    best: int = 1
    datasets: Optional[List[str]] = None  # None: every dataset of the suite
    baseline: Optional[str] = None  # a results folder, resolved against the suite file's folder
    space: Dict[str, Any] = field(default_factory=dict)  # key -> raw table, every variant
    spaces: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # variant -> key -> raw table or "fixed"
    note: str = ""

    def variant_space(self, variant: str) -> Dict[str, Dist]:
        """``variant``'s distributions by key (sorted): [search.space] with [search.spaces.V] over it."""
        from ganzoo.registry import VARIANTS

        cls = VARIANTS.get(variant)
        own = self.spaces.get(variant, {})
        out: Dict[str, Dist] = {}
        betas = uses_betas(cls.default_hparams()["optimizer"])
        for key, table in self.space.items():
            if key in own:
                continue
            if key == "beta1" and not betas:
                continue  # RMSprop has no β1: the variant keeps its optimizer (module docstring)
            out[key] = parse_dist(key, table, cls, f"[search.space] {key} (for {variant})")
        for key, table in own.items():
            if table == FIXED:
                continue
            out[key] = parse_dist(key, table, cls, f"[search.spaces.{variant}] {key}")
        if not out:
            raise _error(f"[search]: {variant} has nothing to search (every key is fixed or not its own)")
        return dict(sorted(out.items()))


def parse_search(table: Any, *, variants: Sequence[str], datasets: Mapping[str, Optional[str]],
                 seeds: Iterable[int], base_dir=None, where: str = "suite") -> Search:
    """Check a suite's ``[search]`` table: keys, ranges and choices for every variant in
    ``variants`` (the suite's), ``datasets`` the suite's datasets (name -> metric: a searched
    dataset needs one, to rank its trials), ``seeds`` every re-run seed the suite names (none
    may be the search's seed)."""
    from ganzoo.registry import VARIANTS

    here = f"{where} [search]"
    if not isinstance(table, dict):
        raise _error(f"{here} must be a table, got {table!r}")
    try:
        from ganzoo import config

        config.check_table(table, SEARCH_KEYS, here)
    except ConfigError as err:
        raise _error(str(err)) from None
    if "trials" not in table:
        raise _error(f"{here}: `trials` is required (the number of settings drawn per variant and dataset)")
    search = Search(trials=table["trials"], seed=table.get("seed", 0),
                    include_defaults=table.get("include_defaults", True), best=table.get("best", 1),
                    note=table.get("note", ""))
    if search.best > search.trials:
        raise _error(f"{here}: best ({search.best}) cannot exceed trials ({search.trials})")
    if "datasets" in table:
        names = list(dict.fromkeys([table["datasets"]] if isinstance(table["datasets"], str) else table["datasets"]))
        for d in names:
            if d not in datasets:
                raise _error(f"{here}: datasets: the suite has no dataset {d!r}; its datasets: {', '.join(datasets)}")
        search.datasets = names
    for d in search.datasets if search.datasets is not None else list(datasets):
        if not datasets[d]:
            raise _error(f"{where} [datasets.{d}]: a searched dataset needs a `metric`: the trials are "
                         f"ranked by it")
    if "baseline" in table:
        import os
        from pathlib import Path

        base = Path(base_dir) if base_dir is not None else Path.cwd()
        search.baseline = os.path.normpath(base / os.path.expanduser(table["baseline"]))
    space = table.get("space", {})
    spaces = table.get("spaces", {})
    for key in space:
        if not isinstance(space[key], dict):
            raise _error(f"{here} [search.space] {key}: must be a table {{ low, high, scale }} or "
                         f"{{ choices }}, got {space[key]!r}")
    if not isinstance(spaces, dict):
        raise _error(f"{here} [search.spaces] must be a table of variant names, got {spaces!r}")
    for vname, own in spaces.items():
        if vname not in VARIANTS:
            raise _error(f"{here} [search.spaces.{vname}]: {VARIANTS.unknown_message(vname)}")
        if not isinstance(own, dict):
            raise _error(f"{here} [search.spaces.{vname}] must be a table, got {own!r}")
        for key, value in own.items():
            if value == FIXED and key not in space:
                raise _error(f"{here} [search.spaces.{vname}] {key} = \"fixed\": [search.space] has no "
                             f"{key!r} to fix; its keys: {', '.join(space) or 'none'}")
            if isinstance(value, str) and value != FIXED:
                raise _error(f"{here} [search.spaces.{vname}] {key}: a string here can only be "
                             f"\"fixed\", got {value!r}")
    search.space, search.spaces = dict(space), {v: dict(t) for v, t in spaces.items()}
    if not space and not any(v != FIXED for t in spaces.values() for v in t.values()):
        raise _error(f"{here}: nothing to search: give [search.space] or [search.spaces.VARIANT] keys")
    for v in variants:  # every space fails now, not in a worker an hour later
        try:
            search.variant_space(v)
        except ConfigError as err:
            raise _error(f"{where} {err}") from None
    for s in seeds:
        if s == search.seed:
            raise _error(f"{where}: seed {s} is the search's seed ([search] seed = {search.seed}): the best "
                         f"settings must be re-run on other seeds than the one that picked them "
                         f"(the winner's curse); drop {s} from the suite's seeds, or change [search] seed")
    return search


# ---- drawing the trials -----------------------------------------------------------------------
def sampler_seed(seed: int, variant: str) -> int:
    """The seed of ``variant``'s study: a hash of the search's seed and the variant's name."""
    return int(json_hash(["ganzoo-search", seed, variant])[:8], 16)


def draw(search: Search, variant: str, n: Optional[int] = None) -> List[Dict[str, Any]]:
    """The settings of ``variant``'s trials, in order (``n``, default ``search.trials``):
    ``{}`` for trial 0 when ``include_defaults``, else a dict of the drawn keys' values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = search.trials if n is None else n
    dists = {k: d.optuna() for k, d in search.variant_space(variant).items()}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=sampler_seed(search.seed, variant)))
    out: List[Dict[str, Any]] = [{}] if search.include_defaults and n > 0 else []
    asked = 0
    while len(out) < n:  # each setting once: two equal settings would be one run id, one record
        drawn = study.ask(dists).params
        params = {k: _plain(drawn[k]) for k in dists}
        asked += 1
        if params not in out:
            out.append(params)
        elif asked > 100 * n:
            raise SearchError(f"[search] the space of {variant} holds fewer distinct settings than "
                              f"trials = {n} (after {asked} draws); lower `trials` or widen the space")
    return out


def _plain(x: Any) -> Any:
    """A drawn value as plain JSON (Optuna hands back numpy scalars for some choices)."""
    if isinstance(x, np.generic):
        return x.item()
    return x


def apply(variant_cls, hparams: Mapping[str, Any], params: Mapping[str, Any]) -> Dict[str, Any]:
    """A trial's full hyperparameters: ``params`` (drawn keys) over the cell's ``hparams``,
    resolved by the variant (tuples as lists, as the spec stores them)."""
    updates: Dict[str, Any] = {}
    for key, value in params.items():
        updates.update(hparam_updates(key, value, hparams))
    hp = variant_cls.resolve_hparams({**hparams, **updates})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()}


# ---- the sweep's run specs ---------------------------------------------------------------------
def cell_of(spec) -> str:
    """What one search covers: a spec's settings but its seed and hyperparameters (dataset,
    variant, arch, batch, steps, ...), as a short hash."""
    return json_hash({k: v for k, v in spec.hashed().items() if k not in ("seed", "hparams")})[:10]


def with_settings(spec, *, seed: int, hparams: Dict[str, Any], meta: Dict[str, Any]):
    """``spec`` on ``seed`` with ``hparams``, marked with its place in the search (``meta``:
    stage, cell, trial, drawn params; not part of the run id), its run id recomputed."""
    train = dataclasses.replace(spec.train, seed=seed, hparams=hparams)
    return dataclasses.replace(spec, train=train, run_id="", search=meta)


def trial_specs(base_specs: Sequence[Any], search: Search) -> List[Any]:
    """Every trial of every cell, trial-major (trial 0 of every cell first), so that a sweep
    stopped by its time budget has given every variant about the same number of trials."""
    from ganzoo.registry import VARIANTS

    cells: Dict[str, Any] = {}
    for spec in base_specs:
        if search.datasets is None or spec.dataset in search.datasets:
            cells.setdefault(cell_of(spec), spec)
    draws: Dict[str, List[Dict[str, Any]]] = {}
    out = []
    for i in range(search.trials):
        for cell, spec in cells.items():
            if spec.variant not in draws:  # drawn once per variant (the same draws on every dataset)
                draws[spec.variant] = draw(search, spec.variant)
            params = draws[spec.variant][i]
            hp = apply(VARIANTS.get(spec.variant), spec.hparams, params)
            out.append(with_settings(spec, seed=search.seed, hparams=hp,
                                     meta={"stage": TRIAL, "cell": cell, "trial": i, "params": params}))
    return out


@dataclass
class TrialResult:
    """One stored trial: its index, drawn keys, full hyperparameters and final value (None:
    diverged, failed or not measured)."""

    trial: int
    params: Dict[str, Any]
    hparams: Dict[str, Any]
    value: Optional[float]
    run_id: str = ""
    status: str = ""


def trial_results(records: Iterable[Mapping[str, Any]], cell: str) -> List[TrialResult]:
    """The stored trials of ``cell`` (records as stored: dicts), by trial index."""
    out: Dict[int, TrialResult] = {}
    for rec in records:
        spec = rec.get("spec") or {}
        meta = spec.get("search") or {}
        if meta.get("stage") != TRIAL or meta.get("cell") != cell:
            continue
        out[meta["trial"]] = TrialResult(trial=meta["trial"], params=dict(meta.get("params") or {}),
                                         hparams=dict(spec.get("hparams") or {}),
                                         value=final_value(rec), run_id=rec.get("run_id", ""),
                                         status=rec.get("status", ""))
    return [out[i] for i in sorted(out)]


def final_value(rec: Mapping[str, Any]) -> Optional[float]:
    """A run's final value of its dataset's metric; None unless it finished ok with a finite one."""
    metric = (rec.get("spec") or {}).get("metric")
    v = (rec.get("final") or {}).get(metric) if metric else None
    if rec.get("status") != "ok" or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def top_k(trials: Sequence[TrialResult], k: int, lower_better: bool) -> List[TrialResult]:
    """The ``k`` best trials with a value, best first; ties go to the earlier trial; a setting
    drawn twice counts once."""
    scored = [t for t in trials if t.value is not None]
    scored.sort(key=lambda t: ((t.value if lower_better else -t.value), t.trial))
    out, seen = [], set()
    for t in scored:
        key = canonical_json(t.hparams)
        if key not in seen:
            seen.add(key)
            out.append(t)
        if len(out) == k:
            break
    return out


def best_specs(base_specs: Sequence[Any], search: Search, records: Sequence[Mapping[str, Any]]) -> List[Any]:
    """The re-runs of the best ``search.best`` settings of every cell whose trials are all stored,
    on each base spec's seed (the suite's seeds), seed-major."""
    from ganzoo.bench.stability import lower_is_better

    trials_by_cell: Dict[str, List[TrialResult]] = {}
    out = []
    for spec in base_specs:
        if search.datasets is not None and spec.dataset not in search.datasets:
            continue
        if spec.seed == search.seed:
            raise _error(f"--seeds: seed {spec.seed} is the search's seed ([search] seed = {search.seed}); the "
                         f"best settings are re-run on other seeds")
        cell = cell_of(spec)
        if cell not in trials_by_cell:
            trials_by_cell[cell] = trial_results(records, cell)
        done = {t.trial: t for t in trials_by_cell[cell]}
        if any(i not in done for i in range(search.trials)):
            continue  # the cell's trials are not all stored yet
        best = top_k([done[i] for i in range(search.trials)], search.best,
                     lower_is_better(spec.metric) if spec.metric else False)
        for rank, t in enumerate(best, 1):
            out.append(with_settings(spec, seed=spec.seed, hparams=t.hparams,
                                     meta={"stage": BEST, "cell": cell, "trial": t.trial, "rank": rank,
                                           "params": t.params}))
    return out


def check_store(trials: Sequence[Any], records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a folder whose stored trials are other settings than the ones this plan draws
    (a changed [search] table, or another sampler release): one search per results folder."""
    planned = {(t.search["cell"], t.search["trial"]): t.run_id for t in trials}
    for rec in records:
        meta = (rec.get("spec") or {}).get("search") or {}
        key = (meta.get("cell"), meta.get("trial"))
        if meta.get("stage") == TRIAL and key in planned and planned[key] != rec.get("run_id"):
            raise ConfigError(
                f"this results folder holds another search: trial {key[1]} of "
                f"{rec.get('variant')} on {rec.get('dataset')} was {rec.get('run_id')} with "
                f"{meta.get('params')}, the suite now draws {planned[key]} (a changed [search] table or "
                f"sampler release); write this search to a new --out folder")


def sweep_specs(search: Search, base_specs: Sequence[Any], records: Sequence[Mapping[str, Any]]) -> List[Any]:
    """What a search runs, as the store now stands: every trial (drawn up front), then the
    re-runs of the best settings of each cell whose trials are all in ``records`` (the store's
    latest records). ``base_specs``: the suite's expanded matrix (its seeds are the re-run seeds)."""
    trials = trial_specs(base_specs, search)
    check_store(trials, records)
    return trials + best_specs(base_specs, search, records)


# ---- best quality against the budget ------------------------------------------------------------
@dataclass
class BudgetCurve:
    """Best value among b trials (b = 1..T) over every ordering of the T trials: mean and band."""

    budget: np.ndarray  # 1..T
    mean: np.ndarray
    lo: np.ndarray  # (1 - level)/2 quantile
    hi: np.ndarray  # 1 - (1 - level)/2 quantile
    level: float = LEVEL


def best_of_budget(values: Sequence[float], higher_better: bool, level: float = LEVEL) -> BudgetCurve:
    """The distribution of the best of b values drawn without replacement from ``values``,
    for every b: exact, from the order statistics (no resampling).

    With the values sorted from worst to best, v(1) .. v(T), the best of a random b-subset is
    v(j) with probability C(j-1, b-1) / C(T, b), and it is at most v(j) with probability
    C(j, b) / C(T, b). The band is the inverse of that distribution at (1 - level)/2 and
    1 - (1 - level)/2 (the lowest value whose cumulative probability reaches each).
    A missing value (a failed trial) must be filled by the caller (the report: the worst
    value seen on the dataset).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError("best_of_budget needs finite values (fill failed trials first)")
    good = np.sort(v if higher_better else -v)  # worst .. best
    t = len(good)
    means, los, his = [], [], []
    for b in range(1, t + 1):
        total = math.comb(t, b)
        j = np.arange(1, t + 1)
        p = np.array([math.comb(i - 1, b - 1) for i in j], dtype=float) / total
        cdf = np.array([math.comb(i, b) for i in j], dtype=float) / total
        means.append(float(np.dot(p, good)))
        q_lo, q_hi = (1 - level) / 2, 1 - (1 - level) / 2
        los.append(float(good[np.argmax(cdf >= q_lo - 1e-12)]))
        his.append(float(good[np.argmax(cdf >= q_hi - 1e-12)]))
    sign = 1.0 if higher_better else -1.0
    mean, lo, hi = sign * np.array(means), sign * np.array(los), sign * np.array(his)
    if not higher_better:
        lo, hi = hi, lo  # in the metric's own units: lo below hi
    return BudgetCurve(budget=np.arange(1, t + 1), mean=mean, lo=lo, hi=hi, level=level)
