"""Time drawn as bars: a run's steps as a Gantt chart.

Positions are fractions (0..1) of the chart; templates turn them into percentages, so the
charts need no JavaScript and stay sharp at any width. A run's chart is placed by
:func:`dosirak.pipelines.timeline.gantt`, the same placement ``dosirak runs show`` draws as text.
"""

from __future__ import annotations

from datetime import datetime

from dosirak.metadata.timeutil import utcnow
from dosirak.pipelines.timeline import Bar, Gantt, gantt


__all__ = ["Bar", "Gantt", "gantt"]
