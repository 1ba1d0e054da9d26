"""Published results beside ours: ``benchmarks/references.toml``, parsed strictly, and the
consistency mark a report prints, in a table under its headline, for each headline
variant × dataset × metric that has a published value.

The rule (:func:`consistency`), a two-sample z rule that uses both spreads:
z = |mean_ours − mean_pub| / √(SE_ours² + SE_pub²), SE_ours = std/√n over our seeds and
SE_pub the paper's standard error (``spread_kind = "se"``). *Consistent* when z < 2 (the
two means are within two standard errors of their difference), *not consistent* when
z ≥ 2, and *undecided* where either side has no spread: one run of ours or seeds that all
agree, a paper that gives no spread or an unstated kind of ±. The earlier rule (the
published mean inside our CI) was lenient for noisy cells and demanded exact equality for
one seed. A published value measured in another feature space (Inception FID beside
FID[ganzoo-mnist]) is never compared: the report lists it apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ganzoo.bench.suite import SUITE_DIR
from ganzoo.errors import ConfigError

REFERENCES_FILE = SUITE_DIR / "references.toml"
SPREAD_KINDS = ("se", "unstated", "none")
Z_LIMIT = 2.0  # |difference| / its standard error below this: consistent
CONSISTENT, NOT_CONSISTENT, UNDECIDED = "consistent", "not consistent", "undecided"


class ReferenceError(ConfigError):
    """The references file is invalid; the message names the entry and the fix."""


@dataclass(frozen=True)
class Reference:
    """One published cell: what the paper measured, how, and where it is printed."""

    variant: str
    published_as: str
    dataset: str
    metric: str
    value: float
    runs: int
    protocol: str
    source: str
    spread_kind: str = "none"
    spread: Optional[float] = None

    @property
    def label(self) -> str:
        spread = f" ± {self.spread:g}" if self.spread is not None else ""
        return f"{self.value:g}{spread} ({self.source}, {self.published_as}, {self.runs} run(s))"


REQUIRED = ("variant", "published_as", "dataset", "metric", "value", "runs", "protocol", "source")
TYPES = {"variant": str, "published_as": str, "dataset": str, "metric": str, "value": (int, float),
         "runs": int, "protocol": str, "source": str, "spread_kind": str, "spread": (int, float)}


def parse_references(raw: Dict[str, Any], where: str = "references") -> List[Reference]:
    """Check a parsed references file: only ``[[reference]]`` tables with the known keys."""
    unknown_top = sorted(set(raw) - {"reference"})
    if unknown_top:
        raise ReferenceError(f"{where}: unknown top-level key(s) {', '.join(map(repr, unknown_top))}; "
                             f"the file holds [[reference]] tables only")
    entries = raw.get("reference", [])
    if not isinstance(entries, list):
        raise ReferenceError(f"{where}: `reference` must be an array of tables ([[reference]])")
    out = []
    first_at: Dict[tuple, int] = {}  # one published cell, one entry: a copy would print twice
    for i, entry in enumerate(entries, 1):
        at = f"{where}: reference #{i}"
        unknown = sorted(set(entry) - set(TYPES))
        if unknown:
            raise ReferenceError(f"{at}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                 f"valid keys: {', '.join(sorted(TYPES))}")
        missing = [k for k in REQUIRED if k not in entry or entry[k] in ("", None)]
        if missing:
            raise ReferenceError(f"{at} ({entry.get('published_as', '?')}): missing {', '.join(missing)}; "
                                 f"every published number needs its source, protocol and run count")
        for k, v in entry.items():
            if isinstance(v, bool) or not isinstance(v, TYPES[k]):
                raise ReferenceError(f"{at}: {k} must be {'a number' if k in ('value', 'spread') else TYPES[k].__name__}, "
                                     f"got {v!r}")
        kind = entry.get("spread_kind", "none")
        if kind not in SPREAD_KINDS:
            raise ReferenceError(f"{at}: spread_kind must be one of {', '.join(SPREAD_KINDS)}, got {kind!r}")
        if (kind == "none") != ("spread" not in entry):
            raise ReferenceError(f"{at}: a spread needs spread_kind 'se' or 'unstated', and "
                                 f"spread_kind {kind!r} needs {'no' if kind == 'none' else 'a'} spread")
        if entry["runs"] < 1 or entry.get("spread", 0) < 0:
            raise ReferenceError(f"{at}: runs must be >= 1 and spread >= 0")
        cell = tuple(entry[k] for k in ("variant", "dataset", "metric", "source", "published_as"))
        if cell in first_at:
            raise ReferenceError(f"{at}: the same published cell as reference #{first_at[cell]} ({entry['source']}, "
                                 f"{entry['published_as']}, {entry['metric']} on {entry['dataset']}); keep one")
        first_at[cell] = i
        names = {f.name for f in fields(Reference)}
        out.append(Reference(**{k: (float(v) if k in ("value", "spread") else v)
                                for k, v in entry.items() if k in names}))
    return out


def load_references(path: Optional[Path] = None) -> List[Reference]:
    """The published references (``benchmarks/references.toml`` unless ``path``)."""
    path = Path(path) if path else REFERENCES_FILE
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceError(f"no references file at {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ReferenceError(f"{path}: not valid TOML: {err}") from None
    return parse_references(raw, str(path))


def consistency(ref: Reference, mean: float, std: float, n: int) -> Optional[str]:
    """consistent / not consistent / undecided by the two-sample z rule; None without our value."""
    if not n or not math.isfinite(mean):
        return None
    if n < 2 or not math.isfinite(std) or std <= 0:
        return UNDECIDED
    if ref.spread_kind != "se" or not ref.spread:
        return UNDECIDED
    z = abs(mean - ref.value) / math.sqrt(std ** 2 / n + ref.spread ** 2)
    return CONSISTENT if z < Z_LIMIT else NOT_CONSISTENT


def z_score(ref: Reference, mean: float, std: float, n: int) -> float:
    """The z of :func:`consistency` (nan where it is undecided)."""
    if n < 2 or not math.isfinite(std) or std <= 0 or ref.spread_kind != "se" or not ref.spread:
        return math.nan
    return abs(mean - ref.value) / math.sqrt(std ** 2 / n + ref.spread ** 2)


def mark(verdict: Optional[str]) -> str:
    if verdict is None:
        return "no value of ours"
    return f"**{verdict}**" if verdict == NOT_CONSISTENT else verdict
