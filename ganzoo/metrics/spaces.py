"""Which feature spaces an evaluation measures in: the names, and a suite's extra spaces.

A name is ``auto`` (the dataset's own offline extractor, plus Inception when its weights
are configured), one of ganzoo's extractors (``ganzoo-mnist``, ...), or one of
torch-fidelity's pretrained ones (``inception``, ``dinov2-vit-b-14``, ``clip-vit-b-32``,
...: :mod:`ganzoo.metrics.pretrained`). ``--extractor`` takes one or several, comma-separated.

A suite's ``[eval] extractors = [...]`` (per dataset too) adds pretrained spaces to every
evaluation of the dataset's runs, beside its own offline space: each run's spec carries them
(``RunSpec.extractors``, part of its run id when set). Their weights are resolved once, before
the runs, where the bench starts (:func:`resolve_suite_spaces`: torch's hub cache, else
downloaded when the host answers); a run's evaluation then reads them from that cache
(``evaluate(extra_spaces=...)``). A missing space is left out of the run's metrics, and its
one line stands in the run's protocol (``feature_spaces_missing``), so the report says which
space was not measured and how to supply it; the offline spaces are measured as always.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

Names = Union[str, Sequence[str]]


def split_names(extractor: Names) -> List[str]:
    """``"auto, dinov2-vit-b-14"`` or a list -> the names, in order, without repeats."""
    items = extractor.split(",") if isinstance(extractor, str) else list(extractor)
    return list(dict.fromkeys(s.strip() for s in items if s and s.strip()))


def valid_names() -> List[str]:
    from ganzoo.metrics.pretrained import names
    from ganzoo.registry import EXTRACTORS

    return ["auto", *EXTRACTORS.names(), *names()]


def unknown(names: Sequence[str]) -> List[str]:
    valid = set(valid_names())
    return [n for n in names if n not in valid]


def list_problem(value: Any) -> Optional[str]:
    """For a suite's ``extractors``: a list of torch-fidelity's pretrained spaces (the dataset's
    own offline space is always measured), else what is wrong (a Setting's ``rule``)."""
    from ganzoo.metrics.pretrained import names

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of feature space names"
    bad = [v for v in value if v not in names()]
    if bad:
        return f"names unknown feature space(s) {', '.join(map(repr, bad))}; valid: {', '.join(names())}"
    return None


# ---- a suite's extra spaces ------------------------------------------------------------
def resolve_suite_spaces(wanted: Mapping[str, Sequence[str]],
                         log: Callable[[str], None] = print) -> Dict[str, Dict[str, Dict[str, Optional[str]]]]:
    """dataset -> space name -> ``{"weights": path}`` or ``{"missing": one line}``.

    ``wanted``: dataset -> the spaces its ``extractors`` names. Pretrained weights are looked
    up (and fetched, where the host answers) once per space; each missing one is logged once.
    """
    from ganzoo.metrics.pretrained import WeightsMissing, canonical, pretrained_space

    found: Dict[str, Dict[str, Optional[str]]] = {}
    for name in dict.fromkeys(n for names in wanted.values() for n in names):
        if canonical(name) is None:
            raise ValueError(f"{name!r} is not one of torch-fidelity's pretrained feature spaces")
        try:
            space = pretrained_space(name, download=True)
            found[name] = {"weights": space.weights_path}
            log(f"  feature space {space.name} [{space.fingerprint}]: {space.weights_path}")
        except WeightsMissing as err:
            found[name] = {"missing": str(err)}
            log(f"  note: {err} The runs are measured in their other feature spaces.")
    return {d: {n: found[n] for n in names} for d, names in wanted.items() if names}
