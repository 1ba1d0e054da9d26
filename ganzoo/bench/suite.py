"""Benchmark suites: strict TOML files that expand to a matrix of :class:`RunSpec`.

A suite names its datasets, variants, architectures, seeds and schedules; the
matrix is datasets × variants × seeds × batch sizes × precisions × perf modes.
Every spec carries a ``run_id``: the hash of its fully resolved configuration
(the variant's hyperparameters after defaults, the actual device, the data split
actually used, ganzoo's version), so a store can tell finished runs apart and a
changed setting is a new run.

File format (every key optional unless marked; unknown keys are errors)::

    name = "quick"                 # default: the file's stem
    description = "..."            # one line, shown in the report
    profile = "..."                # what kind of numbers these are (shown in the report)
    seeds = [0, 1, 2]              # required
    variants = "all"               # or a list of names; "all" = every registered variant
                                   #   that fits each dataset (conditional ones need labels)
    exclude_variants = []
    device = "auto"                # auto | cpu | cuda | cuda:N
    workers = 1                    # parallel worker processes
    threads_per_worker = 0         # torch threads per worker (0: torch's default)
    max_minutes = 0                # stop launching runs after this many minutes (0: no limit)
    run_timeout_minutes = 0        # a run still going after this long is ended as failed
                                   #   (timeout) and the suite goes on (0: no limit)
    quality = true                 # false: throughput only, no evaluation

    [train]                        # defaults for every dataset, over each dataset's protocol
                                   #   (ganzoo.protocols: nets, z, batch, learning-rate rule)
    steps = 1000                   # G steps
    batch_size = 64                # an int, or a list (a matrix axis)
    precision = "fp32"             # a string or a list (axis): fp32 | tf32 | bf16 (ganzoo.precisions)
    perf = "eager"                 # a string or a list (axis)
    z_dim = 100
    log_every = 50
    eval_every = 250               # 0: evaluate at the end only
    checkpoint_every = 0           # G steps between a run's full checkpoints in DIR/partial/:
                                   #   a killed run resumes from the last one (0: restarts)
    g_ema = 0.0                    # > 0: evaluate an EMA of G's weights with this decay

    [eval]
    samples = 2000                 # generated samples per curve point
    final_samples = 5000           # generated samples for the final numbers
    sample_grid = 64               # samples kept for the report's figures
    kid_subsets = 100              # KID subsets (torch-fidelity's default: 100)

    [datasets.ring8]               # required: at least one dataset; keys of [train] and
    metric = "modes"               #   [eval] may be overridden here
    threshold = 8                  # time-to-quality / success threshold on `metric`
    optional = false               # true: skip (with a note) when the data is missing
    split = "train"                # default: the loader's default
    data_root = ["a", "b"]         # candidates, relative to this file; first that loads
    options = { n = 50000 }        # loader options
    arch = "mlp"                   # or a list (an axis); default: the dataset protocol's,
                                   #   else the variant's preferred arch for the data kind
    learning_rates = "protocol"    # or "paper": every variant at its own paper's rates,
                                   #   not the dataset protocol's rule
    seeds = [0]                    # this dataset's seeds (default: the suite's)
    variants = ["nsgan", "wgan"]   # this dataset's variants, "all" (default: the suite's);
                                   #   --variants on the command line narrows this list
                                   #   (it replaces the suite-level one)
    note = "..."                   # why this dataset runs what it runs (shown in the report)
    [datasets.ring8.overrides.nsgan]   # per-variant settings on this dataset only, merged
    hparams = { lr_g = 1e-3 }          #   over [overrides.nsgan]

    [on_cuda]                      # applied over the rest when the device resolves to CUDA:
    profile = "..."                #   the papers' longer schedules where a GPU is present
    workers = 1                    #   (keys: profile, workers, threads_per_worker,
    [on_cuda.train]                #   max_minutes, [train], [eval], and per dataset the
    steps = 20000                  #   [train]/[eval] keys and note; datasets named here
    [on_cuda.datasets.ring8]       #   must be the suite's)
    steps = 25000

    [ray]                          # resources per run under `--executor ray`
    num_cpus = 1                   #   (default: threads_per_worker, at least 1)
    num_gpus = 1                   #   (default: 1 where the cluster has GPUs, else 0)

    [overrides.wgan-gp]            # per-variant settings
    hparams = { n_critic = 5 }
    arch = "mlp"                   # or a list: this variant runs on each

    [search]                       # an equal-budget hyperparameter search per variant instead of
    trials = 8                     #   one setting each (ganzoo.bench.search: trials, seed, best k,
    [search.space]                 #   space, spaces, datasets, baseline); `seeds` are then the
    lr = { low = 1e-5, high = 1e-2, scale = "log" }   # re-run seeds of the best settings
"""
from __future__ import annotations

import copy
import itertools
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import ganzoo
from ganzoo import config
from ganzoo.config import Setting, setting
from ganzoo.errors import ConfigError, MissingFileError
from ganzoo.files import json_hash
from ganzoo.protocols import LEARNING_RATES, protocol_for
from ganzoo.trainer import TrainConfig

SUITE_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


class SuiteError(ConfigError):
    """A suite file (or a command-line override) is invalid; the message says how."""


# ---- the schema --------------------------------------------------------------------
# Every table is checked by ganzoo.config, with the same rules as TrainConfig and the variant
# hyperparameters. [train] is TrainConfig's own declarations (batch_size, precision and perf may
# be lists: axes of the run matrix); its defaults are TrainConfig's, except the one below.
S = Setting
MINUTES = S(float, minimum=0)  # 0: no limit
SEEDS = S(int, minimum=0, axis=True)  # each element of a `seeds` list (the key itself takes a list)
SUITE_TRAIN_KEYS = ("steps", "batch_size", "precision", "perf", "z_dim", "log_every", "eval_every",
                    "checkpoint_every", "g_ema")
TRAIN_KEYS = config.schema(TrainConfig, only=SUITE_TRAIN_KEYS, suite=True)
# A suite pins the perf mode to eager unless it asks for another: `auto` would pick per
# machine, so the same suite would time (and record, in the run ids) different modes.
TRAIN_DEFAULTS: Dict[str, Any] = {**config.defaults(TrainConfig, only=SUITE_TRAIN_KEYS), "perf": "eager"}


@dataclass
class EvalSettings:
    """A suite's ``[eval]`` table: how many samples each evaluation draws, in which extra spaces."""

    samples: int = setting(2000, kind=int, minimum=1)  # generated samples per curve point
    final_samples: int = setting(5000, kind=int, minimum=1)  # generated samples for the final numbers
    sample_grid: int = setting(64, kind=int, minimum=1)  # samples kept for the report's figures
    kid_subsets: int = setting(100, kind=int, minimum=1)  # KID subsets (torch-fidelity's default: 100)
    # feature spaces beside the dataset's own, e.g. ["dinov2-vit-l-14"] (ganzoo.metrics.spaces)
    extractors: List[str] = setting(default_factory=list, kind=list, rule=lambda v: _spaces_problem(v))


def _spaces_problem(value: Any) -> Optional[str]:
    from ganzoo.metrics.spaces import list_problem  # names only; read when a suite is checked

    return list_problem(value)


EVAL_KEYS = config.schema(EvalSettings)
EVAL_DEFAULTS: Dict[str, Any] = config.defaults(EvalSettings)

TOP_KEYS = {
    "name": S(str), "description": S(str), "profile": S(str), "seeds": S(list),
    "variants": S((str, list)), "exclude_variants": S(list), "device": S(str),
    "workers": S(int, minimum=1), "threads_per_worker": S(int, minimum=0), "max_minutes": MINUTES,
    "run_timeout_minutes": MINUTES, "quality": S(bool), "train": S(dict), "eval": S(dict),
    "datasets": S(dict), "overrides": S(dict), "on_cuda": S(dict), "ray": S(dict),
    "search": S(dict),  # an equal-budget search (ganzoo.bench.search)
}
RAY_KEYS = {"num_cpus": S(float, minimum=0), "num_gpus": S(float, minimum=0)}  # per task (ray_executor)
DATASET_KEYS = {**TRAIN_KEYS, **EVAL_KEYS, "metric": S(str), "threshold": S(float), "optional": S(bool),
                "split": S(str), "data_root": S((str, list)), "options": S(dict), "arch": S(str, axis=True),
                "seeds": S(list), "variants": S((str, list)), "overrides": S(dict), "download": S(bool),
                "learning_rates": S(str, choices=lambda: LEARNING_RATES), "note": S(str)}
VARIANT_KEYS = {"hparams": S(dict), "arch": S(str, axis=True), "seeds": S(list)}
ON_CUDA_KEYS = {"profile": S(str), "workers": S(int, minimum=1), "threads_per_worker": S(int, minimum=0),
                "max_minutes": MINUTES, "run_timeout_minutes": MINUTES,
                "train": S(dict), "eval": S(dict), "datasets": S(dict), "search": S(dict)}
ON_CUDA_DATASET_KEYS = {**TRAIN_KEYS, **EVAL_KEYS, "note": S(str)}  # a schedule, not a new matrix


def _check_table(table: Dict[str, Any], schema: Dict[str, Setting], where: str) -> Dict[str, Any]:
    return config.check_table(table, schema, where, error=SuiteError)


def _check_named_table(registry, name: str, table: Any, schema: Dict[str, Setting], where: str) -> None:
    """One ``[datasets.NAME]`` or ``[overrides.NAME]`` table: NAME registered, only ``schema``'s keys."""
    if name not in registry:
        raise SuiteError(f"{where}: {registry.unknown_message(name)}")
    if not isinstance(table, dict):
        raise SuiteError(f"{where} must be a table, got {table!r}")
    _check_table(table, schema, where)


def _check(value: Any, rule: Setting, what: str) -> Any:
    try:
        return config.check_value(value, rule, what)
    except ConfigError as err:
        raise SuiteError(str(err)) from None


def _axis(value: Any, what: str, kind: type) -> List[Any]:
    """A scalar or a non-empty list of scalars of ``kind`` -> a list."""
    return _check(value, S(kind, axis=True), what)


# ---- the suite -----------------------------------------------------------------------
@dataclass
class DatasetPlan:
    """One dataset of a suite, with its settings merged over the suite's defaults."""

    name: str
    train: Dict[str, Any]
    eval: Dict[str, Any]
    metric: Optional[str] = None
    threshold: Optional[float] = None
    optional: bool = False
    split: Optional[str] = None
    data_root: List[str] = field(default_factory=list)
    options: Dict[str, Any] = field(default_factory=dict)
    arch: Optional[List[str]] = None  # an axis; None: each variant's preferred arch
    seeds: Optional[List[int]] = None  # None: the suite's seeds
    variants: Any = None  # None: the suite's; "all" or a list of names
    overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # variant -> hparams/arch
    note: str = ""
    # "protocol": the dataset protocol's learning-rate rule applies (ganzoo.protocols);
    # "paper": every variant trains at its own paper's rates
    learning_rates: str = "protocol"
    download: bool = False  # fetch the data where the bench starts when it is missing (bench.prepare)

    def variant_settings(self, suite_settings: Dict[str, Dict[str, Any]], variant: str) -> Dict[str, Any]:
        """``[overrides.VARIANT]`` with this dataset's ``[datasets.D.overrides.VARIANT]`` over it."""
        base, mine = suite_settings.get(variant, {}), self.overrides.get(variant, {})
        merged = {**base, **mine}
        merged["hparams"] = {**base.get("hparams", {}), **mine.get("hparams", {})}
        return merged


@dataclass
class Suite:
    """A parsed suite file. :func:`expand` turns it into run specs."""

    name: str
    path: Optional[str]
    seeds: List[int]
    datasets: List[DatasetPlan]
    variants: Any = "all"  # "all" or a list of names
    exclude_variants: List[str] = field(default_factory=list)
    variant_settings: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    profile: str = ""
    device: str = "auto"
    workers: int = 1
    threads_per_worker: int = 0
    max_minutes: float = 0.0
    run_timeout_minutes: float = 0.0
    quality: bool = True
    ray: Dict[str, float] = field(default_factory=dict)  # resources per task under --executor ray
    raw: Dict[str, Any] = field(default_factory=dict)  # the file as parsed (for the record)
    search: Optional[Any] = None  # a [search] table: ganzoo.bench.search.Search


def find_suite(name_or_path: str | os.PathLike) -> Path:
    """A suite file: an existing path, else ``benchmarks/<name>.toml`` (cwd, then the checkout)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.suffix != ".toml" and len(p.parts) == 1:
        for base in (Path.cwd() / "benchmarks", SUITE_DIR):
            cand = base / f"{p.name}.toml"
            if cand.is_file():
                return cand
    known = sorted({c.stem for base in (Path.cwd() / "benchmarks", SUITE_DIR) if base.is_dir()
                    for c in base.glob("*.toml")})
    raise MissingFileError(f"no suite {str(name_or_path)!r}: not a file, and not one of the suites in "
                            f"benchmarks/ ({', '.join(known) or 'none found'})")


def load_suite(name_or_path, device: Optional[str] = None) -> Suite:
    """Read and check a suite file (see the module docstring for the format); ``device`` (the
    command line's, else the suite's) decides whether its ``[on_cuda]`` schedule applies."""
    path = find_suite(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: not valid TOML: {err}") from None
    return parse_suite(raw, name=path.stem, path=path, device=device)


def parse_suite(raw: Dict[str, Any], name: str = "suite", path: Optional[Path] = None,
                device: Optional[str] = None) -> Suite:
    """Check a suite given as a dict (as TOML parses it). Names are checked against the registries.

    ``[on_cuda]`` is checked always and merged over the suite when ``device`` (default: the
    suite's own) resolves to a CUDA device.
    """
    from ganzoo.registry import ARCHS, DATASETS, VARIANTS

    where = str(path) if path else name
    raw = copy.deepcopy(raw)
    body = dict(raw)
    _check_table(body, TOP_KEYS, where)
    on_cuda = body.pop("on_cuda", None)
    if on_cuda is not None:
        _check_on_cuda(on_cuda, body.get("datasets") or {}, f"{where} [on_cuda]")
        if resolve_device(device or body.get("device", "auto")).startswith("cuda"):
            body = _merged(body, on_cuda)
            raw = {**copy.deepcopy(body), "on_cuda": on_cuda, "applied": "on_cuda"}
    settings: Dict[str, Any] = body.get("overrides", {})

    seeds = body.get("seeds")
    if seeds is None:
        raise SuiteError(f"{where}: `seeds` is required (a list of integers, e.g. [0, 1, 2])")
    seeds = _check(seeds, SEEDS, f"{where}: seeds")

    _check_table(body.get("train", {}), TRAIN_KEYS, f"{where} [train]")
    ev = dict(EVAL_DEFAULTS)
    _check_table(body.get("eval", {}), EVAL_KEYS, f"{where} [eval]")
    ev.update(body.get("eval", {}))

    datasets_raw = body.get("datasets")
    if not datasets_raw:
        raise SuiteError(f"{where}: at least one [datasets.NAME] table is required; "
                         f"valid datasets: {', '.join(DATASETS)}")
    datasets = []
    for dname, table in datasets_raw.items():
        _check_named_table(DATASETS, dname, table, DATASET_KEYS, f"{where} [datasets.{dname}]")
        # TrainConfig's defaults < the dataset's protocol < the suite's [train] < the dataset table
        d_train = {**TRAIN_DEFAULTS, **protocol_for(dname).train_settings(), **body.get("train", {}),
                   **{k: v for k, v in table.items() if k in TRAIN_KEYS}}
        d_eval = {**ev, **{k: v for k, v in table.items() if k in EVAL_KEYS}}
        _check_schedule(d_train, d_eval, f"{where} [datasets.{dname}]")
        roots = table.get("data_root", [])
        roots = _check(roots, S(str, axis=True), f"{where} [datasets.{dname}]: data_root") if roots else []  # []: none
        base = path.parent if path else Path.cwd()
        roots = [os.path.normpath(base / os.path.expandvars(os.path.expanduser(r))) for r in roots
                 if os.path.expandvars(r).strip() and "$" not in os.path.expandvars(r)]
        arch = table.get("arch")
        if arch is not None:
            arch = _axis(arch, f"{where} [datasets.{dname}]: arch", str)
            for a in arch:
                if a not in ARCHS:
                    raise SuiteError(f"{where} [datasets.{dname}]: {ARCHS.unknown_message(a)}")
        threshold = table.get("threshold")
        if threshold is not None and table.get("metric") is None:
            raise SuiteError(f"{where} [datasets.{dname}]: a threshold needs the `metric` it applies to")
        d_seeds = table.get("seeds")
        if d_seeds is not None:
            d_seeds = _check(d_seeds, SEEDS, f"{where} [datasets.{dname}]: seeds")
        d_variants = table.get("variants")
        if d_variants is not None:
            d_variants = _variant_list(d_variants, VARIANTS, f"{where} [datasets.{dname}]")
        d_overrides = table.get("overrides", {})
        _check_overrides(d_overrides, VARIANTS, ARCHS, f"{where} [datasets.{dname}.overrides")
        datasets.append(DatasetPlan(
            name=dname, train=d_train, eval=d_eval, metric=table.get("metric"),
            threshold=None if threshold is None else float(threshold),
            optional=table.get("optional", False), split=table.get("split"),
            data_root=roots, options=table.get("options", {}), arch=arch, seeds=d_seeds,
            variants=d_variants, overrides=d_overrides, note=table.get("note", ""),
            learning_rates=table.get("learning_rates", "protocol"), download=table.get("download", False)))

    variants = _variant_list(body.get("variants", "all"), VARIANTS, where)
    exclude = body.get("exclude_variants", [])
    for v in exclude:
        if v not in VARIANTS:
            raise SuiteError(f"{where}: exclude_variants: {VARIANTS.unknown_message(v)}")

    _check_overrides(settings, VARIANTS, ARCHS, f"{where} [overrides")

    workers = body.get("workers", 1)  # checked with the top-level table (as are the minutes)
    threads = body.get("threads_per_worker", 0)
    max_minutes = float(body.get("max_minutes", 0))
    run_timeout = float(body.get("run_timeout_minutes", 0))
    ray = _check_table(body.get("ray", {}), RAY_KEYS, f"{where} [ray]")
    search = None
    if "search" not in body and (on_cuda or {}).get("search"):
        raise SuiteError(f"{where} [on_cuda.search]: the suite has no [search] table for it to change")
    if "search" in body:  # an equal-budget search: its spaces checked for every variant it may run
        from ganzoo.bench.search import parse_search

        in_scope = set(VARIANTS.names() if variants == "all" else variants)
        for d in datasets:
            in_scope |= set(VARIANTS.names() if d.variants == "all" else d.variants or [])
        all_seeds = [*seeds, *(s for d in datasets for s in d.seeds or []),
                     *(s for t in [settings, *(d.overrides for d in datasets)] for v in t.values()
                       for s in v.get("seeds", []))]
        checks = dict(variants=sorted(in_scope - set(exclude)), datasets={d.name: d.metric for d in datasets},
                      seeds=all_seeds, base_dir=path.parent if path else None)
        try:
            search = parse_search(body["search"], where=where, **checks)
            if (on_cuda or {}).get("search") and raw.get("applied") != "on_cuda":  # checked off CUDA too
                parse_search(_merged(body["search"], on_cuda["search"]), where=f"{where} [on_cuda]", **checks)
        except ConfigError as err:
            raise SuiteError(str(err)) from None
        if search.datasets is not None:  # the suite's other datasets are not run (e.g. MNIST off CUDA)
            datasets = [d for d in datasets if d.name in search.datasets]
    return Suite(name=body.get("name", name), path=str(path) if path else None, seeds=seeds,
                 datasets=datasets, variants=variants, exclude_variants=list(exclude),
                 variant_settings=settings, description=body.get("description", ""),
                 profile=body.get("profile", ""), device=body.get("device", "auto"),
                 workers=workers, threads_per_worker=threads, max_minutes=max_minutes,
                 run_timeout_minutes=run_timeout, ray=dict(ray),
                 quality=body.get("quality", True), raw=raw, search=search)


def _check_on_cuda(table: Dict[str, Any], datasets: Dict[str, Any], where: str) -> None:
    """``[on_cuda]``: only schedule keys, and only for datasets the suite has."""
    _check_table(table, ON_CUDA_KEYS, where)
    _check_table(table.get("train", {}), TRAIN_KEYS, f"{where} [train]")
    _check_table(table.get("eval", {}), EVAL_KEYS, f"{where} [eval]")
    for dname, sub in table.get("datasets", {}).items():
        if dname not in datasets:
            raise SuiteError(f"{where} [datasets.{dname}]: the suite has no dataset {dname!r}; "
                             f"its datasets: {', '.join(datasets) or 'none'}")
        if not isinstance(sub, dict):
            raise SuiteError(f"{where} [datasets.{dname}] must be a table, got {sub!r}")
        _check_table(sub, ON_CUDA_DATASET_KEYS, f"{where} [datasets.{dname}]")


def _merged(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """``over`` laid over ``base``: tables merged key by key, everything else replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _variant_list(value: Any, variants, where: str) -> Any:
    """``"all"`` or a list of registered variant names."""
    if isinstance(value, str):
        if value != "all":
            raise SuiteError(f"{where}: variants must be \"all\" or a list of names, got {value!r}")
        return value
    value = _axis(value, f"{where}: variants", str)
    for v in value:
        if v not in variants:
            raise SuiteError(f"{where}: {variants.unknown_message(v)}")
    return value


def _check_overrides(settings: Any, variants, archs, where: str) -> None:
    """``[overrides.VARIANT]`` tables (``where`` ends in ``[overrides``; the name closes it)."""
    if not isinstance(settings, dict):
        raise SuiteError(f"{where}] must be a table of variant names, got {settings!r}")
    for vname, table in settings.items():
        here = f"{where}.{vname}]"
        _check_named_table(variants, vname, table, VARIANT_KEYS, here)
        if "seeds" in table:  # this variant's own seeds (e.g. more of the cheap or central ones)
            table["seeds"] = _check(table["seeds"], SEEDS, f"{here}: seeds")
        for a in _axis(table["arch"], f"{here}: arch", str) if "arch" in table else []:
            if a not in archs:
                raise SuiteError(f"{here}: {archs.unknown_message(a)}")
        try:  # unknown hyperparameters fail now, not in a worker an hour later
            variants.get(vname).resolve_hparams(table.get("hparams", {}))
        except ValueError as err:
            raise SuiteError(f"{here}: {err}") from None


def _check_schedule(train: Dict[str, Any], ev: Dict[str, Any], where: str) -> None:
    """A dataset's [train] and [eval] settings, merged over the suite's, and how they combine."""
    _check_table(train, TRAIN_KEYS, where)
    _check_table(ev, EVAL_KEYS, where)
    if train["checkpoint_every"] % train["log_every"]:  # else the read-back steps, and so where a
        # diverged run stops, would depend on it; it must not change the numbers (not in the run id)
        raise SuiteError(f"{where}: checkpoint_every ({train['checkpoint_every']}) must be a multiple of "
                         f"log_every ({train['log_every']})")


# ---- run specs -----------------------------------------------------------------------
# Fields that do not change what a run measures, so they stay out of its run_id.
UNHASHED = ("suite", "threshold", "data_root", "run_id", "checkpoint_every",
            "search")  # a search run's place in its search (stage, trial): its settings are hashed
# Settings added after results were stored, with the value every earlier run had.
HASHED_WHEN_SET: Dict[str, Any] = {"g_ema": 0.0, "extractors": []}


def hashed_fields(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a run spec (as a dict) that its run_id hashes.

    A setting added after results were stored is declared with the value every earlier run
    had (a setting: :data:`HASHED_WHEN_SET`; a hyperparameter: its variant's
    ``hp_added_later``). It is in the hash only when set to something else, so that
    stored runs keep their ids and a bench into an old folder retrains nothing that did not
    use it. The variant's declarations are read when it is registered (a plugin that is not
    installed here hashes all of its hyperparameters).
    """
    out = {k: v for k, v in spec.items() if k not in UNHASHED
           and not (k in HASHED_WHEN_SET and v == HASHED_WHEN_SET[k])}
    if isinstance(out.get("hparams"), dict):
        out["hparams"] = _hashed_hparams(out.get("variant"), out["hparams"])
    return out


def _hashed_hparams(variant: Any, hparams: Dict[str, Any]) -> Dict[str, Any]:
    from ganzoo.registry import VARIANTS

    added = VARIANTS.get(variant).hparams_added_later() if variant in VARIANTS else {}
    return {k: v for k, v in hparams.items() if not (k in added and _same(v, added[k]))}


def _same(stored: Any, neutral: Any) -> bool:
    """A stored value (JSON: tuples are lists) equals the declared one."""
    if isinstance(neutral, tuple):
        neutral = list(neutral)
    if isinstance(stored, tuple):
        stored = list(stored)
    return stored == neutral


# A spec's keys as runs.jsonl stores them (flat, in this order): the run ids hash this layout.
SPEC_KEYS = ("variant", "dataset", "arch", "seed", "steps", "batch_size", "precision", "perf", "z_dim",
             "log_every", "eval_every", "device", "split", "data_options", "hparams", "quality",
             "eval_samples", "final_samples", "sample_grid", "kid_subsets", "metric", "ganzoo_version",
             "suite", "threshold", "data_root", "checkpoint_every", "g_ema", "run_id")
TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))


@dataclass
class RunSpec:
    """One run of the matrix, fully resolved: what to train (variant, dataset, arch), its
    training settings (``train``, the :class:`TrainConfig` the trainer is built from, held
    here rather than copied: ``spec.steps`` reads ``spec.train.steps``), how it is scored and
    where it belongs. ``run_id`` hashes everything that shapes its numbers (its flat form,
    :meth:`to_dict`, is what runs.jsonl stores)."""

    variant: str
    dataset: str
    arch: str
    train: TrainConfig
    split: str
    data_options: Dict[str, Any]
    quality: bool
    eval_samples: int
    final_samples: int
    sample_grid: int
    kid_subsets: int
    metric: Optional[str]
    ganzoo_version: str
    suite: str = ""
    threshold: Optional[float] = None
    data_root: Optional[str] = None
    extractors: List[str] = field(default_factory=list)  # pretrained feature spaces beside the dataset's own
    run_id: str = ""
    # A search's run (ganzoo.bench.search): its stage ("trial" / "best"), cell, trial and drawn
    # settings; not hashed (the settings are, in the hyperparameters); {} for any other run
    search: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.run_id:
            self.run_id = self.compute_id()

    def __getattr__(self, name: str) -> Any:  # the training settings: spec.steps is spec.train.steps
        if name in TRAIN_FIELDS and "train" in self.__dict__:
            return getattr(self.__dict__["train"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def hashed(self) -> Dict[str, Any]:
        return hashed_fields(self.to_dict())

    def compute_id(self) -> str:
        return json_hash(self.hashed())[:16]

    def to_dict(self) -> Dict[str, Any]:
        """The flat spec of runs.jsonl (training settings beside the rest)."""
        flat = {**asdict(self.train), **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "train"}}
        flat["hparams"] = copy.deepcopy(flat["hparams"])
        flat["data_options"] = copy.deepcopy(flat["data_options"])
        out = {k: flat[k] for k in SPEC_KEYS}
        if self.extractors:  # only a run with extra feature spaces carries them (hashed then)
            out["extractors"] = list(self.extractors)
        if self.search:  # only a search's runs carry it: every other stored spec is as it was
            out["search"] = copy.deepcopy(self.search)
        return out

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "RunSpec":
        """A spec from its flat form (a stored record's ``spec``); unknown keys are ignored."""
        train = TrainConfig.from_dict({k: d[k] for k in TRAIN_FIELDS if k in d})
        names = {f.name for f in fields(cls)} - {"train"}
        return cls(train=train, **{k: v for k, v in d.items() if k in names})

    @classmethod
    def flat(cls, **settings: Any) -> "RunSpec":
        """A spec from flat keyword settings (the training ones go into ``train``)."""
        return cls.from_dict(settings)

    @property
    def label(self) -> str:
        extra = []
        if self.precision != "fp32":
            extra.append(self.precision)
        if self.perf != "eager":
            extra.append(self.perf)
        if self.g_ema:
            extra.append(f"ema {self.g_ema:g}")
        tail = f" {'/'.join(extra)}" if extra else ""
        if self.search:  # a search's run: which trial (or which trial's setting, re-run)
            tail += f" · {'trial' if self.search.get('stage') == 'trial' else 'best, trial'} {self.search.get('trial')}"
        return f"{self.variant} · {self.dataset} · seed {self.seed} · b{self.batch_size}{tail}"


@dataclass
class DataProbe:
    """What expansion learns by loading a dataset once: its kind, labels, split and source."""

    name: str
    kind: str
    labelled: bool
    split: str
    shape: Tuple[int, ...]
    size: int
    source: str
    data_root: Optional[str]


@dataclass
class Plan:
    """The expanded matrix, and what was left out and why."""

    suite: Suite
    specs: List[RunSpec]
    skipped: List[str] = field(default_factory=list)  # human-readable notes
    probes: Dict[str, DataProbe] = field(default_factory=dict)
    # a search's matrix (its seeds: the re-run seeds), from which its runs are planned
    # (``specs``: its trials and the re-runs known so far; ganzoo.bench.search.sweep_specs)
    search_base: List[RunSpec] = field(default_factory=list)


def probe_dataset(plan: DatasetPlan, data_root: Optional[str] = None, download: bool = False) -> DataProbe:
    """Load ``plan``'s data once (on the CPU) to learn what it is; raises DataError when missing."""
    from ganzoo.data import DataError, load

    roots: List[Optional[str]] = [data_root] if data_root else [*plan.data_root, None]
    errors = []
    for root in roots:
        try:
            data = load(plan.name, split=plan.split, data_root=root, download=download, **plan.options)
        except DataError as err:
            errors.append(str(err))
            continue
        return DataProbe(name=plan.name, kind=data.kind, labelled=data.labelled, split=data.split,
                         shape=tuple(data.shape), size=len(data), source=data.source, data_root=root)
    raise DataError(errors[-1] if len(errors) == 1 else
                    "\n".join([errors[-1], "Also tried: " + ", ".join(r for r in roots if r)]))


def resolve_device(device: str) -> str:
    from ganzoo.trainer import pick_device

    dev = pick_device(device)
    return str(dev)


def expand(suite: Suite, *, seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None,
           variants: Optional[Sequence[str]] = None, datasets: Optional[Sequence[str]] = None,
           data_root: Optional[str] = None, download: bool = False,
           device: Optional[str] = None) -> Plan:
    """The suite's run matrix, with command-line overrides applied.

    Runs are ordered seed-major (every variant × dataset for seed 0 first), so a
    benchmark stopped by its time budget still covers the whole matrix with fewer seeds.
    A dataset marked ``optional`` whose files are missing is skipped with a note.
    """
    from ganzoo.data import DataError
    from ganzoo.registry import VARIANTS

    if seeds is not None:
        seeds = _check(list(seeds), SEEDS, "--seeds")
    if steps is not None:
        _check(steps, TRAIN_KEYS["steps"], "--steps")
    if variants is not None:
        for v in variants:
            if v not in VARIANTS:
                raise SuiteError(f"--variants: {VARIANTS.unknown_message(v)}")
    plans = suite.datasets
    if datasets is not None:
        known = [d.name for d in plans]
        for d in datasets:
            if d not in known:
                raise SuiteError(f"--datasets: suite {suite.name!r} has no dataset {d!r}; "
                                 f"its datasets: {', '.join(known)}")
        plans = [d for d in plans if d.name in datasets]
    dev = resolve_device(device or suite.device)

    def names(listed: Any) -> List[str]:
        return VARIANTS.names() if listed == "all" else list(listed)

    out = Plan(suite=suite, specs=[])
    rows = []
    vorder: Dict[str, int] = {}
    for dp in plans:
        try:
            probe = probe_dataset(dp, data_root=data_root, download=download)
        except DataError as err:
            if not dp.optional:
                raise
            first = str(err).splitlines()[0]
            out.skipped.append(f"dataset {dp.name} skipped (optional, data not found): {first}")
            continue
        out.probes[dp.name] = probe
        if dp.variants is not None:  # the dataset's own list: the command line only narrows it
            chosen = [v for v in names(dp.variants) if variants is None or v in variants]
        else:
            chosen = list(variants) if variants is not None else names(suite.variants)
        chosen = [v for v in chosen if v not in suite.exclude_variants]
        vorder.update({v: len(vorder) for v in chosen if v not in vorder})
        for vname in chosen:
            cls = VARIANTS.get(vname)
            if cls.conditional and not probe.labelled:
                out.skipped.append(f"{vname} × {dp.name}: conditional variant, dataset has no labels")
                continue
            vset = dp.variant_settings(suite.variant_settings, vname)
            protocol = protocol_for(dp.name)
            archs = (_axis(vset["arch"], "arch", str) if vset.get("arch") else
                     dp.arch or [protocol.arch or cls.preferred_arch.get(probe.kind, "mlp")])
            hp = cls.resolve_hparams({**protocol.hparams(vname, dp.learning_rates), **vset.get("hparams", {})})
            hp = {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()}
            t, e = dp.train, dp.eval
            for seed, arch in itertools.product(seeds or vset.get("seeds") or dp.seeds or suite.seeds, archs):
                for bs in _axis(t["batch_size"], "batch_size", int):
                    for prec in _axis(t["precision"], "precision", str):
                        for perf in _axis(t["perf"], "perf", str):
                            n_steps = steps or t["steps"]
                            rows.append(RunSpec.flat(
                                variant=vname, dataset=dp.name, arch=arch, seed=seed,
                                steps=n_steps, batch_size=bs, precision=prec, perf=perf,
                                z_dim=t["z_dim"], log_every=min(t["log_every"], n_steps),
                                eval_every=t["eval_every"] if t["eval_every"] < n_steps else 0,
                                device=dev, split=probe.split, data_options=dict(dp.options),
                                hparams=hp, quality=suite.quality, eval_samples=e["samples"],
                                final_samples=e["final_samples"], sample_grid=e["sample_grid"],
                                kid_subsets=e["kid_subsets"],
                                metric=dp.metric, ganzoo_version=ganzoo.__version__,
                                suite=suite.name, threshold=dp.threshold, data_root=probe.data_root,
                                checkpoint_every=t["checkpoint_every"], g_ema=float(t["g_ema"]),
                                # image runs only: 2D points are measured by their modes
                                extractors=sorted(e.get("extractors") or []) if probe.kind != "points" else []))
    order = {d.name: i for i, d in enumerate(plans)}
    rows.sort(key=lambda s: (s.seed, order[s.dataset], vorder[s.variant]))
    out.specs = rows
    return out

