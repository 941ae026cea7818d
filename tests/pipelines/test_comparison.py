"""Comparing runs: parameters (differences first), metrics, steps, code diffs, inputs, cache hits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dosirak.errors import ConfigError, NotFoundError
from dosirak.metadata.store import get_store
from dosirak.pipelines.comparison import MAX_RUNS, compare_runs
from tests._pipelines.experiments import three_runs


def test_a_comparison_shows_what_differs_between_runs(tmp_path: Path) -> None:
    a, b, c = three_runs(tmp_path)
    result = compare_runs(get_store(), [a.id, b.id[:8], c.id])
    json.dumps(result, allow_nan=False)  # plain JSON, whatever the values
    assert [r["id"] for r in result["runs"]] == [a.id, b.id, c.id]
    assert result["parameters"] == [{"name": "n", "values": [3, 4, 3], "differs": True},
                                    {"name": "lr", "values": [0.1, 0.1, 0.1], "differs": False}]
    (loss,) = result["metrics"]
    assert loss["key"] == "score.loss" and loss["differs"]
    assert loss["latest"] == [pytest.approx(1 / 3), pytest.approx(0.5 / 3), None]  # the rerun's step was cached
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["make"]["source_differs"] is False and steps["make"]["source_diffs"] == []
    assert steps["make"]["cache_hit"] == [False, False, True] and steps["score"]["cache_hit"] == [False, False, True]
    score = steps["score"]
    assert score["source_differs"] and len(score["source_diffs"]) == 1
    diff = score["source_diffs"][0]
    assert (diff["from_run"], diff["to_run"]) == (a.id, b.id)
    assert '-        dk.log_metric("loss", 1.0 / (epoch + 1), step=epoch)' in diff["diff"]
    assert '+        dk.log_metric("loss", 0.5 / (epoch + 1), step=epoch)' in diff["diff"]
    (values,) = score["inputs"]
    assert values["name"] == "values" and values["content_hash"][0] == values["content_hash"][2] != \
        values["content_hash"][1]
    assert all(isinstance(d, float) for d in score["duration_s"])


def test_non_finite_metric_values_are_strings_in_the_comparison(tmp_path: Path) -> None:
    a, b, _ = three_runs(tmp_path)
    store = get_store()
    store.metrics.append(a.steps["make"].id, [("odd", 0, math.nan, 0.0)])
    store.metrics.append(b.steps["make"].id, [("odd", 0, -math.inf, 0.0)])
    odd = next(m for m in compare_runs(store, [a.id, b.id])["metrics"] if m["key"] == "make.odd")
    assert odd["latest"] == ["NaN", "-Infinity"] and odd["lowest"] == [None, None]


def test_fewer_than_two_too_many_repeated_or_unknown_runs_are_refused(tmp_path: Path) -> None:
    a, b, _ = three_runs(tmp_path)
    store = get_store()
    with pytest.raises(ConfigError, match="at least 2 runs"):
        compare_runs(store, [a.id])
    with pytest.raises(ConfigError, match=f"at most {MAX_RUNS} runs"):
        compare_runs(store, [a.id] * (MAX_RUNS + 1))
    with pytest.raises(ConfigError, match="given twice"):
        compare_runs(store, [a.id, b.id, a.id[:8]])
    with pytest.raises(NotFoundError, match="no run with id 'deadbeef'"):
        compare_runs(store, [a.id, "deadbeef"])
