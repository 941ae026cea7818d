"""Time drawn as bars: a run's steps as a Gantt chart.

Positions are fractions (0..1) of the chart; templates turn them into percentages, so the
charts need no JavaScript and stay sharp at any width.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dosirak.metadata.records import RunRecord, StepRunRecord
from dosirak.metadata.timeutil import utcnow

MIN_BAR = 0.004  # a step that took no time is still visible


@dataclass(frozen=True)
class Bar:
    name: str
    ref: str  # the step run id or run id the bar links to
    status: str
    left: float
    width: float
    seconds: float | None


@dataclass(frozen=True)
class Gantt:
    bars: list[Bar]
    span_s: float
    ticks: list[tuple[float, float]]  # (position 0..1, seconds) for the axis


def gantt(run: RunRecord, steps: list[StepRunRecord], now: datetime | None = None) -> Gantt:
    """Each step's start and duration as a share of the run's span (running steps grow to now)."""
    now = now or utcnow()
    t0 = run.start_time
    ends = [s.end_time or now for s in steps if s.start_time is not None]
    t1 = max([run.end_time or now, *ends]) if run.end_time is None or ends else run.end_time
    span = max((t1 - t0).total_seconds(), 1e-3)
    bars: list[Bar] = []
    for s in steps:
        if s.start_time is None:
            bars.append(Bar(s.name, s.id, s.status, 0.0, 0.0, None))
            continue
        start = max((s.start_time - t0).total_seconds(), 0.0)
        seconds = ((s.end_time or now) - s.start_time).total_seconds()
        left = min(start / span, 1.0)
        width = min(max(seconds / span, MIN_BAR), 1.0 - left) if left < 1.0 else MIN_BAR
        bars.append(Bar(s.name, s.id, s.status, left, width, seconds if s.end_time else None))
    return Gantt(bars=bars, span_s=span, ticks=_ticks(span))


def _ticks(span: float, count: int = 4) -> list[tuple[float, float]]:
    return [(i / count, span * i / count) for i in range(count + 1)]


__all__ = ["Bar", "Gantt", "gantt"]
