"""argparse value types shared by every ``ganzoo`` subcommand: one error wording for all."""
from __future__ import annotations

import argparse
from typing import Callable, List


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonneg_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected minutes >= 0, got {value}")
    return value


def csv_list(kind: type = str) -> Callable[[str], List]:
    """A comma-separated list, e.g. ``0,1,2`` (``kind=int``) or ``nsgan,wgan-gp``."""
    def parse(text: str) -> List:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        if kind is int:
            try:
                return [int(t) for t in items]
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected integers like 0,1,2, got {text!r}") from None
        return items

    return parse
