"""Metrics and metadata that steps log: points, per-step summaries, and logged JSON.

A step logs points (``dk.log_metric``); the process driving the run appends them here in
batches (:meth:`Metrics.append`), and each batch upserts its metrics' summaries in the
same transaction, so a runs table or a comparison reads one row per (step run, metric)
and never the series. A series is read for charts, downsampled in SQL when it is long
(each bucket keeps its lowest and highest point, a NaN if it has one, and the series keeps
its first and last point), streaming the rows rather than holding them. SQL text on the store's driver: SQLite and PostgreSQL alike.

NaN is stored as NULL (SQLite cannot hold NaN); +-inf are stored as they are.

Example::

    store.metrics.append(step_run_id, [("loss", 0, 0.9, time.time()), ("loss", 1, 0.5, time.time())])
    store.metrics.summaries([run_id])          # [MetricSummary(... name='loss', latest=0.5 ...)]
    store.metrics.series(step_run_id, "loss")  # MetricSeries(points=[(0, 0.9, ...), (1, 0.5, ...)], ...)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, in_list
from dosirak.metadata.records import MetricSeries, MetricSummary
from dosirak.metadata.timeutil import utcnow

#: One logged point: (metric name, step, value, wall time in seconds since the epoch).
Point = tuple[str, int, float, float]
#: One logged metadata entry: (target "step"|"artifact"|"model", target id, key, JSON value).
Entry = tuple[str, str, str, Any]
TARGETS = ("step", "artifact", "model")

_INSERT_POINT = tables.METRICS.insert_sql()
_INSERT_METADATA = tables.LOGGED_METADATA.insert_sql()
_NEWER = "excluded.latest_step >= metric_summaries.latest_step"
_UPSERT_SUMMARY = (
    "INSERT INTO metric_summaries (step_run_id, name, run_id, latest, latest_step, lowest, highest, points) "
    "VALUES (:step_run_id, :name, :run_id, :latest, :latest_step, :lowest, :highest, :points) "
    "ON CONFLICT (step_run_id, name) DO UPDATE SET "
    f"latest = CASE WHEN {_NEWER} THEN excluded.latest ELSE metric_summaries.latest END, "
    f"latest_step = CASE WHEN {_NEWER} THEN excluded.latest_step ELSE metric_summaries.latest_step END, "
    "lowest = CASE WHEN metric_summaries.lowest IS NULL OR excluded.lowest < metric_summaries.lowest "
    "THEN COALESCE(excluded.lowest, metric_summaries.lowest) ELSE metric_summaries.lowest END, "
    "highest = CASE WHEN metric_summaries.highest IS NULL OR excluded.highest > metric_summaries.highest "
    "THEN COALESCE(excluded.highest, metric_summaries.highest) ELSE metric_summaries.highest END, "
    "points = metric_summaries.points + excluded.points"
)
_SELECT_SUMMARY = ("SELECT metric_summaries.*, step_runs.name AS step_name FROM metric_summaries "
                   "JOIN step_runs ON step_runs.id = metric_summaries.step_run_id ")
_SERIES_WHERE = "step_run_id = :sid AND name = :name"
_AFTER = " AND step > :after"

def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _value(stored: float | None) -> float:
    return math.nan if stored is None else float(stored)


def summarise(points: Iterable[Point]) -> dict[str, list[Any]]:
    """Per metric name: [latest, latest_step, lowest, highest, count] of ``points`` (in logged order).

    ``latest`` is the value at the highest step (the last one logged at that step);
    ``lowest``/``highest`` are over finite values only (None when there is none).
    """
    out: dict[str, list[Any]] = {}
    isfinite = math.isfinite
    for name, step, value, _ in points:
        s = out.get(name)
        if s is None:
            finite = value if isfinite(value) else None
            out[name] = [value, step, finite, finite, 1]
            continue
        if step >= s[1]:
            s[0], s[1] = value, step
        if isfinite(value):
            if s[2] is None or value < s[2]:
                s[2] = value
            if s[3] is None or value > s[3]:
                s[3] = value
        s[4] += 1
    return out


class Metrics(Concept):
    """Logged metric points, their per-step summaries, and logged metadata."""

    def append(self, step_run_id: str, points: Sequence[Point], metadata: Sequence[Entry] = ()) -> None:
        """Append ``points`` and ``metadata`` logged by a step run, upserting summaries, in one transaction."""
        if not points and not metadata:
            return
        summaries = summarise(points)
        now = utcnow()
        with self.sql.write() as cur:
            run_id = self._run_of(cur, step_run_id)
            if points:
                cur.executemany(_INSERT_POINT, [
                    {"step_run_id": step_run_id, "name": n, "step": s, "number": v if v == v else None,  # NaN: NULL
                     "wall_time": t}
                    for n, s, v, t in points], plain=True)
                cur.executemany(_UPSERT_SUMMARY, [
                    {"step_run_id": step_run_id, "name": n, "run_id": run_id, "latest": _number(s[0]),
                     "latest_step": s[1], "lowest": s[2], "highest": s[3], "points": s[4]}
                    for n, s in summaries.items()])
            if metadata:
                for target, _, _, _ in metadata:
                    if target not in TARGETS:
                        raise StoreError(f"logged metadata target must be one of {', '.join(TARGETS)}, "
                                         f"got '{target}'")
                cur.executemany(_INSERT_METADATA, [
                    {"step_run_id": step_run_id, "target": target, "target_id": target_id, "key": key,
                     "entry": entry, "created_at": now}
                    for target, target_id, key, entry in metadata])

    @staticmethod
    def _run_of(cur: Cursor, step_run_id: str) -> str:
        rows = cur.execute("SELECT run_id FROM step_runs WHERE id = :sid", {"sid": step_run_id})
        if not rows:
            raise NotFoundError(f"no step run with id '{step_run_id}'")
        return str(rows[0]["run_id"])

    def summaries(self, run_ids: Sequence[str]) -> list[MetricSummary]:
        """The metric summaries of every step of the runs ``run_ids``, by run, step name and metric name."""
        if not run_ids:
            return []
        out: list[MetricSummary] = []
        with self.sql.read() as cur:
            for start in range(0, len(run_ids), 500):
                in_runs, params = in_list("run", list(run_ids[start:start + 500]))
                out += [_summary(r) for r in cur.execute(
                    f"{_SELECT_SUMMARY} WHERE metric_summaries.run_id IN {in_runs}", params)]
        out.sort(key=lambda s: (s.run_id, s.step_name, s.name))
        return out

    def pipeline_summaries(self, pipeline_name: str) -> list[MetricSummary]:
        """The metric summaries of every run of the pipeline ``pipeline_name``."""
        with self.sql.read() as cur:
            rows = cur.execute(
                f"{_SELECT_SUMMARY} JOIN pipeline_runs ON pipeline_runs.id = metric_summaries.run_id "
                "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id WHERE pipelines.name = :name",
                {"name": pipeline_name})
        return [_summary(r) for r in rows]

    def pipeline_latest(self, pipeline_name: str) -> dict[str, dict[str, float]]:
        """Run id -> metric key (``step.metric``) -> its latest value, for every run of the pipeline.

        What a runs table and a trend chart need, read as plain tuples: fast for thousands of
        runs times tens of metrics.
        """
        out: dict[str, dict[str, float]] = {}
        with self.sql.read() as cur:
            for run_id, step_name, name, latest in cur.stream(
                    "SELECT metric_summaries.run_id, step_runs.name, metric_summaries.name, metric_summaries.latest "
                    "FROM metric_summaries JOIN step_runs ON step_runs.id = metric_summaries.step_run_id "
                    "JOIN pipeline_runs ON pipeline_runs.id = metric_summaries.run_id "
                    "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id WHERE pipelines.name = :name",
                    {"name": pipeline_name}):
                by_key = out.get(run_id)
                if by_key is None:
                    by_key = out[run_id] = {}
                by_key[f"{step_name}.{name}"] = math.nan if latest is None else float(latest)
        return out

    def pipeline_runs(self, pipeline_name: str) -> list[dict[str, Any]]:
        """Every run of ``pipeline_name`` with what a runs table compares (no DAG or config), newest first.

        Each row: id, name, status, start_time, end_time, parameters. Raises NotFoundError
        for an unknown pipeline.
        """
        with self.sql.read() as cur:
            found = cur.execute("SELECT id FROM pipelines WHERE name = :name", {"name": pipeline_name})
            if not found:
                raise NotFoundError(f"no pipeline named '{pipeline_name}'; `dosirak pipeline list` shows the known "
                                    "ones")
            return cur.execute("SELECT id, name, status, start_time, end_time, parameters FROM pipeline_runs "
                               "WHERE pipeline_id = :pid ORDER BY start_time DESC, id", {"pid": found[0]["id"]})

    def series(self, step_run_id: str, name: str, *, max_points: int = 1000,
               after_step: int | None = None) -> MetricSeries:
        """The points of metric ``name`` of a step run, ordered by step, at most ``max_points`` of them.

        A longer series is downsampled as it streams from the database (never held whole):
        its points are cut into equal buckets, each keeping its lowest and highest point
        (and a NaN point if it has one), and the series keeps its first and last point. ``after_step``: only the
        points with a higher step (what a live chart has not drawn yet).
        """
        if max_points < 2:
            raise StoreError(f"max_points must be at least 2, got {max_points}")
        params: dict[str, Any] = {"sid": step_run_id, "name": name}
        where = _SERIES_WHERE
        if after_step is not None:
            params["after"] = after_step
            where += _AFTER
        with self.sql.read() as cur:
            total = int(cur.execute(f"SELECT COUNT(*) AS n FROM metrics WHERE {where}", params)[0]["n"])
            rows = cur.stream(f"SELECT step, number, wall_time FROM metrics WHERE {where} ORDER BY step, id",
                              params)
            if total <= max_points:
                points = [(int(step), _value(number), float(wall_time)) for step, number, wall_time in rows]
            else:
                points = _downsample(rows, total, max_points)
        return MetricSeries(points=points, total=total, downsampled=total > max_points)

    def logged_metadata(self, target: str, target_id: str) -> dict[str, Any]:
        """The metadata logged about one step run, artifact or model version: key -> the newest entry."""
        if target not in TARGETS:
            raise StoreError(f"logged metadata target must be one of {', '.join(TARGETS)}, got '{target}'")
        with self.sql.read() as cur:
            rows = cur.execute("SELECT key, entry FROM logged_metadata WHERE target = :target "
                               "AND target_id = :target_id ORDER BY id", {"target": target, "target_id": target_id})
        return {r["key"]: r["entry"] for r in rows}


def _downsample(rows: Iterable[tuple[Any, ...]], total: int, max_points: int) -> list[tuple[int, float, float]]:
    """At most ``max_points`` of ``total`` rows ``(step, number, wall_time)`` read once, in step order.

    The rows are cut into equal runs (buckets); each keeps its lowest and highest point and
    its first NaN (NULL), and the series keeps its first and last point. Only the kept
    points are held, never the whole series.
    """
    buckets = (max_points - 2) // 3  # each keeps up to 3 points, plus the first and last
    kept: list[tuple[Any, ...]] = []  # (rank, step, number, wall_time)
    current = -1
    low: tuple[Any, ...] | None = None
    high: tuple[Any, ...] | None = None
    nan: tuple[Any, ...] | None = None
    for rank, row in enumerate(rows):
        bucket = rank * buckets // total if buckets else -1
        if bucket != current:
            kept += [p for p in (low, high, nan) if p is not None]
            current, low, high, nan = bucket, None, None, None
        if rank == 0 or rank == total - 1:
            kept.append((rank, *row))
            continue
        if not buckets:
            continue
        number = row[1]
        if number is None:
            if nan is None:
                nan = (rank, *row)
            continue
        if low is None or number < low[2]:
            low = (rank, *row)
        if high is None or number > high[2]:
            high = (rank, *row)
    kept += [p for p in (low, high, nan) if p is not None]
    kept.sort(key=lambda p: p[0])
    out: list[tuple[int, float, float]] = []
    last = -1
    for rank, step, number, wall_time in kept:
        if rank != last:
            out.append((int(step), _value(number), float(wall_time)))
            last = rank
    return out


def _summary(row: Mapping[str, Any]) -> MetricSummary:
    return MetricSummary(
        run_id=row["run_id"], step_run_id=row["step_run_id"], step_name=row["step_name"], name=row["name"],
        latest=_value(row["latest"]), latest_step=int(row["latest_step"]),
        lowest=None if row["lowest"] is None else float(row["lowest"]),
        highest=None if row["highest"] is None else float(row["highest"]), points=int(row["points"]))


__all__ = ["TARGETS", "Entry", "Metrics", "Point", "summarise"]
