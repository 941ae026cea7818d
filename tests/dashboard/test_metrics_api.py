"""The experiment API: metric summaries and series, runs tables, trends and comparisons, with checked queries."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dosirak.pipelines.comparison import compare_runs
from tests.dashboard.client import AppClient
from tests.dashboard.seeding import seed_run


def started_ago(store: Any, run_id: str, seconds: float) -> None:
    from dosirak.metadata.timeutil import utcnow

    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET start_time = :start_time WHERE id = :id",
                    {"start_time": utcnow() - timedelta(seconds=seconds), "id": run_id})


@pytest.fixture
def runs(store: Any, dosirak_home: Path) -> dict[str, Any]:
    """Three runs of 'training' with different lr and logged metrics; one failed without any."""
    out: dict[str, Any] = {}
    for i, (lr, final) in enumerate(((0.1, 0.5), (0.01, 0.2), (0.001, math.nan))):
        run_id, steps = seed_run(store, dosirak_home, parameters={"lr": lr, "opt": "sgd" if i else "adam"})
        started_ago(store, run_id, 100 - i)  # oldest first
        store.metrics.append(steps["train"], [("loss", s, 1.0 - s / 10, 0.0) for s in range(5)]
                             + [("loss", 5, final, 0.0), ("val/acc", 0, math.inf if i == 2 else 0.5 + i / 10, 0.0)])
        out[f"run{i}"] = run_id
        out[f"steps{i}"] = steps
    failed, _ = seed_run(store, dosirak_home, parameters={"lr": 0.5}, statuses={"train": "failed",
                         "evaluate": "skipped"}, run_status="failed")
    out["failed"] = failed
    return out


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and fragment in body["message"], body


def test_a_runs_metrics_are_its_steps_summaries_with_non_finite_numbers_as_strings(
        client: AppClient, runs: dict[str, Any]) -> None:
    body = ok(client.get(f"/api/runs/{runs['run2'][:8]}/metrics"))
    assert body["run_id"] == runs["run2"] and body["status"] == "completed"
    by_key = {m["key"]: m for m in body["metrics"]}
    assert set(by_key) == {"train.loss", "train.val/acc"}
    loss = by_key["train.loss"]
    assert (loss["latest"], loss["latest_step"], loss["lowest"], loss["highest"], loss["points"]) == (
        "NaN", 5, pytest.approx(0.6), 1.0, 6)
    assert by_key["train.val/acc"]["latest"] == "Infinity" and by_key["train.val/acc"]["highest"] is None
    assert loss["step"] == "train" and loss["step_run_id"] == runs["steps2"]["train"]


def test_a_series_is_ordered_by_step_downsampled_on_request_and_read_after_a_step(
        client: AppClient, store: Any, runs: dict[str, Any]) -> None:
    body = ok(client.get(f"/api/runs/{runs['run0']}/metrics/train/loss"))
    assert body["key"] == "train.loss" and body["total"] == 6 and not body["downsampled"]
    assert [p[:2] for p in body["points"]] == [[0, 1.0], [1, 0.9], [2, 0.8], [3, 0.7], [4, 0.6], [5, 0.5]]
    small = ok(client.get(f"/api/runs/{runs['run0']}/metrics/train/loss?max_points=2"))
    assert small["downsampled"] and [p[0] for p in small["points"]] == [0, 5]
    newer = ok(client.get(f"/api/runs/{runs['run0']}/metrics/train/loss?after_step=3"))
    assert [p[0] for p in newer["points"]] == [4, 5] and newer["total"] == 2
    none_yet = ok(client.get(f"/api/runs/{runs['run0']}/metrics/train/loss?after_step=5"))
    assert none_yet["points"] == []
    slashed = ok(client.get(f"/api/runs/{runs['run2']}/metrics/train/val/acc"))
    assert slashed["name"] == "val/acc" and slashed["points"][0][1] == "Infinity"


@pytest.mark.parametrize(("query", "fragment"), [
    ("max_points=1", "between 2 and 10000"),
    ("max_points=10001", "between 2 and 10000"),
    ("max_points=ten", "whole number"),
    ("after_step=-2", "between -1 and"),
    ("after_step=99999999999999999999999", "between -1 and"),
    ("max_points=5&max_points=6", "given 2 times"),
    ("colour=red", "unknown query parameter 'colour'"),
])
def test_bad_series_queries_are_400(client: AppClient, runs: dict[str, Any], query: str, fragment: str) -> None:
    refused(client.get(f"/api/runs/{runs['run0']}/metrics/train/loss?{query}"), 400, fragment)


def test_unknown_runs_steps_and_metrics_are_404(client: AppClient, runs: dict[str, Any]) -> None:
    refused(client.get("/api/runs/ffffffff/metrics"), 404, "no run with id")
    refused(client.get(f"/api/runs/{runs['run0']}/metrics/nostep/loss"), 404, "has no step 'nostep'")
    refused(client.get(f"/api/runs/{runs['run0']}/metrics/train/nometric"), 404, "logged no metric 'nometric'")


def test_the_runs_table_has_parameter_and_metric_columns_sorted_and_filtered(
        client: AppClient, runs: dict[str, Any]) -> None:
    body = ok(client.get("/api/pipelines/training/runs-table"))
    assert body["pipeline"] == "training" and body["total"] == 4
    assert body["param_columns"] == ["lr", "opt"] and body["metric_columns"] == ["train.loss", "train.val/acc"]
    assert [r["id"] for r in body["runs"]] == [runs["failed"], runs["run2"], runs["run1"], runs["run0"]]
    first = body["runs"][3]
    assert first["params"] == {"lr": 0.1, "opt": "adam"} and first["metrics"] == {"train.loss": 0.5,
                                                                                    "train.val/acc": 0.5}
    assert isinstance(first["start_time"], str) and first["duration_s"] is not None

    by_loss = ok(client.get("/api/pipelines/training/runs-table?sort=metric:train.loss&order=asc"))
    # no value (NaN, or none logged) comes last, in the default order (newest first)
    assert [r["id"] for r in by_loss["runs"]] == [runs["run1"], runs["run0"], runs["failed"], runs["run2"]]
    by_lr = ok(client.get("/api/pipelines/training/runs-table?sort=param:lr&order=desc&limit=2&offset=1"))
    assert [r["id"] for r in by_lr["runs"]] == [runs["run0"], runs["run1"]] and by_lr["total"] == 4

    low = ok(client.get("/api/pipelines/training/runs-table", params={"filter": "metric:train.loss<0.3"}))
    assert [r["id"] for r in low["runs"]] == [runs["run1"]]
    both = ok(client.get("/api/pipelines/training/runs-table",
                         params=[("filter", "param:opt=sgd"), ("filter", "metric:train.val/acc>0.55")]))
    assert {r["id"] for r in both["runs"]} == {runs["run1"], runs["run2"]}
    assert [r["id"] for r in ok(client.get("/api/pipelines/training/runs-table",
                                           params={"filter": "param:lr=1e-2"}))["runs"]] == [runs["run1"]]
    failed = ok(client.get("/api/pipelines/training/runs-table", params={"filter": "status=failed"}))
    assert [r["id"] for r in failed["runs"]] == [runs["failed"]]


@pytest.mark.parametrize(("params", "fragment"), [
    ({"sort": "param:nope"}, "unknown column 'param:nope'"),
    ({"sort": "metric:train.nope"}, "unknown column 'metric:train.nope'"),
    ({"sort": "start_time; DROP TABLE runs"}, "unknown column"),
    ({"order": "sideways"}, "order must be asc or desc"),
    ({"filter": "lr=0.1"}, "must be param:NAME=VALUE"),
    ({"filter": "param:lr"}, "must be param:NAME=VALUE"),
    ({"filter": "metric:train.loss>abc"}, "metric:KEY>NUMBER"),
    ({"filter": "metric:train.loss>inf"}, "metric:KEY>NUMBER"),
    ({"filter": "metric:train.nope<1"}, "metric:KEY>NUMBER"),
    ({"filter": "status=happy"}, "filter status must be one of"),
    ({"limit": "0"}, "between 1 and 500"),
    ({"offset": "-1"}, "between 0 and"),
    ({"sort": "x" * 2000}, "longer than 1024"),
])
def test_bad_runs_table_queries_are_400(client: AppClient, runs: dict[str, Any], params: dict[str, str],
                                        fragment: str) -> None:
    refused(client.get("/api/pipelines/training/runs-table", params=params), 400, fragment)


def test_an_unknown_pipeline_is_404(client: AppClient, runs: dict[str, Any]) -> None:
    refused(client.get("/api/pipelines/nope/runs-table"), 404, "no pipeline named 'nope'")
    refused(client.get("/api/pipelines/nope/metric-trend?metric=train.loss"), 404, "no pipeline named 'nope'")


def test_a_metric_trend_follows_run_time_or_a_parameter(client: AppClient, runs: dict[str, Any]) -> None:
    by_time = ok(client.get("/api/pipelines/training/metric-trend?metric=train.loss"))
    assert by_time["metric"] == "train.loss" and by_time["x"] == "start_time"
    assert [p["run_id"] for p in by_time["points"]] == [runs["run0"], runs["run1"], runs["run2"]]
    assert [p["y"] for p in by_time["points"]] == [0.5, 0.2, "NaN"]
    by_lr = ok(client.get("/api/pipelines/training/metric-trend?metric=train.loss&x=param:lr"))
    assert [(p["x"], p["y"]) for p in by_lr["points"]] == [(0.001, "NaN"), (0.01, 0.2), (0.1, 0.5)]
    newest = ok(client.get("/api/pipelines/training/metric-trend?metric=train.loss&limit=1"))
    assert [p["run_id"] for p in newest["points"]] == [runs["run2"]]
    refused(client.get("/api/pipelines/training/metric-trend"), 400, "metric is required")
    refused(client.get("/api/pipelines/training/metric-trend?metric=train.nope"), 400, "unknown column")
    refused(client.get("/api/pipelines/training/metric-trend?metric=train.loss&x=status"), 400, "x must be")
    refused(client.get("/api/pipelines/training/metric-trend?metric=train.loss&limit=10001"), 400, "between 1")


def test_compare_answers_what_the_cli_prints(client: AppClient, store: Any, runs: dict[str, Any]) -> None:
    ids = [runs["run0"], runs["run1"][:8]]
    body = ok(client.get("/api/compare", params={"runs": ",".join(ids)}))
    assert body == ok(client.get("/api/compare", params={"runs": ",".join(ids)}))
    import orjson

    assert body == orjson.loads(orjson.dumps(compare_runs(store, ids)))
    assert [p["name"] for p in body["parameters"]] == ["lr", "opt"]
    assert body["parameters"][0] == {"name": "lr", "values": [0.1, 0.01], "differs": True}


@pytest.mark.parametrize(("query", "status", "fragment"), [
    ("", 400, "runs must list 2 to 20"),
    ("runs=abcd", 400, "runs must list 2 to 20"),
    ("runs=" + ",".join(["abcd"] * 21), 400, "runs must list 2 to 20"),
    ("runs=abcd,../../etc", 400, "is not a run id"),
    ("runs=abcd,", 400, "is not a run id"),
    ("runs=ffffffff,eeeeeeee", 404, "no run with id"),
])
def test_bad_compare_queries_are_refused(client: AppClient, runs: dict[str, Any], query: str, status: int,
                                         fragment: str) -> None:
    refused(client.get(f"/api/compare?{query}"), status, fragment)


def test_comparing_a_run_with_itself_is_400(client: AppClient, runs: dict[str, Any]) -> None:
    refused(client.get(f"/api/compare?runs={runs['run0']},{runs['run0'][:8]}"), 400, "given twice")
