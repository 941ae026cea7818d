"""The traced pipeline: step nodes, their parameters and the artifact edges between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dosirak.pipelines.step import Step


@dataclass(frozen=True)
class InputEdge:
    """An input of a node fed by ``step``'s output ``output``."""

    step: str
    output: str


@dataclass
class StepNode:
    """One call of a step in a pipeline (a step called twice gives two nodes)."""

    name: str
    step: Step
    inputs: dict[str, InputEdge] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    enable_cache: bool = True

    @property
    def upstream(self) -> list[str]:
        return sorted({edge.step for edge in self.inputs.values()})

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step_type": self.step.step_type,
            "inputs": {k: {"step": e.step, "output": e.output} for k, e in self.inputs.items()},
            "outputs": [o.name for o in self.step.outputs],
            "parameters": self.parameters,
            "enable_cache": self.enable_cache,
        }


@dataclass
class DAG:
    """Nodes in call order, which is a topological order: a handle exists before it is used."""

    pipeline_name: str
    nodes: list[StepNode] = field(default_factory=list)

    def node(self, name: str) -> StepNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def downstream(self, name: str) -> set[str]:
        """Every node that depends, directly or not, on ``name``."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            nxt = {n.name for n in self.nodes if frontier & set(n.upstream)} - found
            found |= nxt
            frontier = nxt
        return found

    def to_json(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline_name, "steps": [n.to_json() for n in self.nodes]}


__all__ = ["DAG", "InputEdge", "StepNode"]
