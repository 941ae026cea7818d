"""The JSON API behind the experiment pages: metric series, runs tables, trends and comparisons.

* ``GET /api/runs/{run_id}/metrics``: a run's metric summaries, one per (step, metric);
* ``GET /api/runs/{run_id}/metrics/{step}/{name}?max_points=1000&after_step=N``: one series,
  downsampled (each bucket's min and max kept) past ``max_points`` (2-10000); ``after_step``
  gives only newer points, for a live chart;
* ``GET /api/pipelines/{name}/runs-table?limit=&offset=&sort=&order=&filter=``: a pipeline's
  runs with their parameters and metric summaries as columns, sorted and filtered
  (``sort``: ``start_time``, ``duration_s``, ``status``, ``param:NAME``, ``metric:KEY``;
  ``filter``, repeatable: ``param:NAME=VALUE``, ``metric:KEY>NUMBER``, ``metric:KEY<NUMBER``,
  ``status=VALUE``);
* ``GET /api/pipelines/{name}/metric-trend?metric=KEY&x=start_time|param:NAME&limit=1000``:
  one metric's latest value across runs;
* ``GET /api/compare?runs=ID,ID[,...]``: exactly what ``dosirak runs compare --json`` prints.

Every query parameter is checked: an unknown or repeated one, a number out of range, an
expression that does not parse or names a column the pipeline does not have, is a 400
``{"error", "message"}``; an unknown run or pipeline a 404. Numbers that are not finite are
the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. A metric ``KEY`` is ``step.metric``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dosirak.dashboard.context import dashboard_of
from dosirak.dashboard.endpoint import json_response
from dosirak.dashboard.resources import MAX_OFFSET, int_param
from dosirak.errors import DashboardError, NotFoundError
from dosirak.metadata.records import MetricSummary
from dosirak.pipelines.comparison import MAX_RUNS, compare_runs
from dosirak.pipelines.metrics import MAX_STEP, json_number
from dosirak.statuses import RUN_STATUSES, is_run_status

MAX_SERIES_POINTS = 10_000
MAX_TABLE_LIMIT = 500
MAX_TREND_LIMIT = 10_000
#: The longest query value taken (a filter, a sort column, a list of run ids).
MAX_QUERY_VALUE = 1024
_RUN_ID = re.compile(r"[0-9a-fA-F-]{4,36}")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _store(request: Request) -> Any:
    return dashboard_of(request).store


def _query(request: Request, allowed: Iterable[str], repeatable: tuple[str, ...] = ()) -> None:
    """400 for a query parameter the endpoint does not take, given twice, or too long."""
    names = set(allowed)
    for key in request.query_params:
        if key not in names:
            raise DashboardError(f"unknown query parameter '{key[:40]}'; this endpoint takes "
                                 f"{', '.join(sorted(names)) or 'none'}")
        values = request.query_params.getlist(key)
        if len(values) > 1 and key not in repeatable:
            raise DashboardError(f"query parameter '{key}' is given {len(values)} times; give it once")
        if any(len(v) > MAX_QUERY_VALUE for v in values):
            raise DashboardError(f"query parameter '{key}' is longer than {MAX_QUERY_VALUE} characters")


def _summary(s: MetricSummary) -> dict[str, Any]:
    return {"key": s.key, "step": s.step_name, "step_run_id": s.step_run_id, "name": s.name,
            "latest": json_number(s.latest), "latest_step": s.latest_step, "lowest": json_number(s.lowest),
            "highest": json_number(s.highest), "points": s.points}


# -- a run's metrics ----------------------------------------------------------------------
def run_metrics(request: Request) -> Response:
    _query(request, ())
    store = _store(request)
    run = store.runs.get_run(request.path_params["run_id"])
    order = {s.name: i for i, s in enumerate(store.runs.get_steps(run.id))}
    found = sorted(store.metrics.summaries([run.id]), key=lambda s: (order.get(s.step_name, len(order)), s.name))
    return json_response({"run_id": run.id, "status": run.status, "metrics": [_summary(s) for s in found]})


def metric_series(request: Request) -> Response:
    _query(request, ("max_points", "after_step"))
    store = _store(request)
    max_points = int_param(request.query_params, "max_points", 1000, 2, MAX_SERIES_POINTS)
    after = request.query_params.get("after_step")
    after_step = None if after in (None, "") else int_param(request.query_params, "after_step", 0, -1, MAX_STEP)
    run = store.runs.get_run(request.path_params["run_id"])
    step_name, name = request.path_params["step"], request.path_params["metric"]
    steps = {s.name: s for s in store.runs.get_steps(run.id)}
    if step_name not in steps:
        raise NotFoundError(f"run {run.id[:8]} has no step '{step_name[:100]}'")
    series = store.metrics.series(steps[step_name].id, name, max_points=max_points, after_step=after_step)
    if series.total == 0 and after_step is None:
        raise NotFoundError(f"step '{step_name}' of run {run.id[:8]} logged no metric '{name[:100]}'")
    return json_response({"key": f"{step_name}.{name}", "step": step_name, "name": name, "total": series.total,
                          "downsampled": series.downsampled,
                          "points": [[s, json_number(v), t] for s, v, t in series.points]})


# -- a pipeline's runs as a table ---------------------------------------------------------
class _Table:
    """A pipeline's runs with their parameters and latest metric values, as columns."""

    def __init__(self, store: Any, pipeline: str) -> None:
        self.rows = store.metrics.pipeline_runs(pipeline)
        self.metrics: dict[str, dict[str, float]] = store.metrics.pipeline_latest(pipeline)
        self.params = sorted({p for r in self.rows for p in r["parameters"]})
        self.keys = sorted({k for by_key in self.metrics.values() for k in by_key})

    def column(self, spec: str) -> Callable[[dict[str, Any]], Any]:
        """The value of column ``spec`` in a row; a 400 for a column the pipeline does not have."""
        if spec in ("start_time", "status", "name"):
            return lambda r: r[spec]
        if spec == "duration_s":
            return _duration
        kind, _, name = spec.partition(":")
        if kind == "param" and name in self.params:
            return lambda r: r["parameters"].get(name)
        if kind == "metric" and name in self.keys:
            return lambda r: self.metrics.get(r["id"], {}).get(name)
        raise DashboardError(f"unknown column '{spec[:100]}'; columns are start_time, duration_s, status, name, "
                             f"param:NAME ({', '.join(self.params) or 'no parameters'}) and metric:KEY "
                             f"({', '.join(self.keys[:20]) or 'no metrics'})")

    def condition(self, expr: str) -> Callable[[dict[str, Any]], bool]:
        """A filter ``param:NAME=VALUE``, ``metric:KEY>NUMBER``, ``metric:KEY<NUMBER`` or ``status=VALUE``."""
        if expr.startswith("status="):
            status = expr[len("status="):]
            if not is_run_status(status):
                raise DashboardError(f"filter status must be one of {', '.join(RUN_STATUSES)}, got '{status[:40]}'")
            return lambda r: bool(r["status"] == status)
        if expr.startswith("param:"):
            name, eq, raw = expr[len("param:"):].partition("=")
            if not eq:
                raise DashboardError(f"filter '{expr[:100]}' must be param:NAME=VALUE")
            value_of = self.column(f"param:{name}")
            return lambda r: _param_equals(value_of(r), raw)
        if expr.startswith("metric:"):
            rest = expr[len("metric:"):]
            for at, op in ((i, c) for i, c in enumerate(rest) if c in "<>"):
                key, number = rest[:at], rest[at + 1:]
                if key in self.keys and _NUMBER.fullmatch(number):
                    bound = float(number)
                    if not math.isfinite(bound):
                        break
                    value_of = self.column(f"metric:{key}")
                    if op == ">":
                        return lambda r: _number_of(value_of(r)) > bound
                    return lambda r: _number_of(value_of(r)) < bound
            raise DashboardError(f"filter '{expr[:100]}' must be metric:KEY>NUMBER or metric:KEY<NUMBER with a "
                                 f"KEY the pipeline logged ({', '.join(self.keys[:20]) or 'none'})")
        raise DashboardError(f"filter '{expr[:100]}' must be param:NAME=VALUE, metric:KEY>NUMBER, "
                             "metric:KEY<NUMBER or status=VALUE")

    def row(self, r: dict[str, Any]) -> dict[str, Any]:
        return {"id": r["id"], "name": r["name"], "status": r["status"], "start_time": r["start_time"].isoformat(),
                "duration_s": _duration(r), "params": r["parameters"],
                "metrics": {k: json_number(v) for k, v in self.metrics.get(r["id"], {}).items()}}


def _duration(r: dict[str, Any]) -> float | None:
    end: datetime | None = r["end_time"]
    return None if end is None else (end - r["start_time"]).total_seconds()


def _number_of(value: Any) -> float:
    """A metric value for comparing: NaN (never matches) when missing."""
    return math.nan if value is None else float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _param_equals(value: Any, raw: str) -> bool:
    """Whether a run's parameter is VALUE: text as written, anything else as JSON (``0.01`` = ``1e-2``)."""
    if isinstance(value, str):
        return value == raw
    try:
        wanted = json.loads(raw)
    except ValueError:
        return False
    if _is_number(value) and _is_number(wanted):
        return bool(value == wanted)
    return json.dumps(value, sort_keys=True) == json.dumps(wanted, sort_keys=True)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Sortable whatever the type: numbers, then text, then the rest as JSON; missing/NaN handled by the caller."""
    if isinstance(value, bool):
        return (2, str(value).lower())
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True, default=str))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ordered(rows: list[dict[str, Any]], value_of: Callable[[dict[str, Any]], Any],
             descending: bool) -> list[dict[str, Any]]:
    """``rows`` by a column, rows without a value last whichever the order."""
    present = [r for r in rows if not _missing(value_of(r))]
    absent = [r for r in rows if _missing(value_of(r))]
    present.sort(key=lambda r: _sort_key(value_of(r)), reverse=descending)
    return present + absent


def runs_table(request: Request) -> Response:
    _query(request, ("limit", "offset", "sort", "order", "filter"), repeatable=("filter",))
    query = request.query_params
    limit = int_param(query, "limit", 50, 1, MAX_TABLE_LIMIT)
    offset = int_param(query, "offset", 0, 0, MAX_OFFSET)
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise DashboardError(f"order must be asc or desc, got '{order[:40]}'")
    pipeline = request.path_params["name"]
    table = _Table(_store(request), pipeline)
    sort_by = table.column(query.get("sort") or "start_time")
    conditions = [table.condition(expr) for expr in query.getlist("filter")]
    rows = [r for r in table.rows if all(c(r) for c in conditions)]
    rows = _ordered(rows, sort_by, order == "desc")
    return json_response({"pipeline": pipeline, "total": len(rows), "param_columns": table.params,
                          "metric_columns": table.keys,
                          "runs": [table.row(r) for r in rows[offset:offset + limit]]})


def metric_trend(request: Request) -> Response:
    _query(request, ("metric", "x", "limit"))
    query = request.query_params
    limit = int_param(query, "limit", 1000, 1, MAX_TREND_LIMIT)
    metric = query.get("metric") or ""
    if not metric:
        raise DashboardError("metric is required: ?metric=STEP.METRIC (a key the pipeline logged)")
    x = query.get("x") or "start_time"
    if x != "start_time" and not x.startswith("param:"):
        raise DashboardError(f"x must be start_time or param:NAME, got '{x[:100]}'")
    pipeline = request.path_params["name"]
    table = _Table(_store(request), pipeline)
    y_of = table.column(f"metric:{metric}")
    x_of = table.column(x)
    rows = [r for r in table.rows if y_of(r) is not None][:limit]  # newest runs first
    rows = _ordered(rows, x_of, descending=False)
    return json_response({"metric": metric, "x": x, "points": [
        {"run_id": r["id"], "run_name": r["name"], "status": r["status"],
         "x": r["start_time"].isoformat() if x == "start_time" else x_of(r), "y": json_number(y_of(r))}
        for r in rows]})


# -- runs side by side --------------------------------------------------------------------
def compare(request: Request) -> Response:
    _query(request, ("runs",))
    raw = request.query_params.get("runs") or ""
    ids = [part.strip() for part in raw.split(",")] if raw else []
    if not 2 <= len(ids) <= MAX_RUNS:
        raise DashboardError(f"runs must list 2 to {MAX_RUNS} run ids separated by commas, got {len(ids)}")
    for run_id in ids:
        if not _RUN_ID.fullmatch(run_id):
            raise DashboardError(f"'{run_id[:40]}' is not a run id (4-36 hexadecimal digits and dashes)")
    return json_response(compare_runs(_store(request), ids))


def routes() -> list[BaseRoute]:
    return [
        Route("/api/runs/{run_id}/metrics", run_metrics, methods=["GET"]),
        Route("/api/runs/{run_id}/metrics/{step}/{metric:path}", metric_series, methods=["GET"]),
        Route("/api/pipelines/{name}/runs-table", runs_table, methods=["GET"]),
        Route("/api/pipelines/{name}/metric-trend", metric_trend, methods=["GET"]),
        Route("/api/compare", compare, methods=["GET"]),
    ]


__all__ = ["routes"]
