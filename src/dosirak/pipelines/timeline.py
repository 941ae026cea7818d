"""A run's steps on one time axis: where each bar starts and ends, for any drawing of it.

:func:`gantt` places every step of a run as a share (0..1) of the run's span, so steps
that ran at the same time (parallel branches) sit side by side on the axis, whatever draws
them: the dashboard as SVG, ``dosirak runs show`` as text. :func:`ticks` gives round times
for the axis (0, 0.2 s, 0.4 s ...).

Example::

    chart = gantt(run_record, step_records)
    for bar in chart.bars:
        print(bar.name, bar.left, bar.left + bar.width, bar.worker)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dosirak.metadata.records import RunRecord, StepRunRecord
from dosirak.metadata.timeutil import utcnow

#: The narrowest bar, as a share of the axis: a step that took no time is still visible.
MIN_BAR = 0.004
#: Tick spacings tried, times a power of ten.
_NICE = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Bar:
    """One step on the axis: ``left`` and ``width`` are shares (0..1) of the run's span."""

    name: str
    ref: str  # the step run id or run id the bar links to
    status: str
    left: float
    width: float
    seconds: float | None  # None while it runs, or when it never started
    host: str | None = None
    worker: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def right(self) -> float:
        return self.left + self.width


@dataclass(frozen=True)
class Gantt:
    bars: list[Bar]
    span_s: float
    ticks: list[tuple[float, float]]  # (position 0..1, seconds) for the axis


def gantt(run: RunRecord, steps: Sequence[StepRunRecord], now: datetime | None = None) -> Gantt:
    """Each step's start and duration as a share of the run's span (running steps grow to now).

    A step that never started (pending, skipped before it started) has a bar of width 0.
    """
    now = now or utcnow()
    t0 = run.start_time
    ends = [s.end_time or now for s in steps if s.start_time is not None]
    t1 = max([run.end_time or now, *ends]) if run.end_time is None or ends else run.end_time
    span = max((t1 - t0).total_seconds(), 1e-3)
    bars: list[Bar] = []
    for s in steps:
        if s.start_time is None:
            bars.append(Bar(s.name, s.id, s.status, 0.0, 0.0, None, s.host, s.worker, s.resources))
            continue
        start = max((s.start_time - t0).total_seconds(), 0.0)
        seconds = ((s.end_time or now) - s.start_time).total_seconds()
        left = min(start / span, 1.0)
        width = min(max(seconds / span, MIN_BAR), 1.0 - left) if left < 1.0 else MIN_BAR
        left = min(left, 1.0 - width)
        bars.append(Bar(s.name, s.id, s.status, left, width, seconds if s.end_time else None,
                        s.host, s.worker, s.resources))
    return Gantt(bars=bars, span_s=span, ticks=ticks(span))


def ticks(span: float, most: int = 5) -> list[tuple[float, float]]:
    """Round times from 0 to at most ``span``, at most ``most`` steps apart: (position 0..1, seconds).

    The spacing is 1, 2 or 5 times a power of ten (0.2 s, 5 s, 10 min ...).
    """
    if not span > 0 or not math.isfinite(span):
        return [(0.0, 0.0)]
    raw = span / max(most, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in _NICE if m * power >= raw * (1 - 1e-9))
    count = int(span / step + 1e-9)
    return [(i * step / span, i * step) for i in range(count + 1)]


__all__ = ["MIN_BAR", "Bar", "Gantt", "gantt", "ticks"]
