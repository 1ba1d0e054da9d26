"""``python -m ganzoo`` (and ``torchrun -m ganzoo train ...``): the ``ganzoo`` command."""
import sys

from ganzoo.cli import main

sys.exit(main())
