"""Durations and sizes as people read them, shared by the CLI and the dashboard."""

from __future__ import annotations

#: What a missing value reads as.
MISSING = "–"


def duration(seconds: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4.2 min``, ``3.1 h``."""
    if seconds is None:
        return MISSING
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def human_size(size: int | None) -> str:
    """``512 B``, ``4.0 KiB``, ``2.6 MiB`` ... in powers of 1024."""
    if size is None:
        return MISSING
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


__all__ = ["MISSING", "duration", "human_size"]
