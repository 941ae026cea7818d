"""What the dashboard shows, as JSON-ready dicts built from the store's records.

Pages and the JSON API are two renderings of the same resources, so a field shown on a
page is in the API under the same name. Every function here only reads the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from dosirak.errors import DashboardError
from dosirak.metadata.like import MAX_SQL_INTEGER
from dosirak.metadata.records import (
    ArtifactRecord,
    ComponentRecord,
    PipelineRecord,
    RunRecord,
    StackRecord,
    StepRunRecord,
)
from dosirak.stack.credentials import masked

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: The largest offset taken from a query: past it, offset + limit would not fit the store's integers.
MAX_OFFSET = MAX_SQL_INTEGER - MAX_LIMIT
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Page:
    """Which slice of a list was asked for (``?limit=&offset=``)."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_query(cls, query: Any, default_limit: int = DEFAULT_LIMIT) -> Page:
        return cls(limit=int_param(query, "limit", default_limit, 1, MAX_LIMIT),
                   offset=int_param(query, "offset", 0, 0, MAX_OFFSET))

    def envelope(self, items: list[Any], total: int) -> dict[str, Any]:
        """The API's list shape: items, total, limit, offset and the next offset (or null)."""
        nxt = self.offset + self.limit
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset,
                "next_offset": nxt if nxt < total else None}


def int_param(query: Any, name: str, default: int, minimum: int, maximum: int) -> int:
    """The whole number ``?name=`` (ASCII digits), ``default`` when absent; a 400 outside ``minimum..maximum``.

    Every integer the dashboard takes from a query goes through here, so none can reach the
    store (or the JSON encoder) beyond what a 64-bit integer holds.
    """
    raw = query.get(name)
    if raw in (None, ""):
        return default
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise DashboardError(f"'{name}' must be a whole number, got {shown!r}")
    value = int(raw) if len(raw) <= 40 else None  # int() of thousands of digits is slow, then refused
    if value is None or not minimum <= value <= maximum:
        raise DashboardError(f"{name} must be between {minimum} and {maximum}, got {shown}")
    return value


def pipeline(p: PipelineRecord, run_count: int, latest: RunRecord | None) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "created_at": p.created_at, "run_count": run_count,
            "latest_run": run(latest) if latest else None}


def run(r: RunRecord, step_counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {
        "id": r.id, "name": r.name, "pipeline_name": r.pipeline_name, "status": r.status,
        "parameters": r.parameters, "stack_name": r.stack_name, "orchestrator": r.orchestrator,
        "start_time": r.start_time, "end_time": r.end_time, "duration_s": r.duration_s,
        "hostname": r.hostname, "error": r.error, "step_count": len(r.dag.get("steps", [])),
    }
    if step_counts is not None:
        out["step_counts"] = step_counts
    return out


def step(s: StepRunRecord) -> dict[str, Any]:
    return {
        "id": s.id, "run_id": s.run_id, "name": s.name, "step_type": s.step_type, "status": s.status,
        "parameters": s.parameters, "inputs": s.inputs, "outputs": s.outputs,
        "cache_enabled": s.cache_enabled, "cache_key": s.cache_key, "cache_parts": s.cache_parts,
        "cached_from": s.cached_from, "start_time": s.start_time, "end_time": s.end_time,
        "duration_s": s.duration_s, "attempts": s.attempts, "has_logs": bool(s.logs_uri),
        "error": s.error, "traceback": s.traceback,
        "host": s.host, "worker": s.worker, "resources": s.resources,
    }


def artifact(a: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": a.id, "name": a.name, "type": a.type, "materializer": a.materializer,
        "materializer_version": a.materializer_version, "uri": a.uri, "size": a.size,
        "content_hash": a.content_hash, "producer_step_run_id": a.producer_step_run_id,
        "created_at": a.created_at, "summary": a.summary,
    }


def links(rows: list[tuple[str, str, str, str, str]]) -> dict[str, list[dict[str, str]]]:
    """An artifact's producer and consumers from :meth:`artifact_links` rows."""
    out: dict[str, list[dict[str, str]]] = {"producers": [], "consumers": []}
    for kind, link_name, step_run_id, step_name, run_id in rows:
        out["producers" if kind == "output" else "consumers"].append(
            {"as": link_name, "step_run_id": step_run_id, "step_name": step_name, "run_id": run_id})
    return out


def component(c: ComponentRecord) -> dict[str, Any]:
    """A component with its config masked: credentials never leave the store through the dashboard."""
    return {"id": c.id, "name": c.name, "type": c.type, "flavor": c.flavor, "config": masked(c.config),
            "created_at": c.created_at}


def stack(s: StackRecord) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "active": s.active, "created_at": s.created_at,
            "components": {kind: component(c) for kind, c in sorted(s.components.items())}}


def record(obj: Any) -> dict[str, Any]:
    """Any frozen record (models, bundles, deployments) as a dict of its fields."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    if isinstance(obj, dict):
        return dict(obj)
    raise TypeError(f"cannot describe {type(obj).__name__}")


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_OFFSET", "Page", "int_param", "artifact", "component", "links", "pipeline", "record", "run",
           "stack", "step"]
