"""One small generic registry of named parts, and the registries ganzoo keeps.

Variants, architectures, datasets and feature extractors are all looked up by
name. Unknown names fail with the valid choices and the closest match, so a typo
in a suite file or on the command line says how to fix itself.

Third-party variants are discovered through the entry-point group
``ganzoo.variants`` (entry name = variant name, value = ``module:Class``).
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from importlib import metadata
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from ganzoo.errors import ConfigError, GanzooError

T = TypeVar("T")

PLUGIN_GROUP = "ganzoo.variants"


class UnknownNameError(GanzooError, KeyError, ValueError):
    """An unknown name was asked of a registry. The message lists the valid names."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it plainly
        return str(self.args[0]) if self.args else ""


def first_line(obj: Any) -> str:
    """The first line of an object's docstring, or '' when it has none."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(Generic[T]):
    """Named objects of one kind (e.g. 'variant'), registered with a decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}
        self._before_lookup: List[Callable[[], None]] = []
        # The class every plugin entry must subclass, declared by the module that defines it
        # (ganzoo.variants.base for VARIANTS), so that this module imports none of them.
        self.expected: Optional[type] = None

    def register(self, name: str, obj: Optional[T] = None, *, replace: bool = False):
        """Register ``obj`` under ``name``; used bare as ``@REG.register("name")``."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def add(o: T) -> T:
            if name in self._items and self._items[name] is not o and not replace:
                raise ConfigError(f"{self.kind} {name!r} is already registered "
                                 f"(by {_where(self._items[name])})")
            self._items[name] = o
            if isinstance(o, type) or callable(o):
                try:
                    setattr(o, "registered_name", name)
                except (AttributeError, TypeError):
                    pass
            return o

        return add(obj) if obj is not None else add

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def on_lookup(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once before the first lookup (lazy plugin discovery)."""
        self._before_lookup.append(hook)

    def _prepare(self) -> None:
        while self._before_lookup:
            self._before_lookup.pop(0)()

    def get(self, name: str) -> T:
        self._prepare()
        try:
            return self._items[name]
        except (KeyError, TypeError):  # TypeError: an unhashable "name" (a list from --hp)
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: Any) -> str:
        valid = sorted(self._items)
        msg = f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(valid) or '(none)'}"
        close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
        if close:
            msg += f". Did you mean {close[0]!r}?"
        return msg

    def __contains__(self, name: object) -> bool:
        self._prepare()
        return isinstance(name, str) and name in self._items

    def __iter__(self) -> Iterator[str]:
        self._prepare()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        self._prepare()
        return len(self._items)

    def names(self) -> List[str]:
        return list(self)

    def items(self) -> List[Tuple[str, T]]:
        return [(n, self._items[n]) for n in self]

    def describe(self) -> List[Tuple[str, str]]:
        """(name, one-line description) for every entry, sorted by name."""
        return [(n, first_line(o)) for n, o in self.items()]


def _where(obj: Any) -> str:
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", type(obj).__name__)
    return f"{mod}.{qual}" if mod else qual


VARIANTS: Registry = Registry("variant")
ARCHS: Registry = Registry("architecture")
DATASETS: Registry = Registry("dataset")
EXTRACTORS: Registry = Registry("feature extractor")

# Plugin load failures, as (entry point name, error text): shown by `ganzoo list`.
PLUGIN_ERRORS: List[Tuple[str, str]] = []


def load_plugins(group: str = PLUGIN_GROUP) -> List[str]:
    """Import every third-party variant in the entry-point ``group``.

    A plugin that fails to import, or that is not a ``ganzoo.Variant`` subclass,
    is skipped with a warning naming it; everything else keeps working.
    Returns the names registered.
    """
    base = VARIANTS.expected  # set by ganzoo.variants.base, imported by the built-ins hook first
    loaded = []
    for ep in metadata.entry_points(group=group):
        try:
            cls = ep.load()
            if base is not None and not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"{ep.value} is not a subclass of ganzoo.Variant")
            VARIANTS.register(ep.name, cls)  # a clash with another variant fails here
        except Exception as err:  # a broken plugin must not break ganzoo
            text = f"{type(err).__name__}: {err}"
            PLUGIN_ERRORS.append((ep.name, text))
            warnings.warn(f"ganzoo: variant plugin {ep.name!r} ({ep.value}) failed to load "
                          f"and is skipped: {text}", RuntimeWarning, stacklevel=2)
            continue
        loaded.append(ep.name)
    return loaded


def _builtins(module: str) -> Callable[[], None]:
    import importlib

    return lambda: importlib.import_module(module)


# Built-in entries register themselves on import; import them before the first lookup.
VARIANTS.on_lookup(_builtins("ganzoo.variants"))
VARIANTS.on_lookup(load_plugins)
ARCHS.on_lookup(_builtins("ganzoo.nets"))
DATASETS.on_lookup(_builtins("ganzoo.data"))
EXTRACTORS.on_lookup(_builtins("ganzoo.metrics.extractors"))


def register_variant(name: str):
    """Decorator: register a ``Variant`` subclass under ``name``."""
    return VARIANTS.register(name)
