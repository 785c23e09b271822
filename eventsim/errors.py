"""Exceptions that carry a message a user can act on.

Every error that bad input can cause is an :class:`EventsimError`: the CLI prints its message (what
is wrong and what to do) without a traceback and exits non-zero. Anything else is a bug.
"""

from __future__ import annotations


class EventsimError(Exception):
    """Base class of all errors caused by the user's input, not by a bug in eventsim.

    Parameters
    ----------
    problem : str
        What is wrong, naming the file, node, op, attribute or array concerned.
    fix : str, optional
        What the user can do about it.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\n  fix: {fix}")


class ModelFileError(EventsimError):
    """A model file is missing, unreadable, truncated or not of the expected format."""


class UnsupportedError(EventsimError):
    """An op, attribute or combination that eventsim does not support."""


class ShapeError(EventsimError):
    """A shape that cannot be resolved, or that does not match what a node needs."""


class DataError(EventsimError):
    """An input array that is missing, of the wrong shape or dtype, or not finite."""


class OptionError(EventsimError, ValueError):
    """An option, or a combination of options, that is not valid (also a ValueError for API callers)."""


class OutputError(EventsimError):
    """An output file that cannot be written where the user asked (no such directory, a parent that
    is a file, a read-only or special file system, a directory in the file's place)."""
