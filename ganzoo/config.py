"""One strict way to check configuration: suite tables, training settings, hyperparameters.

A :class:`Setting` says what one key accepts (its kind, a lower bound, a set of names, an
extra rule, whether a suite may give a list of values as an axis of the run matrix). The same
three functions check every configuration ganzoo reads, so a wrong value gets the same words
wherever it was written:

- :func:`check_value`: one value against its setting;
- :func:`check_table`: a table (a TOML table, a dict of ``--hp``) against a schema
  ``{key: Setting}``: an unknown key names the valid ones;
- :func:`check_fields`: a dataclass instance whose fields were declared with :func:`setting`
  (``TrainConfig`` calls it in ``__post_init__``); :func:`schema` gives such a dataclass's
  settings as a schema, so a suite's ``[train]`` table is checked by ``TrainConfig``'s own
  declarations and the rules are not restated.

Variant hyperparameters have no declaration beyond their defaults: :func:`like` makes the
setting from a default's type (an int default takes whole numbers, a tuple a list of the same
length, ...), and a variant's ``hp_minimum`` adds the bound.

Why a small helper over the standard library's dataclasses and not pydantic or msgspec:
every configuration here is already a dataclass or a plain dict from ``tomllib``/JSON; the
rules ganzoo needs are few (kind, bound, names from a registry, a list as an axis) and must
match TOML's own types exactly (``true`` is not an integer, ``1`` stands for ``1.0``), which
pydantic's lax mode does not do by default; and a dependency with its own release cycle for
80 lines of checks would be one more thing to pin for every user.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ganzoo.errors import ConfigError

Kind = Union[type, Tuple[type, ...]]
KIND_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
              list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Setting:
    """What one configuration key accepts."""

    kind: Kind  # int, float (any finite number), str, bool, list, dict, or a tuple of them
    minimum: Optional[float] = None  # inclusive lower bound of a number
    maximum: Optional[float] = None  # inclusive upper bound of a number
    choices: Optional[Callable[[], Sequence[str]]] = None  # the valid names, read when checking
    rule: Optional[Callable[[Any], Optional[str]]] = None  # a further check: its problem, or None
    axis: bool = False  # a non-empty list of values is accepted (one run per value: an axis)
    suite_axis: bool = False  # an axis in a suite's tables, one value elsewhere
    length: Optional[int] = None  # a list of exactly this many numbers (e.g. Adam's betas)
    whole_floats: bool = False  # an int setting also takes 2.0 (JSON from --hp) and makes it 2
    coerce: bool = False  # return the value as the kind (1 -> 1.0 for a float setting)

    def words(self) -> str:
        if self.length is not None:
            return f"a list of {self.length} numbers"
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(KIND_WORDS.get(k, k.__name__) for k in kinds)
        bounds = [f">= {self.minimum:g}"] if self.minimum is not None else []
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum}")
        return " ".join([text, " and ".join(bounds)]) if bounds else text

    def one(self) -> "Setting":
        """The setting of one element of an axis."""
        return dataclasses.replace(self, axis=False)


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            **rule: Any) -> Any:
    """A dataclass field whose value :func:`check_fields` checks against ``Setting(**rule)``."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"setting": Setting(**rule)})


def schema(cls: type, only: Optional[Sequence[str]] = None, suite: bool = False) -> Dict[str, Setting]:
    """The declared settings of dataclass ``cls`` (in field order), optionally only some keys;
    ``suite``: as a suite table takes them (the ``suite_axis`` ones as axes)."""
    out = {f.name: f.metadata["setting"] for f in dataclasses.fields(cls) if "setting" in f.metadata}
    if suite:
        out = {k: dataclasses.replace(s, axis=s.suite_axis) for k, s in out.items()}
    return out if only is None else {k: out[k] for k in only}


def defaults(cls: type, only: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The defaults of dataclass ``cls``'s fields (all, or ``only`` these)."""
    out = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    return out if only is None else {k: out[k] for k in only}


def _is_kind(value: Any, kind: Kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if object in kinds:
        return True
    if isinstance(value, bool):
        return bool in kinds  # TOML's true is not an integer here
    if float in kinds and isinstance(value, int):
        return True  # 1 stands for 1.0
    return isinstance(value, kinds)


def check_value(value: Any, s: Setting, what: str) -> Any:
    """``value`` if it fits ``s`` (as a list of unique values for an axis, coerced if asked);
    otherwise a :class:`ConfigError` that says ``what`` must be what, and what it got."""
    if s.axis:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ConfigError(f"{what} must not be an empty list")
        return list(dict.fromkeys(check_value(v, s.one(), what) for v in items))
    if s.length is not None:
        if (not isinstance(value, (list, tuple)) or len(value) != s.length
                or not all(_is_kind(v, float) and math.isfinite(v) for v in value)):
            raise ConfigError(f"{what} must be a list of {s.length} finite numbers, got {value!r}")
        return tuple(float(v) for v in value) if s.coerce else value
    if s.whole_floats and isinstance(value, float) and not isinstance(value, bool) and s.kind is int:
        if not value.is_integer():
            raise ConfigError(f"{what} must be a whole number, got {value!r}")
        value = int(value)
    if not _is_kind(value, s.kind):
        raise ConfigError(f"{what} must be {s.words()}, got {value!r}")
    if s.rule is not None:  # before the finite check: a rule may word what NaN breaks
        problem = s.rule(value)
        if problem:
            raise ConfigError(f"{what} {problem}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    if isinstance(value, (int, float)) and ((s.minimum is not None and value < s.minimum)
                                            or (s.maximum is not None and value > s.maximum)):
        raise ConfigError(f"{what} must be {s.words()}, got {value!r}")
    if s.choices is not None:
        valid = list(s.choices())
        if value not in valid:
            raise ConfigError(f"{what} must be one of {', '.join(valid)}, got {value!r}")
    if s.coerce and s.kind in (int, float):
        value = s.kind(value)
    return value


def check_unknown(table: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"valid keys: {', '.join(sorted(valid))}")


def check_table(table: Mapping[str, Any], rules: Mapping[str, Setting], where: str,
                error: Callable[[str], Exception] = ConfigError) -> Dict[str, Any]:
    """``table`` checked key by key against ``rules`` (unknown keys fail), as checked values.

    ``error`` turns a message into the exception raised (a suite raises its SuiteError).
    """
    try:
        check_unknown(table, list(rules), where)
        return {k: check_value(v, rules[k], f"{where}: {k}") for k, v in table.items()}
    except ConfigError as err:
        if error is ConfigError:
            raise
        raise error(str(err)) from None


def check_fields(obj: Any) -> None:
    """Check every declared field of dataclass instance ``obj``, coercing where declared."""
    for f in dataclasses.fields(obj):
        s = f.metadata.get("setting")
        if s is not None:
            object.__setattr__(obj, f.name, check_value(getattr(obj, f.name), s, f.name))


def like(default: Any, minimum: Optional[float] = None) -> Setting:
    """The setting a hyperparameter's default implies: a value of the same kind (an int takes
    whole numbers, a float any finite number, a tuple a list as long), coerced to it."""
    if isinstance(default, bool):
        return Setting(bool)
    if isinstance(default, int):
        return Setting(int, minimum=minimum, whole_floats=True, coerce=True)
    if isinstance(default, float):
        return Setting(float, minimum=minimum, coerce=True)
    if isinstance(default, tuple):
        return Setting(list, length=len(default), coerce=True)
    if isinstance(default, str):
        return Setting(str)
    return Setting(object)


def names_of(registry: Any) -> Callable[[], List[str]]:
    """``choices`` for a setting that holds a name of ``registry`` (read when checked, so
    names registered later, e.g. by plugins, are valid)."""
    return registry.names
