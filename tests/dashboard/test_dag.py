"""DAG layout: layers follow dependencies, edges carry artifact names, odd DAGs do not break it."""

from __future__ import annotations

import pytest

from dosirak.dashboard.dag import LABEL_MAX_CELLS, NODE_H, NODE_W, Layout, edges_of, label_text, layout


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


# DAGs whose labels crowded each other or sat on steps: the browser tests' eight steps,
# the Fashion-MNIST training pipeline (edges skipping layers), a wide fan-in, and
# several artifacts between the same two steps.
DEMO = _dag({"importer": {}, "normalizer": {"train": ("importer", "train")}, "profiler": {"train": ("importer", "train")},
             "trainer": {"normalized": ("normalizer", "normalized")},
             "evaluator": {"test": ("importer", "test"), "model": ("trainer", "model")},
             "plotter": {"profile": ("profiler", "profile")},
             "deployment_trigger": {"accuracy": ("evaluator", "accuracy")},
             "reporter": {"decision": ("deployment_trigger", "decision"), "chart": ("plotter", "chart")}})
FASHION = _dag({"importer": {}, "trainer": {"train": ("importer", "train")},
                "evaluator": {"test": ("importer", "test"), "model": ("trainer", "output")},
                "deployment_trigger": {"accuracy": ("evaluator", "output")},
                "bundle_builder": {"model": ("trainer", "output")},
                "model_deployer": {"bundle": ("bundle_builder", "bundle"),
                                   "deploy_decision": ("deployment_trigger", "output")}})
FAN_IN = _dag({**{f"source_{i}": {} for i in range(6)},
               "join": {f"features_from_source_{i}": (f"source_{i}", "output") for i in range(6)}})
MULTI = _dag({"split": {}, "train": {"x_train": ("split", "x_train"), "y_train": ("split", "y_train"),
                                     "x_valid": ("split", "x_valid"), "y_valid": ("split", "y_valid")}})
WIDE_GLYPHS = _dag({"a": {}, "b": {"입력_데이터": ("a", "출력_데이터_세트_전체")}, "c": {"x": ("a", "y" * 200)}})


def _boxes(lay: Layout) -> tuple[list[tuple[str, tuple[float, float, float, float]]], list[tuple[str, tuple[float, float, float, float]]]]:
    nodes = [(n.name, (n.x, n.y, n.x + NODE_W, n.y + NODE_H)) for n in lay.nodes]
    labels = [(e.label, (e.label_x - e.label_w / 2, e.label_y - e.label_h / 2, e.label_x + e.label_w / 2,
                         e.label_y + e.label_h / 2)) for e in lay.edges]
    return nodes, labels


def _meet(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize("dag", [DEMO, FASHION, FAN_IN, MULTI, WIDE_GLYPHS], ids=["demo", "fashion", "fan-in", "multi", "wide"])
def test_edge_labels_meet_neither_each_other_nor_steps_and_stay_inside(dag: dict[str, object]) -> None:
    lay = layout(dag)
    nodes, labels = _boxes(lay)
    assert len(labels) == len(edges_of(dag))
    for i, (label, box) in enumerate(labels):
        assert 0 <= box[0] and box[2] <= lay.width and 0 <= box[1] and box[3] <= lay.height, (label, box)
        for name, node in nodes:
            assert not _meet(box, node), f"label {label!r} sits on step {name!r}"
        for other, other_box in labels[i + 1:]:
            assert not _meet(box, other_box), f"labels {label!r} and {other!r} overlap"


def _points(path: str) -> list[tuple[float, float]]:
    """Points along an SVG path of M, L and C commands (each cubic sampled 40 times)."""
    tokens = path.replace(",", " ").split()
    points: list[tuple[float, float]] = []
    i = 0
    while i < len(tokens):
        command = tokens[i]
        if command in ("M", "L"):
            points.append((float(tokens[i + 1]), float(tokens[i + 2])))
            i += 3
        else:
            assert command == "C", path
            (x0, y0), rest = points[-1], [float(v) for v in tokens[i + 1:i + 7]]
            (x1, y1, x2, y2, x3, y3) = rest
            for k in range(1, 41):
                t = k / 40
                u = 1 - t
                points.append((u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
                               u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3))
            i += 7
    return points


@pytest.mark.parametrize("dag", [DEMO, FASHION, FAN_IN], ids=["demo", "fashion", "fan-in"])
def test_an_edge_that_skips_layers_passes_beside_the_steps_between(dag: dict[str, object]) -> None:
    lay = layout(dag)
    nodes, _ = _boxes(lay)
    for e in lay.edges:
        for name, (x0, y0, x1, y1) in nodes:
            if name in (e.source, e.target):
                continue
            inside = [(x, y) for x, y in _points(e.path) if x0 < x < x1 and y0 < y < y1]
            assert not inside, f"edge {e.source} -> {e.target} crosses step {name} at {inside[0]}"


def test_a_crowded_gap_grows_instead_of_stacking_labels() -> None:
    def parts(n: int) -> dict[str, object]:
        return _dag({"split": {}, "train": {f"part_{i}": ("split", f"part_{i}") for i in range(n)}})

    assert layout(parts(1)).height == layout(parts(2)).height < layout(parts(6)).height
    nodes, labels = _boxes(layout(parts(6)))
    assert not any(_meet(a, b) for i, (_, a) in enumerate(labels) for _, b in labels[i + 1:])


def test_long_labels_are_cut_with_an_ellipsis_and_keep_their_full_name() -> None:
    lay = layout(WIDE_GLYPHS)
    long_edge = next(e for e in lay.edges if e.target == "c")
    assert long_edge.label == "y" * 200 + " → x"
    assert long_edge.text == label_text(long_edge.label) and long_edge.text.endswith("…")
    assert len(long_edge.text) == LABEL_MAX_CELLS
    assert label_text("short") == "short"
