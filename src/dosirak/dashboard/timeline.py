"""Time drawn as bars: a run's steps as a Gantt chart, a pipeline's runs as a history.

Positions are fractions (0..1) of the chart; templates turn them into percentages, so the
charts need no JavaScript and stay sharp at any width. A run's chart is placed by
:func:`dosirak.pipelines.timeline.gantt`, the same placement ``dosirak runs show`` draws as text.
"""

from __future__ import annotations

from datetime import datetime

from dosirak.metadata.timeutil import utcnow
from dosirak.pipelines.timeline import Bar, Gantt, gantt


def history(rows: list[tuple[str, str, str, datetime, datetime | None]], now: datetime | None = None) -> list[dict[str, object]]:
    """A pipeline's runs (oldest first) as bars whose height is the run's share of the longest."""
    now = now or utcnow()
    durations = [((end or now) - start).total_seconds() for _, _, _, start, end in rows]
    top = max(durations, default=0.0) or 1.0
    return [
        {"id": run_id, "name": name, "status": status, "start_time": start, "seconds": d,
         "height": max(d / top, 0.02)}
        for (run_id, name, status, start, _end), d in zip(rows, durations, strict=True)
    ]


__all__ = ["Bar", "Gantt", "gantt", "history"]
