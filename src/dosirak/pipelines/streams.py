"""Text streams that stand in for ``sys.stdout``/``sys.stderr`` while a run goes (a step's tee,
the per-thread router, the live display's terminal stream): what they share.
"""

from __future__ import annotations

import io
from typing import Any, TextIO


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for a closed stream or one without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class WrappedStream(io.TextIOBase):
    """A text stream that writes its own way but is, for everything else, ``original``:
    ``flush``, ``isatty``, ``encoding`` and ``fileno`` are the wrapped stream's."""

    def __init__(self, original: TextIO) -> None:
        self._original = original

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return isatty(self._original)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._original.fileno()


__all__ = ["WrappedStream", "isatty"]
