"""``ganzoo list``: the registered variants, architectures and datasets, one line each."""
from __future__ import annotations

from ganzoo.registry import ARCHS, DATASETS, PLUGIN_ERRORS, VARIANTS


def add_list(sub) -> None:
    sub.add_parser("list", help="variants, architectures and datasets, one line each")


def run_list(args) -> int:
    for title, reg in (("Variants", VARIANTS), ("Architectures", ARCHS), ("Datasets", DATASETS)):
        rows = reg.describe()
        width = max((len(n) for n, _ in rows), default=0)
        print(f"{title}:")
        for name, line in rows:
            print(f"  {name:<{width}}  {line}")
        print()
    for name, err in PLUGIN_ERRORS:
        print(f"(plugin {name!r} failed to load: {err})")
    return 0
