"""Lay out a run's DAG for drawing as SVG: steps in layers top to bottom, edges as curves.

Layers come from the longest path from a source step, so every edge points downwards;
within a layer, steps are ordered by the mean position of their neighbours (a few
barycentre sweeps), which removes most crossings in the pipelines people write. An edge
that skips layers passes through a narrow waypoint in each layer it crosses, ordered like
the steps, so that it runs beside the steps of those layers, never across them. Each
edge's label (the artifact's name) is placed on or beside its curve where its box meets
no step and no other label; when a gap between layers is too crowded for that, the gaps
grow until every label fits. The result is plain geometry; the template draws it, so
every label goes through escaping.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

NODE_W = 188
NODE_H = 48
GAP_X = 36
GAP_Y = 64
#: The width a waypoint of an edge that skips layers takes in a layer.
WAYPOINT_W = 20
MARGIN = 16
#: An edge label's box: 11 px monospace glyphs are 6.6 px wide (wide East Asian ones twice
#: that); the estimate errs wide so that a drawn label never outgrows its box.
LABEL_CHAR_W = 7.0
LABEL_H = 15.0
LABEL_PAD = 3.0
LABEL_MAX_CELLS = 40
#: Gaps between layers grow by this much, up to GAP_Y_MAX, while labels do not fit.
GAP_Y_STEP = 24
GAP_Y_MAX = 256
#: Where along an edge (bezier parameter) a label may sit, most wanted first.
_ALONG = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Curve = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]  # cubic bezier


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
    label_x: float  # the centre of the label's box
    label_y: float
    label_w: float = 0.0
    label_h: float = LABEL_H
    text: str = ""  # the label as drawn: cut to LABEL_MAX_CELLS


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
    # an edge skipping layers gets a waypoint in each layer between its ends; waypoint names
    # start with NUL, which no step name holds
    routes: list[tuple[str, str, str, list[str]]] = []
    for i, (src, dst, label) in enumerate(raw_edges):
        if src == dst:
            continue
        hops = [f"\0{i}.{d}" for d in range(layer[src] + 1, layer[dst])]
        chain = [src, *hops, dst]
        for a, b in zip(chain, chain[1:], strict=False):
            parents.setdefault(b, [])
            children.setdefault(a, [])
            if a not in parents[b]:
                parents[b].append(a)
                children[a].append(b)
        for d, hop in zip(range(layer[src] + 1, layer[dst]), hops, strict=False):
            rows[d].append(hop)
            parents.setdefault(hop, [])
            children.setdefault(hop, [])
        routes.append((src, dst, label, hops))
    _order(rows, parents, children)

    gaps = range(GAP_Y, GAP_Y_MAX + 1, GAP_Y_STEP)
    for gap_y in gaps:
        last = gap_y + GAP_Y_STEP > GAP_Y_MAX
        pos, edges, width, height, fits = _place(rows, routes, gap_y, stop_when_crowded=not last)
        if fits:
            break
    nodes = [Node(name=n, x=pos[n][0], y=pos[n][1], layer=layer[n], step=steps.get(n, {})) for n in names]
    return Layout(nodes=nodes, edges=edges, width=width, height=height)


def _cells(c: str) -> int:
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def label_text(label: str) -> str:
    """An edge label as drawn: at most :data:`LABEL_MAX_CELLS` glyph cells, cut with an ellipsis."""
    if sum(map(_cells, label)) <= LABEL_MAX_CELLS:
        return label
    out, used = [], 1
    for c in label:
        used += _cells(c)
        if used > LABEL_MAX_CELLS:
            break
        out.append(c)
    return "".join(out) + "…"


def label_width(text: str) -> float:
    """The width a drawn edge label's box is given (see :data:`LABEL_CHAR_W`)."""
    return sum(map(_cells, text)) * LABEL_CHAR_W + 2 * LABEL_PAD


def _width_of(name: str) -> float:
    return WAYPOINT_W if name.startswith("\0") else NODE_W


def _place(rows: dict[int, list[str]], routes: list[tuple[str, str, str, list[str]]], gap_y: float,
           stop_when_crowded: bool) -> tuple[dict[str, tuple[float, float]], list[Edge], float, float, bool]:
    """Node positions, edges, width, height with layers ``gap_y`` apart, and whether every label found a free place.

    ``stop_when_crowded``: give up at the first label with no free place (the caller then
    tries wider gaps); else such a label takes the place where it overlaps least.
    """
    row_widths = {d: sum(map(_width_of, row)) + max(len(row) - 1, 0) * GAP_X for d, row in rows.items()}
    texts = {label: label_text(label) for _, _, label, _ in routes}
    width = max(MARGIN * 2 + max(row_widths.values(), default=0),
                # room for a label on either side of a column of steps
                MARGIN * 2 + NODE_W + 2 * (4 + max((label_width(t) for t in texts.values()), default=0.0)))
    height = MARGIN * 2 + len(rows) * NODE_H + max(len(rows) - 1, 0) * gap_y
    pos: dict[str, tuple[float, float]] = {}  # top left corner
    for depth, row in rows.items():
        x = (width - row_widths[depth]) / 2
        for n in row:
            pos[n] = (x, MARGIN + depth * (NODE_H + gap_y))
            x += _width_of(n) + GAP_X
    taken: list[Box] = [(x - 2, y - 2, x + NODE_W + 2, y + NODE_H + 2) for n, (x, y) in pos.items()
                        if not n.startswith("\0")]
    edges: list[Edge] = []
    fits = True
    for src, dst, label, hops in routes:
        curves = _route(pos, [src, *hops, dst])
        path = f"M {curves[0][0][0]:.1f} {curves[0][0][1]:.1f}" + "".join(
            ("" if i == 0 else f" L {c[0][0]:.1f} {c[0][1]:.1f}")
            + f" C {c[1][0]:.1f} {c[1][1]:.1f}, {c[2][0]:.1f} {c[2][1]:.1f}, {c[3][0]:.1f} {c[3][1]:.1f}"
            for i, c in enumerate(curves))
        text = texts[label]
        w = label_width(text)
        box, free = _free_place(curves, w, width, taken)
        fits = fits and free
        if not free and stop_when_crowded:
            break
        taken.append(box)
        edges.append(Edge(source=src, target=dst, label=label, path=path, label_x=(box[0] + box[2]) / 2,
                          label_y=(box[1] + box[3]) / 2, label_w=w, label_h=LABEL_H, text=text))
    return pos, edges, width, height, fits


def _route(pos: dict[str, tuple[float, float]], chain: list[str]) -> list[Curve]:
    """The curves of an edge from the bottom of its first step, through its waypoints, to the top of its last.

    One cubic curve crosses each gap between layers; within a layer the edge runs straight
    down through its waypoint (the straight pieces join one curve's end to the next's start).
    """
    curves: list[Curve] = []
    for a, b in zip(chain, chain[1:], strict=False):
        sx, sy = pos[a][0] + _width_of(a) / 2, pos[a][1] + NODE_H
        tx, ty = pos[b][0] + _width_of(b) / 2, pos[b][1]
        bend = (ty - sy) / 2
        curves.append(((sx, sy), (sx, sy + bend), (tx, ty - bend), (tx, ty)))
    return curves


def _free_place(curves: list[Curve], w: float, width: float, taken: list[Box]) -> tuple[Box, bool]:
    """The first label box on or beside one of ``curves`` that meets nothing in ``taken``, and True;
    else the box that overlaps least, and False. The last curve (into the consumer) is tried first."""
    best: tuple[float, Box] | None = None
    for curve, t in ((c, t) for c in reversed(curves) for t in _ALONG):
        x, y = _bezier(curve, t)
        y0, y1 = y - LABEL_H / 2, y + LABEL_H / 2
        for x0 in (x - w / 2, x + 4, x - 4 - w):  # on the curve, right of it, left of it
            box = (x0, y0, x0 + w, y1)
            if x0 < 0 or x0 + w > width:
                continue
            overlap = sum(_overlap(box, other) for other in taken)
            if overlap == 0:
                return box, True
            if best is None or overlap < best[0]:
                best = (overlap, box)
    return (best[1] if best is not None else (0.0, 0.0, w, LABEL_H)), False


def _bezier(curve: Curve, t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    u = 1 - t
    a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def _overlap(a: Box, b: Box) -> float:
    """The area two boxes share (0 when they only touch)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


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


__all__ = ["Edge", "Layout", "Node", "edges_of", "label_text", "label_width", "layout"]
