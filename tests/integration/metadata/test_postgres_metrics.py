"""Logged metrics on a real PostgreSQL server: points with NaN and infinities, summaries, series, comparisons."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dosirak.metadata.driver import EngineDriver
from dosirak.metadata.store import get_store
from dosirak.pipelines.comparison import compare_runs
from tests._pipelines.experiments import three_runs

pytestmark = pytest.mark.integration


def test_logged_metrics_summaries_series_and_comparisons_on_postgresql(postgres_home: str, tmp_path: Path) -> None:
    a, b, _ = three_runs(tmp_path)  # steps log through the run, on PostgreSQL
    store = get_store()
    assert isinstance(store.sql, EngineDriver)
    assert [p[:2] for p in store.metrics.series(a.steps["score"].id, "loss").points] == [
        (0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]

    sid = a.steps["make"].id
    store.metrics.append(sid, [("x", 5, math.inf, 0.0), ("x", 1, math.nan, 0.0), ("x", 3, -2.5, 0.0)])
    store.metrics.append(sid, [("x", 4, 7.0, 0.0), ("x", 2, -math.inf, 0.0)])
    values = store.metrics.series(sid, "x").points
    assert [s for s, _, _ in values] == [1, 2, 3, 4, 5]
    assert math.isnan(values[0][1]) and [v for _, v, _ in values[1:]] == [-math.inf, -2.5, 7.0, math.inf]
    summary = next(s for s in store.metrics.summaries([a.id]) if s.key == "make.x")
    assert (summary.latest, summary.latest_step, summary.lowest, summary.highest, summary.points) == (
        math.inf, 5, -2.5, 7.0, 5)

    store.metrics.append(sid, [("long", i, float(i % 97), 0.0) for i in range(20_000)])
    long = store.metrics.series(sid, "long", max_points=100)
    assert long.downsampled and long.total == 20_000 and len(long.points) <= 100
    assert {v for _, v, _ in long.points} >= {0.0, 96.0}
    assert [s for s, _, _ in store.metrics.series(sid, "long", after_step=19_997).points] == [19_998, 19_999]

    store.metrics.append(sid, [], [("step", sid, "note", {"a": [1, 2]}), ("step", sid, "note", "newer")])
    assert store.metrics.logged_metadata("step", sid) == {"note": "newer"}
    compared = compare_runs(store, [a.id, b.id])
    assert next(m for m in compared["metrics"] if m["key"] == "make.x")["latest"] == ["Infinity", None]
    assert {r["id"] for r in store.metrics.pipeline_runs("experiment")} >= {a.id, b.id}
