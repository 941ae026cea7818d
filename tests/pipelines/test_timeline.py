"""A run's steps on one time axis: shares of the run's span, round ticks, placement carried along."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from dosirak.pipelines.timeline import MIN_BAR, gantt, ticks
from tests.cli.test_timeline import T0, run_record, step_record


def test_bars_are_shares_of_the_run_and_parallel_steps_overlap() -> None:
    chart = gantt(run_record(2.0), [step_record("a", 0.0, 1.0), step_record("b", 0.5, 1.5),
                                    step_record("c", None, None, "pending")])
    a, b, c = chart.bars
    assert (a.left, a.width, a.seconds) == (0.0, 0.5, 1.0)
    assert (b.left, b.right) == (0.25, 0.75)
    assert a.right > b.left  # side by side in time
    assert (c.width, c.seconds) == (0.0, None)
    assert chart.span_s == 2.0


def test_a_running_step_grows_to_now_and_a_step_of_no_time_stays_visible_inside_the_axis() -> None:
    run = run_record(1.0)
    running = gantt(run.__class__(**{**run.__dict__, "end_time": None}), [step_record("r", 0.5, None, "running")],
                    now=T0 + timedelta(seconds=1.0))
    assert running.bars[0].right == pytest.approx(1.0) and running.bars[0].seconds is None
    instant = gantt(run, [step_record("i", 1.0, 1.0)]).bars[0]
    assert instant.width == MIN_BAR and instant.right <= 1.0


def test_the_bar_carries_where_the_step_ran() -> None:
    record = step_record("a", 0.0, 1.0)
    placed = record.__class__(**{**record.__dict__, "host": "node-1", "worker": "pid 7 thread w",
                                 "resources": {"cpus": 2.0}})
    bar = gantt(run_record(1.0), [placed]).bars[0]
    assert (bar.host, bar.worker, bar.resources) == ("node-1", "pid 7 thread w", {"cpus": 2.0})


@pytest.mark.parametrize(("span", "expected"), [
    (1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.61, [0.0, 0.2, 0.4, 0.6]),
    (7.0, [0.0, 2.0, 4.0, 6.0]),
    (300.0, [0.0, 100.0, 200.0, 300.0]),
])
def test_ticks_fall_on_round_times(span: float, expected: list[float]) -> None:
    got = ticks(span)
    assert [s for _, s in got] == pytest.approx(expected)
    assert all(0.0 <= pos <= 1.0 + 1e-9 for pos, _ in got)
    assert len(got) <= 6


def test_ticks_of_a_span_that_is_not_a_number_are_just_zero() -> None:
    assert ticks(math.nan) == [(0.0, 0.0)] and ticks(0.0) == [(0.0, 0.0)]
