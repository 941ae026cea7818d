"""DAG layout: layers follow dependencies, edges carry artifact names, odd DAGs do not break it."""

from __future__ import annotations

from dosirak.dashboard.dag import NODE_H, edges_of, layout
from dosirak.dashboard.timeline import history


def _dag(edges: dict[str, dict[str, tuple[str, str]]]) -> dict[str, object]:
    return {"steps": [{"name": n, "inputs": {i: {"step": s, "output": o} for i, (s, o) in ins.items()},
                       "outputs": []} for n, ins in edges.items()]}


def test_every_edge_points_down_and_nodes_in_a_layer_do_not_overlap() -> None:
    dag = _dag({"load": {}, "split": {"data": ("load", "output")},
                "train": {"train": ("split", "train")}, "test": {"test": ("split", "test"), "model": ("train", "output")}})
    lay = layout(dag)
    y = {n.name: n.y for n in lay.nodes}
    assert y["load"] < y["split"] < y["train"] < y["test"]
    for e in lay.edges:
        assert y[e.source] + NODE_H <= y[e.target]
    assert {(e.source, e.target, e.label) for e in lay.edges} == {
        ("load", "split", "output → data"), ("split", "train", "train"), ("split", "test", "test"),
        ("train", "test", "output → model")}


def test_parallel_steps_share_a_layer_side_by_side() -> None:
    dag = _dag({"a": {}, "b": {"x": ("a", "output")}, "c": {"x": ("a", "output")}})
    lay = layout(dag)
    b, c = (n for n in lay.nodes if n.name in "bc")
    assert b.y == c.y and abs(b.x - c.x) >= 188
    assert lay.width >= 2 * 188


def test_inputs_from_outside_the_dag_and_cycles_are_tolerated() -> None:
    dag = {"steps": [{"name": "a", "inputs": {"x": {"step": "b", "output": "o"}, "p": 3}},
                     {"name": "b", "inputs": {"y": {"step": "a", "output": "o"}}},
                     {"name": "c", "inputs": {"z": {"step": "missing", "output": "o"}}}]}
    lay = layout(dag)
    assert sorted(n.name for n in lay.nodes) == ["a", "b", "c"]
    assert len(edges_of(dag)) == 2


def test_steps_recorded_but_missing_from_the_dag_are_still_drawn() -> None:
    lay = layout({"steps": []}, {"orphan": {"status": "failed"}})
    assert [(n.name, n.step["status"]) for n in lay.nodes] == [("orphan", "failed")]


def test_history_heights_are_relative_to_the_longest_run() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [("a", "a", "completed", t0, t0 + timedelta(seconds=10)), ("b", "b", "failed", t0, t0 + timedelta(seconds=5))]
    assert [h["height"] for h in history(rows)] == [1.0, 0.5]
