"""Logged metric points, their summaries, series (downsampled when long) and logged metadata, on both drivers."""

from __future__ import annotations

import math
import time
import uuid

import pytest

from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata.driver import EngineDriver, SqliteDriver, sqlite_path
from dosirak.metadata.store import MetadataStore, get_store


@pytest.fixture(params=["sqlite3", "sqlalchemy-engine"])
def store(request: pytest.FixtureRequest) -> MetadataStore:
    opened = get_store()
    if request.param == "sqlite3":
        assert isinstance(opened.sql, SqliteDriver)
        return opened
    url = f"{opened.url}?timeout=30"
    assert sqlite_path(url) is None
    engine_store = get_store(url)
    assert isinstance(engine_store.sql, EngineDriver)
    return engine_store


def new_run(store: MetadataStore, steps: tuple[str, ...] = ("train",), pipeline: str = "p") -> tuple[str, list[str]]:
    run_id = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in steps]
    store.runs.create_run(run_id=run_id, name=run_id[:8], pipeline_name=pipeline, parameters={}, config={}, dag={},
                          stack_name=None, orchestrator=None,
                          steps=[{"id": i, "name": n, "step_type": "t"} for i, n in zip(ids, steps, strict=True)])
    return run_id, ids


def test_points_and_their_summary_are_recorded_together(store: MetadataStore) -> None:
    run_id, (sid,) = new_run(store)
    t = time.time()
    store.metrics.append(sid, [("loss", 0, 0.9, t), ("loss", 1, 0.5, t), ("acc", 0, 0.1, t)])
    store.metrics.append(sid, [("loss", 2, 0.7, t), ("loss", 3, 0.2, t)])
    summaries = {s.key: s for s in store.metrics.summaries([run_id])}
    loss = summaries["train.loss"]
    assert (loss.latest, loss.latest_step, loss.lowest, loss.highest, loss.points) == (0.2, 3, 0.2, 0.9, 4)
    assert (loss.run_id, loss.step_run_id, loss.step_name, loss.name) == (run_id, sid, "train", "loss")
    assert summaries["train.acc"].latest == 0.1
    assert [p[:2] for p in store.metrics.series(sid, "loss").points] == [(0, 0.9), (1, 0.5), (2, 0.7), (3, 0.2)]


def test_nan_and_infinities_round_trip_and_stay_out_of_the_range(store: MetadataStore) -> None:
    run_id, (sid,) = new_run(store)
    t = time.time()
    store.metrics.append(sid, [("x", 0, math.inf, t), ("x", 1, -math.inf, t), ("x", 2, 1.5, t), ("x", 3, math.nan, t)])
    values = [v for _, v, _ in store.metrics.series(sid, "x").points]
    assert values[:3] == [math.inf, -math.inf, 1.5] and math.isnan(values[3])
    (summary,) = store.metrics.summaries([run_id])
    assert math.isnan(summary.latest) and summary.latest_step == 3
    assert (summary.lowest, summary.highest) == (1.5, 1.5)


def test_only_non_finite_values_leave_the_range_empty(store: MetadataStore) -> None:
    run_id, (sid,) = new_run(store)
    store.metrics.append(sid, [("x", 0, math.nan, 0.0), ("x", 1, math.inf, 0.0)])
    (summary,) = store.metrics.summaries([run_id])
    assert (summary.latest, summary.lowest, summary.highest, summary.points) == (math.inf, None, None, 2)


def test_decreasing_steps_keep_the_series_ordered_by_step_and_latest_at_the_highest(store: MetadataStore) -> None:
    run_id, (sid,) = new_run(store)
    store.metrics.append(sid, [("m", 10, 1.0, 0.0), ("m", 5, 2.0, 0.0)])
    store.metrics.append(sid, [("m", 7, 3.0, 0.0), ("m", 1, 4.0, 0.0)])
    assert [p[:2] for p in store.metrics.series(sid, "m").points] == [(1, 4.0), (5, 2.0), (7, 3.0), (10, 1.0)]
    (summary,) = store.metrics.summaries([run_id])
    assert (summary.latest, summary.latest_step) == (1.0, 10)


def test_series_after_a_step_gives_only_newer_points(store: MetadataStore) -> None:
    _, (sid,) = new_run(store)
    store.metrics.append(sid, [("m", i, float(i), 0.0) for i in range(10)])
    later = store.metrics.series(sid, "m", after_step=6)
    assert [p[0] for p in later.points] == [7, 8, 9] and later.total == 3


def test_a_long_series_keeps_each_buckets_extremes_and_its_ends(store: MetadataStore) -> None:
    _, (sid,) = new_run(store)
    points = [("m", i, math.sin(i / 7.0), 0.0) for i in range(5000)]
    points[1234] = ("m", 1234, 50.0, 0.0)  # a spike a chart must show
    points[3000] = ("m", 3000, -50.0, 0.0)
    points[4000] = ("m", 4000, math.nan, 0.0)
    store.metrics.append(sid, points)
    series = store.metrics.series(sid, "m", max_points=200)
    assert series.downsampled and series.total == 5000
    assert 2 < len(series.points) <= 200
    steps = [p[0] for p in series.points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 4999
    assert {1234, 3000, 4000} <= set(steps)
    tiny = store.metrics.series(sid, "m", max_points=3)
    assert [p[0] for p in tiny.points] == [0, 4999]


def test_a_million_point_series_is_downsampled_as_it_streams() -> None:
    store = get_store()
    _, (sid,) = new_run(store)
    for start in range(0, 1_000_000, 200_000):
        store.metrics.append(sid, [("loss", i, 1.0 / (i + 1), 0.0) for i in range(start, start + 200_000)])
    started = time.perf_counter()
    series = store.metrics.series(sid, "loss", max_points=1000)
    took = time.perf_counter() - started
    assert series.total == 1_000_000 and series.downsampled
    assert len(series.points) <= 1000
    assert series.points[0][:2] == (0, 1.0) and series.points[-1][0] == 999_999
    assert min(p[1] for p in series.points) == 1.0 / 1_000_000
    assert took < 10, f"downsampling 1M points took {took:.1f}s"


def test_logged_metadata_newest_entry_of_a_key_wins(store: MetadataStore) -> None:
    _, (sid,) = new_run(store)
    store.metrics.append(sid, [], [("step", sid, "lr", 0.1), ("artifact", "a1", "rows", 10)])
    store.metrics.append(sid, [], [("step", sid, "lr", {"value": 0.01}), ("model", "mv1", "note", [1, "x"])])
    assert store.metrics.logged_metadata("step", sid) == {"lr": {"value": 0.01}}
    assert store.metrics.logged_metadata("artifact", "a1") == {"rows": 10}
    assert store.metrics.logged_metadata("model", "mv1") == {"note": [1, "x"]}
    with pytest.raises(StoreError, match="target"):
        store.metrics.logged_metadata("run", sid)


def test_appending_to_an_unknown_step_run_is_an_error(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="no step run"):
        store.metrics.append("nope", [("m", 0, 1.0, 0.0)])


def test_pipeline_summaries_cover_every_run_of_the_pipeline(store: MetadataStore) -> None:
    a, (sa,) = new_run(store)
    b, (sb,) = new_run(store)
    _, (other,) = new_run(store, pipeline="q")
    for sid in (sa, sb, other):
        store.metrics.append(sid, [("m", 0, 1.0, 0.0)])
    assert {s.run_id for s in store.metrics.pipeline_summaries("p")} == {a, b}
    store.metrics.append(sa, [("nan", 0, math.nan, 0.0)])
    latest = store.metrics.pipeline_latest("p")
    assert latest[b] == {"train.m": 1.0} and latest[a]["train.m"] == 1.0 and math.isnan(latest[a]["train.nan"])
