"""How values read in the dashboard: durations, sizes, times, JSON, URL segments.

These are Jinja filters; they return plain strings, and autoescaping happens after them,
so none of them may return markup.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dosirak.units import duration, human_size, resources_text


def timestamp(value: datetime | str | None) -> str:
    """UTC, to the second (the title of a relative time)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """'3 min ago', '2 d ago'."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False, sort_keys=indent is not None)


def compact(value: Any, limit: int = 120) -> str:
    """Parameters on one line: ``lr=0.001, epochs=3``; cut at ``limit`` characters."""
    if isinstance(value, dict):
        text = ", ".join(f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in value.items())
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(value: str | None, n: int = 8) -> str:
    return (value or "")[:n]


_LONG_HEX = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{8,}\b")


def short_ids(value: Any) -> str:
    """Long hex ids in ``value`` cut to 8 characters and ``…`` (``ray worker 1a2b3c4d… node 9f8e7d6c…``)."""
    return _LONG_HEX.sub(r"\1…", str(value or ""))


def segment(value: Any) -> str:
    """A value as one URL path segment (``/`` and everything else quoted)."""
    return quote(str(value), safe="")


def http_url(value: Any) -> str:
    """``value`` if it is an http(s) URL, else ``#``: a stored URL never becomes ``javascript:``."""
    text = str(value or "")
    return text if text.lower().startswith(("http://", "https://")) else "#"


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


FILTERS = {
    "duration": duration,
    "human_size": human_size,
    "timestamp": timestamp,
    "ago": ago,
    "to_json": to_json,
    "compact": compact,
    "short": short,
    "short_ids": short_ids,
    "segment": segment,
    "number": number,
    "http_url": http_url,
    "resources": resources_text,
}

__all__ = ["FILTERS", "ago", "compact", "duration", "human_size", "number", "resources_text", "segment", "short", "short_ids", "timestamp",
           "to_json"]
