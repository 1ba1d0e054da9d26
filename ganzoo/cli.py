"""The ``ganzoo`` command line: the parser over :mod:`ganzoo.commands`, and the error policy.

A :class:`ganzoo.errors.GanzooError` (an unknown name, a missing file, a bad value, a results
folder that is busy or cannot be written) prints one line and exits with status 2; any other
exception is a bug and shows its traceback. ``--debug`` shows the traceback of both.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import List, Optional

from ganzoo.commands import COMMANDS
from ganzoo.errors import GanzooError
from ganzoo.variants.base import VariantError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganzoo", description="A benchmark suite for GAN variants.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add, _ in COMMANDS.values():
        add(sub)
    for p in sub.choices.values():  # `ganzoo train --debug ...` works too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of every error")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _, run = COMMANDS[args.command]
    try:
        return run(args)
    except GanzooError as err:  # the user can fix it: one line (any other exception is a bug: its traceback)
        if args.debug:
            traceback.print_exc()
        print(f"ganzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except VariantError as err:  # a variant (perhaps a plugin) raised while training: its traceback, then one line
        print(err.traceback, end="", file=sys.stderr)
        print(f"ganzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
