"""Lay out a run's DAG for drawing as SVG: steps in layers top to bottom, edges as curves.

Layers come from the longest path from a source step, so every edge points downwards;
within a layer, steps are ordered by the mean position of their neighbours (a few
barycentre sweeps), which removes most crossings in the pipelines people write. The
result is plain geometry; the template draws it, so every label goes through escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE_W = 188
NODE_H = 48
GAP_X = 36
GAP_Y = 64
MARGIN = 16


@dataclass(frozen=True)
class Node:
    name: str
    x: float
    y: float
    layer: int
    step: dict[str, Any] = field(default_factory=dict)  # the step's resource (status, id, ...)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str  # the artifact's name: "output -> input" when they differ
    path: str  # the SVG path ("M ... C ...")
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float


def edges_of(dag: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(producer, consumer, label) for each artifact passed between steps of ``dag``."""
    names = {s["name"] for s in dag.get("steps", [])}
    out: list[tuple[str, str, str]] = []
    for s in dag.get("steps", []):
        for input_name, source in (s.get("inputs") or {}).items():
            if not isinstance(source, dict) or source.get("step") not in names:
                continue
            output = str(source.get("output", ""))
            label = output if output == input_name or not output else f"{output} → {input_name}"
            out.append((str(source["step"]), str(s["name"]), label))
    return out


def layout(dag: dict[str, Any], steps: dict[str, dict[str, Any]] | None = None) -> Layout:
    """Positions for every step of ``dag`` (``steps``: step name -> resource to attach)."""
    steps = steps or {}
    names = [str(s["name"]) for s in dag.get("steps", [])]
    names += [n for n in steps if n not in names]  # steps recorded but missing from the dag
    raw_edges = edges_of(dag)
    parents: dict[str, list[str]] = {n: [] for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    for src, dst, _ in raw_edges:
        if src != dst and src not in parents[dst]:
            parents[dst].append(src)
            children[src].append(dst)

    layer = _layers(names, parents)
    rows: dict[int, list[str]] = {}
    for n in names:
        rows.setdefault(layer[n], []).append(n)
    _order(rows, parents, children)

    widest = max((len(r) for r in rows.values()), default=0)
    width = MARGIN * 2 + widest * NODE_W + max(widest - 1, 0) * GAP_X
    height = MARGIN * 2 + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    pos: dict[str, tuple[float, float]] = {}
    for depth, row in rows.items():
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = (width - row_w) / 2
        for i, n in enumerate(row):
            pos[n] = (x0 + i * (NODE_W + GAP_X), MARGIN + depth * (NODE_H + GAP_Y))

    nodes = [Node(name=n, x=pos[n][0], y=pos[n][1], layer=layer[n], step=steps.get(n, {})) for n in names]
    edges: list[Edge] = []
    seen: dict[tuple[str, str], int] = {}
    for src, dst, label in raw_edges:
        if src == dst:
            continue
        k = seen[(src, dst)] = seen.get((src, dst), -1) + 1
        sx, sy = pos[src][0] + NODE_W / 2, pos[src][1] + NODE_H
        tx, ty = pos[dst][0] + NODE_W / 2, pos[dst][1]
        bend = (ty - sy) / 2
        path = f"M {sx:.1f} {sy:.1f} C {sx:.1f} {sy + bend:.1f}, {tx:.1f} {ty - bend:.1f}, {tx:.1f} {ty:.1f}"
        # labels sit on the curve's midpoint, nudged apart when two steps share several artifacts
        edges.append(Edge(source=src, target=dst, label=label, path=path,
                          label_x=(sx + tx) / 2 + 6, label_y=(sy + ty) / 2 + 4 + 14 * k))
    return Layout(nodes=nodes, edges=edges, width=width, height=height)


def _layers(names: list[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a source, computed without recursion; cycles are broken by order."""
    layer: dict[str, int] = {}
    visiting: set[str] = set()
    for start in names:
        if start in layer:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                visiting.add(node)
            ps = [p for p in parents[node] if p not in visiting or p in layer]
            if i < len(ps):
                stack.append((node, i + 1))
                if ps[i] not in layer:
                    stack.append((ps[i], 0))
                continue
            layer[node] = 1 + max((layer[p] for p in ps if p in layer), default=-1)
            visiting.discard(node)
    return layer


def _order(rows: dict[int, list[str]], parents: dict[str, list[str]], children: dict[str, list[str]]) -> None:
    """Reorder each layer by the barycentre of its neighbours, down then up, a few times."""
    depths = sorted(rows)
    for _ in range(4):
        for neighbours, seq in ((parents, depths[1:]), (children, list(reversed(depths[:-1])))):
            for depth in seq:
                index = {n: i for r in rows.values() for i, n in enumerate(r)}

                def key(n: str, neighbours: dict[str, list[str]] = neighbours, index: dict[str, int] = index) -> float:
                    ns = neighbours[n]
                    return sum(index[m] for m in ns) / len(ns) if ns else float(index[n])

                rows[depth].sort(key=key)


__all__ = ["Edge", "Layout", "Node", "edges_of", "layout"]
