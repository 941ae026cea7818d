"""Durations and sizes as people read them, shared by the CLI and the dashboard."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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


def resources_text(resources: Mapping[str, Any]) -> str:
    """``cpus=2, gpus=1, memory=4.0 GiB``: a step's resource request on one line (``–`` when empty)."""
    if not resources:
        return MISSING
    parts = []
    for name, amount in sorted(resources.items()):
        if name == "memory" and isinstance(amount, int | float) and not isinstance(amount, bool) \
                and math.isfinite(amount) and amount >= 0:
            parts.append(f"{name}={human_size(int(amount))}")
        elif isinstance(amount, float) and amount.is_integer():
            parts.append(f"{name}={int(amount)}")
        else:
            parts.append(f"{name}={amount}")
    return ", ".join(parts)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}


def parse_size(text: str | int) -> int:
    """``"16GiB"`` -> 17179869184; ``"500MB"``, ``"2048"``, ``"1.5 GiB"`` too. ValueError if unreadable."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        raw = str(text).strip().lower().replace(" ", "").replace("_", "")
        number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
        try:
            value, unit = float(number) if number else -1.0, raw[len(number):]
        except ValueError:
            value, unit = -1.0, ""
    if unit not in _UNITS or not value >= 0 or value == float("inf"):
        raise ValueError(f"'{text}' is not a size: use a number of bytes or e.g. 500MB, 16GiB")
    return int(value * _UNITS[unit])


__all__ = ["MISSING", "duration", "human_size", "parse_size", "resources_text"]
