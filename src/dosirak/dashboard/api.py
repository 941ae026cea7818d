"""The dashboard's JSON API under ``/api/v1``: the same resources as the pages.

Lists are paginated with ``?limit=`` (1..500, default 50) and ``?offset=`` and answer
``{"items", "total", "limit", "offset", "next_offset"}``. Errors answer
``{"error", "message"}`` with the status of the dosirak error (404 for unknown ids).
:data:`ENDPOINTS` lists every route with its summary and query parameters; the OpenAPI
description at ``/api/v1/openapi.json`` is built from it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dosirak import __version__
from dosirak.dashboard import logs, openapi, previews, registry_api, resources
from dosirak.dashboard.context import dashboard_of, run_status_param
from dosirak.dashboard.endpoint import PAGING, PREFIX, Endpoint, Param, json_response


def _store(request: Request) -> Any:
    return dashboard_of(request).store


# -- handlers -----------------------------------------------------------------------------
def health(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


def openapi_json(request: Request) -> Response:
    return json_response(openapi_document())


def overview(request: Request) -> Response:
    return json_response(_store(request).overview.store_counts())


def list_pipelines(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    pipes = _store(request).runs.list_pipelines()
    items = [resources.pipeline(*p) for p in pipes[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(pipes)))


def get_pipeline(request: Request) -> Response:
    store = _store(request)
    name = request.path_params["name"]
    record = store.runs.get_pipeline_record(name)
    history = [{"id": i, "name": n, "status": s, "start_time": a, "end_time": b,
                "duration_s": (b - a).total_seconds() if b else None}
               for i, n, s, a, b in store.overview.run_timeline(name, limit=200)]
    return json_response({"id": record.id, "name": record.name, "created_at": record.created_at,
                          "run_count": store.runs.count_runs(pipeline_name=name), "recent_runs": history})


def list_runs(request: Request) -> Response:
    store = _store(request)
    page = resources.Page.from_query(request.query_params)
    status = run_status_param(request)
    pipeline = request.query_params.get("pipeline") or request.path_params.get("name")
    if "name" in request.path_params:
        store.runs.get_pipeline_record(pipeline)  # 404 for an unknown pipeline
    runs = store.runs.list_runs(pipeline_name=pipeline, status=status, limit=page.limit, offset=page.offset)
    counts = store.overview.step_status_counts([r.id for r in runs])
    items = [resources.run(r, counts[r.id]) for r in runs]
    return json_response(page.envelope(items, store.runs.count_runs(pipeline_name=pipeline, status=status)))


def get_run(request: Request) -> Response:
    store = _store(request)
    run = store.runs.get_run(request.path_params["run_id"])
    steps = store.runs.get_steps(run.id)
    counts: dict[str, int] = {}
    for s in steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    return json_response({**resources.run(run, counts), "dag": run.dag, "config": run.config,
                          "steps": [resources.step(s) for s in steps]})


def list_run_steps(request: Request) -> Response:
    store = _store(request)
    run = store.runs.get_run(request.path_params["run_id"])
    page = resources.Page.from_query(request.query_params)
    steps = store.runs.get_steps(run.id)
    items = [resources.step(s) for s in steps[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(steps)))


def get_step(request: Request) -> Response:
    store = _store(request)
    step = store.runs.get_step_run(request.path_params["step_id"])
    pipeline_name, _, _ = store.runs.step_run_context(step.id)
    return json_response({**resources.step(step), "pipeline_name": pipeline_name, "source_code": step.source_code})


def get_step_logs(request: Request) -> Response:
    store = _store(request)
    step = store.runs.get_step_run(request.path_params["step_id"])
    if request.query_params.get("offset") in (None, ""):
        chunk = logs.tail(step.logs_uri)
    else:
        chunk = logs.since(step.logs_uri, resources.int_param(request.query_params, "offset", 0, 0,
                                                              resources.MAX_OFFSET))
    return json_response({"text": chunk.text, "offset": chunk.offset, "size": chunk.size,
                          "truncated": chunk.truncated, "step_status": step.status})


def list_artifacts(request: Request) -> Response:
    store = _store(request)
    page = resources.Page.from_query(request.query_params)
    type_name = request.query_params.get("type") or None
    items = [resources.artifact(a) for a in store.artifacts.list_artifacts(limit=page.limit, offset=page.offset,
                                                                 type_name=type_name)]
    total = store.artifacts.count_artifacts() if type_name is None else store.overview.count_artifacts_of_type(type_name)
    return json_response(page.envelope(items, total))


def get_artifact(request: Request) -> Response:
    store = _store(request)
    artifact = store.artifacts.get_artifact(request.path_params["artifact_id"])
    return json_response({**resources.artifact(artifact), **resources.links(store.artifacts.artifact_links(artifact.id))})


def get_artifact_preview(request: Request) -> Response:
    artifact = _store(request).artifacts.get_artifact(request.path_params["artifact_id"])
    return json_response(previews.preview(artifact))


def list_stacks(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    stacks = _store(request).stacks.list_stacks()
    items = [resources.stack(s) for s in stacks[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(stacks)))


def get_stack(request: Request) -> Response:
    return json_response(resources.stack(_store(request).stacks.get_stack(request.path_params["stack_name"])))


def list_components(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    kind = request.query_params.get("type") or None
    comps = _store(request).stacks.list_components(kind)
    items = [resources.component(c) for c in comps[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(comps)))


RUN_FILTERS = (Param("pipeline", "only runs of this pipeline"),
               Param("status", "only runs in this status: running, completed, failed or cancelled"))

ENDPOINTS: list[Endpoint] = [
    Endpoint("/health", health, "The dashboard is up (and its version)", "meta", "Health"),
    Endpoint("/openapi.json", openapi_json, "This API's OpenAPI description", "meta", "Object"),
    Endpoint("/overview", overview, "How many pipelines, runs, step runs and artifacts the store holds", "meta",
             "Counts"),
    Endpoint("/pipelines", list_pipelines, "Pipelines with their run count and latest run", "pipelines",
             "Pipeline", PAGING, paginated=True),
    Endpoint("/pipelines/{name}/runs", list_runs, "A pipeline's runs, newest first", "pipelines", "Run",
             (RUN_FILTERS[1], *PAGING), paginated=True),
    Endpoint("/pipelines/{name}", get_pipeline, "A pipeline and its recent runs (oldest first)", "pipelines",
             "PipelineDetail"),
    Endpoint("/runs", list_runs, "Runs, newest first, with step counts by status", "runs", "Run",
             (*RUN_FILTERS, *PAGING), paginated=True),
    Endpoint("/runs/{run_id}", get_run, "A run (id or id prefix) with its DAG and steps", "runs", "RunDetail"),
    Endpoint("/runs/{run_id}/steps", list_run_steps, "A run's steps in DAG order", "runs", "Step", PAGING,
             paginated=True),
    Endpoint("/steps/{step_id}", get_step, "A step run: parameters, inputs, outputs, cache, error", "steps",
             "StepDetail"),
    Endpoint("/steps/{step_id}/logs", get_step_logs,
             "A step's log: its tail, or what was appended after ?offset= (for live tailing)", "steps", "Log",
             (Param("offset", "byte offset returned by the previous call", "integer"),)),
    Endpoint("/artifacts", list_artifacts, "Artifacts, newest first", "artifacts", "Artifact",
             (Param("type", "only this type (qualified or short name)"), *PAGING), paginated=True),
    Endpoint("/artifacts/{artifact_id}", get_artifact, "An artifact with its producer and consumers", "artifacts",
             "ArtifactDetail"),
    Endpoint("/artifacts/{artifact_id}/preview", get_artifact_preview,
             "A preview of an artifact's content that fits its type (bounded read)", "artifacts", "Preview"),
    Endpoint("/stacks", list_stacks, "Stacks with their components", "stacks", "Stack", PAGING, paginated=True),
    Endpoint("/stacks/{stack_name}", get_stack, "A stack with its components", "stacks", "Stack"),
    Endpoint("/components", list_components, "Stack components", "stacks", "Component",
             (Param("type", "orchestrator, artifact-store or model-deployer"), *PAGING), paginated=True),
]


def endpoints() -> list[Endpoint]:
    """Every endpoint, including those of the registry (models, bundles, deployments)."""
    return [*ENDPOINTS, *registry_api.ENDPOINTS]


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of :func:`endpoints` (built once per process)."""
    return openapi.document(endpoints())


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for e in endpoints():
        path = e.path.replace("{name}", "{name:path}") if e.path.startswith("/pipelines/") else e.path
        out.append(Route(PREFIX + path, e.handler, methods=list(e.methods)))
    return out


__all__ = ["ENDPOINTS", "PREFIX", "Endpoint", "Param", "endpoints", "json_response", "openapi_document", "routes"]
