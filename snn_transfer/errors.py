"""Exceptions a user can cause. Each message names the file or key and says how to fix it."""

from __future__ import annotations


class SnnTransferError(Exception):
    """Base class of every error the package raises on purpose."""


class EventFormatError(SnnTransferError, ValueError):
    """An event file or event array is malformed (truncated, wrong header, values out of range).

    The message names the file (when there is one), the byte offset or event index, and the
    problem.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: object | None = None,
        offset: int | None = None,
        index: int | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.offset = offset
        self.index = index
        where = []
        if self.path is not None:
            where.append(self.path)
        if offset is not None:
            where.append(f"byte {offset}")
        if index is not None:
            where.append(f"event {index}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


class ConfigError(SnnTransferError, ValueError):
    """A configuration key is unknown, of the wrong type, or out of its allowed range."""


class DatasetError(SnnTransferError):
    """A dataset folder is missing, incomplete, or inconsistent."""


class ConfigNote(UserWarning):
    """A config value the package changed to avoid a silent trap (the message says what and
    why); the command line prints it as a note."""
