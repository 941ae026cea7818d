"""Matching stored ids and names literally with SQL ``LIKE`` patterns, on every database."""

from __future__ import annotations

from typing import Any

#: The escape character of :func:`like_prefix` patterns (``LIKE :x ESCAPE '/'``).
LIKE_ESCAPE = "/"
#: The largest integer SQLite (and PostgreSQL's BIGINT) holds: a bigger one from outside names nothing stored.
MAX_SQL_INTEGER = 2**63 - 1


def escape_like(text: str) -> str:
    """``text`` for a ``LIKE ... ESCAPE '/'`` pattern, its ``%``, ``_`` and ``/`` taken literally."""
    e = LIKE_ESCAPE
    return text.replace(e, e + e).replace("%", e + "%").replace("_", e + "_")


def like_prefix(prefix: str) -> str:
    """A ``LIKE :x ESCAPE '/'`` pattern for ids starting with ``prefix``, taken literally.

    Ids are lower-case uuids; SQLite's LIKE ignores case and PostgreSQL's does not, so the
    prefix is lowered to make "3F2A" find the same run on both.
    """
    return escape_like(prefix.lower()) + "%"


def type_named(column: str, type_name: str) -> tuple[str, dict[str, Any]]:
    """SQL text (and its parameters) for: ``column`` holds the qualified type ``type_name``, or
    one whose last dotted parts are it (``ndarray`` finds ``numpy.ndarray``), taken literally."""
    condition = f"({column} = :type_name OR {column} LIKE :type_suffix ESCAPE '{LIKE_ESCAPE}')"
    return condition, {"type_name": type_name, "type_suffix": "%." + escape_like(type_name)}


__all__ = ["LIKE_ESCAPE", "MAX_SQL_INTEGER", "escape_like", "like_prefix", "type_named"]
