"""The OpenAPI 3.1 description of the dashboard's JSON API, built from its endpoint table.

Because the document is generated from the endpoints :func:`dosirak.dashboard.api.endpoints` lists, every
route is described and nothing described is missing (a test checks both directions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dosirak import __version__
from dosirak.dashboard.endpoint import PREFIX, Endpoint
from dosirak.statuses import RUN_STATUSES, STEP_STATUSES

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_NUM = {"type": ["number", "null"]}

_RUN = {
    "type": "object",
    "properties": {
        "id": _STR, "name": _STR, "pipeline_name": _STR,
        "status": {"type": "string", "enum": list(RUN_STATUSES)},
        "parameters": _ANY_OBJECT, "stack_name": _OPT_STR, "orchestrator": _OPT_STR,
        "start_time": _TIME, "end_time": _TIME, "duration_s": _NUM, "hostname": _OPT_STR,
        "error": _OPT_STR, "step_count": {"type": "integer"},
        "step_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "required": ["id", "name", "pipeline_name", "status", "start_time"],
}
_STEP = {
    "type": "object",
    "properties": {
        "id": _STR, "run_id": _STR, "name": _STR, "step_type": _STR,
        "status": {"type": "string", "enum": list(STEP_STATUSES)},
        "parameters": _ANY_OBJECT,
        "inputs": {"type": "object", "additionalProperties": _STR, "description": "input name -> artifact id"},
        "outputs": {"type": "object", "additionalProperties": _STR, "description": "output name -> artifact id"},
        "cache_enabled": {"type": "boolean"}, "cache_key": _OPT_STR, "cache_parts": _ANY_OBJECT,
        "cached_from": _OPT_STR, "start_time": _TIME, "end_time": _TIME, "duration_s": _NUM,
        "attempts": {"type": "integer"}, "has_logs": {"type": "boolean"}, "error": _OPT_STR, "traceback": _OPT_STR,
        "host": {**_OPT_STR, "description": "the machine the step computed on (null for a cache hit)"},
        "worker": {**_OPT_STR, "description": "the worker on it: 'pid 4242 thread dosirak-worker-1', "
                                              "'ray worker ID node ID'"},
        "resources": {"type": "object", "additionalProperties": _NUM,
                      "description": "what it asked for: cpus, gpus, memory (bytes), custom resources"},
    },
    "required": ["id", "run_id", "name", "status"],
}
_ARTIFACT = {
    "type": "object",
    "properties": {
        "id": _STR, "name": _STR, "type": _STR, "materializer": _STR, "materializer_version": _STR,
        "uri": _STR, "size": {"type": "integer"}, "content_hash": _STR, "producer_step_run_id": _OPT_STR,
        "created_at": _TIME, "summary": _ANY_OBJECT,
    },
    "required": ["id", "name", "type", "uri", "size", "content_hash"],
}
_LINK = {"type": "object", "properties": {"as": _STR, "step_run_id": _STR, "step_name": _STR, "run_id": _STR}}
_COMPONENT = {"type": "object", "properties": {"id": {"type": "integer"}, "name": _STR, "type": _STR,
                                               "flavor": _STR, "config": _ANY_OBJECT, "created_at": _TIME}}

SCHEMAS: dict[str, Any] = {
    "Object": _ANY_OBJECT,
    "Error": {"type": "object", "properties": {"error": _STR, "message": _STR}, "required": ["error", "message"]},
    "Health": {"type": "object", "properties": {"status": _STR, "version": _STR}},
    "Counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    "Pipeline": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": _STR, "created_at": _TIME, "run_count": {"type": "integer"},
        "latest_run": {"oneOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]}}},
    "PipelineDetail": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": _STR, "created_at": _TIME, "run_count": {"type": "integer"},
        "recent_runs": {"type": "array", "items": {"type": "object", "properties": {
            "id": _STR, "name": _STR, "status": _STR, "start_time": _TIME, "end_time": _TIME,
            "duration_s": _NUM}}}}},
    "Run": _RUN,
    "RunDetail": {"allOf": [{"$ref": "#/components/schemas/Run"}, {"type": "object", "properties": {
        "dag": _ANY_OBJECT, "config": _ANY_OBJECT,
        "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}}}}]},
    "Step": _STEP,
    "StepDetail": {"allOf": [{"$ref": "#/components/schemas/Step"}, {"type": "object", "properties": {
        "pipeline_name": _STR, "source_code": _OPT_STR}}]},
    "Log": {"type": "object", "properties": {
        "text": _STR, "offset": {"type": "integer", "description": "pass as ?offset= to get what comes next"},
        "size": {"type": ["integer", "null"]}, "truncated": {"type": "boolean"}, "step_status": _STR}},
    "Artifact": _ARTIFACT,
    "ArtifactDetail": {"allOf": [{"$ref": "#/components/schemas/Artifact"}, {"type": "object", "properties": {
        "producers": {"type": "array", "items": _LINK}, "consumers": {"type": "array", "items": _LINK}}}]},
    "Preview": {"type": "object", "properties": {
        "kind": {"type": "string", "enum": ["number", "json", "array", "image", "table", "text", "bytes", "files",
                                            "missing"]},
        "files": {"type": "array", "items": {"type": "object", "properties": {"name": _STR, "size": {"type": "integer"}}}},
    }, "required": ["kind"], "additionalProperties": True},
    "Stack": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": _STR, "active": {"type": "boolean"}, "created_at": _TIME,
        "components": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Component"}}}},
    "Component": _COMPONENT,
    "Model": _ANY_OBJECT,
    "ModelDetail": _ANY_OBJECT,
    "AliasMove": {"type": "object", "properties": {
        "alias": _STR, "from_version": {"type": ["integer", "null"]}, "to_version": {"type": ["integer", "null"]},
        "moved_at": _TIME, "actor": _OPT_STR}},
    "Bundle": _ANY_OBJECT,
    "Deployment": _ANY_OBJECT,
    "DeploymentDetail": _ANY_OBJECT,
}


def document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The OpenAPI document of ``endpoints`` (:func:`dosirak.dashboard.api.openapi_document` keeps it)."""
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        params: list[dict[str, Any]] = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in e.path.split("/") if part.startswith("{")
        ]
        params += [{"name": p.name, "in": "query", "required": False, "description": p.description,
                    "schema": {"type": p.kind}} for p in e.params]
        item = {"$ref": f"#/components/schemas/{e.schema}"}
        body = ({"type": "object", "properties": {
            "items": {"type": "array", "items": item}, "total": {"type": "integer"}, "limit": {"type": "integer"},
            "offset": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]}},
            "required": ["items", "total", "limit", "offset", "next_offset"]} if e.paginated else item)
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
            "401": {"description": "token missing or wrong", "content": _error()},
        }
        if params:
            responses["400"] = {"description": "a query value is invalid", "content": _error()}
        if any(p["in"] == "path" for p in params):
            responses["404"] = {"description": "no such id or name", "content": _error()}
        for method in e.methods:
            op: dict[str, Any] = {"summary": e.summary, "tags": [e.tag], "parameters": params, "responses": responses,
                                  "operationId": f"{method.lower()}_{e.handler.__name__}_{len(paths)}"}
            if method == "POST":
                op["requestBody"] = {"required": False, "content": {"application/json": {"schema": _ANY_OBJECT}}}
            paths.setdefault(PREFIX + e.path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "dosirak dashboard API", "version": __version__,
                 "description": "Read-only access to pipelines, runs, steps, artifacts, stacks, models, bundles and "
                                "deployments, plus deployment start/stop actions."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"token": []}],
    }


def _error() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


__all__ = ["SCHEMAS", "document"]
