"""The errors a user can fix, under one base.

The CLI answers a :class:`GanzooError` with one line and exit status 2 (``--debug`` adds
the traceback); any other exception is a bug in ganzoo or a plugin and shows its traceback.
So raise a ``GanzooError`` subclass exactly when the message tells the user what they asked
for that cannot be, and what is valid instead; an internal inconsistency (a net called
without its labels, a shape a caller inside ganzoo got wrong) stays a plain exception.

Each subclass also derives from the builtin exception it replaces (``ValueError``,
``FileNotFoundError``, ...), so library callers that catch those keep working.
"""
from __future__ import annotations


class GanzooError(Exception):
    """Something the user asked for cannot be done; the message says what is valid."""


class ConfigError(GanzooError, ValueError):
    """A setting, option or combination of them that is not valid (a wrong value, an unknown
    key, an architecture that does not fit the data, ...)."""


class MissingFileError(GanzooError, FileNotFoundError):
    """A file the user named, or that a command needs, is not there."""
