"""The dashboard's HTML pages for pipelines, runs, steps, artifacts and stacks.

Pages are rendered on the server from Jinja templates with autoescaping on, so every
name, parameter, log line and preview reaches the browser as text. A run page polls a
fragment of itself while the run is running; a step page tails its log.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dosirak.dashboard import dag as dag_layout
from dosirak.dashboard import logs, previews, resources
from dosirak.dashboard.api import openapi_document
from dosirak.dashboard.auth import SESSION_COOKIE
from dosirak.dashboard.context import dashboard_of, run_status_param
from dosirak.dashboard.filters import FILTERS
from dosirak.errors import DashboardError, NotFoundError
from dosirak.pipelines.timeline import gantt

TEMPLATES_DIR = Path(__file__).parent / "templates"
_env: Any = None
_env_lock = threading.Lock()

#: Sections in the navigation bar: (path, label, store method that must exist).
NAV = (
    ("/", "Overview", None),
    ("/pipelines", "Pipelines", None),
    ("/runs", "Runs", None),
    ("/artifacts", "Artifacts", None),
    ("/models", "Models", "models"),
    ("/bundles", "Bundles", "bundles"),
    ("/deployments", "Deployments", "deployments"),
    ("/stacks", "Stacks", None),
    ("/api", "API", None),
)


def environment(cache_dir: Path | None = None) -> Any:
    """The Jinja environment, created once; templates compile on first use and are cached.

    With ``cache_dir``, compiled templates are also kept there as bytecode, so the next
    dashboard process starts without compiling them again.
    """
    global _env
    with _env_lock:
        return _env or _make_environment(cache_dir)


def _make_environment(cache_dir: Path | None) -> Any:
    global _env
    if _env is None:
        import jinja2

        bytecode_cache = None
        if cache_dir is not None:
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                bytecode_cache = jinja2.FileSystemBytecodeCache(str(cache_dir))
            except OSError:
                bytecode_cache = None
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            bytecode_cache=bytecode_cache,
            autoescape=True,
            auto_reload=False,
            undefined=jinja2.ChainableUndefined,  # stored JSON varies: a missing key renders empty
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(FILTERS)
        _env = env
    return _env


def render(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``template``, with the session token its actions send (a new session gets its cookie)."""
    board = dashboard_of(request)
    nav = [(path, label) for path, label, needs in NAV if needs is None or board.has(needs)]
    session = request.cookies.get(SESSION_COOKIE)
    fresh = not board.sessions.is_id(session)
    if fresh:
        session = board.sessions.new_id()
    html = environment().get_template(template).render(request=request, nav=nav, path=request.url.path,
                                                       csrf_token=board.sessions.token(str(session)), **context)
    response = HTMLResponse(html, status_code=http_status, headers=_SECURITY_HEADERS)
    if fresh:
        response.headers.append("set-cookie", board.sessions.cookie(str(session)))
    return response


_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    title = {404: "Not found", 400: "Bad request", 401: "Unauthorized"}.get(status, "Error")
    return render(request, "error.html", http_status=status, title=title, status_code=status, message=message)


# -- pipelines and runs -------------------------------------------------------------------
def overview(request: Request) -> Response:
    store = dashboard_of(request).store
    pipes = store.runs.list_pipelines()
    runs = store.runs.list_runs(limit=12)
    counts = store.overview.step_status_counts([r.id for r in runs])
    return render(request, "overview.html", title="Overview", counts=store.overview.store_counts(),
                  pipelines=[resources.pipeline(*p) for p in pipes],
                  runs=[resources.run(r, counts[r.id]) for r in runs])


def pipelines_page(request: Request) -> Response:
    store = dashboard_of(request).store
    return render(request, "pipelines.html", title="Pipelines",
                  pipelines=[resources.pipeline(*p) for p in store.runs.list_pipelines()])


def pipeline_page(request: Request) -> Response:
    """A pipeline: a metric across its runs, and its runs as a table (both drawn from the JSON API)."""
    store = dashboard_of(request).store
    name = request.path_params["name"]
    resources.Page.from_query(request.query_params)  # the table's offset, read by the page's script: a 400 if bad
    record = store.runs.get_pipeline_record(name)
    return render(request, "pipeline.html", title=f"Pipeline {name}", pipeline=record,
                  total=store.runs.count_runs(pipeline_name=name))


def runs_page(request: Request) -> Response:
    store = dashboard_of(request).store
    page = resources.Page.from_query(request.query_params)
    status = run_status_param(request)
    pipeline = request.query_params.get("pipeline") or None
    runs = store.runs.list_runs(pipeline_name=pipeline, status=status, limit=page.limit, offset=page.offset)
    counts = store.overview.step_status_counts([r.id for r in runs])
    return render(request, "runs.html", title="Runs", runs=[resources.run(r, counts[r.id]) for r in runs],
                  page=page, total=store.runs.count_runs(pipeline_name=pipeline, status=status),
                  status=status, pipeline=pipeline)


def _run_view(request: Request) -> dict[str, Any]:
    store = dashboard_of(request).store
    run = store.runs.get_run(request.path_params["run_id"])
    steps = store.runs.get_steps(run.id)
    by_name = {s.name: resources.step(s) for s in steps}
    outputs = store.artifacts.get_artifacts({aid for s in steps for aid in s.outputs.values()})
    return {
        "run": resources.run(run, _counts(steps)),
        "steps": list(by_name.values()),
        "layout": dag_layout.layout(run.dag, by_name),
        "gantt": gantt(run, steps),
        "artifacts": {aid: resources.artifact(a) for aid, a in outputs.items()},
    }


def _counts(steps: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in steps:
        out[s.status] = out.get(s.status, 0) + 1
    return out


def run_page(request: Request) -> Response:
    view = _run_view(request)
    return render(request, "run.html", title=f"Run {view['run']['name']}", **view)


def run_live(request: Request) -> Response:
    """The part of a run page that changes while it runs (polled by ``run.js``)."""
    return render(request, "run_live.html", **_run_view(request))


#: How many runs one comparison takes (the compare API's limit too).
MAX_COMPARED = 20


def compare_page(request: Request) -> Response:
    """Runs side by side (``/compare?runs=ID,ID,...``): what ``dosirak runs compare`` shows, with overlaid charts."""
    store = dashboard_of(request).store
    refs = [r.strip() for r in request.query_params.get("runs", "").split(",") if r.strip()]
    if not 2 <= len(refs) <= MAX_COMPARED:
        raise DashboardError(f"compare needs 2 to {MAX_COMPARED} run ids, as ?runs=ID,ID; got {len(refs)}")
    runs = [resources.run(store.runs.get_run(ref)) for ref in refs]  # an unknown id is a 404 here
    return render(request, "compare.html", title=f"Compare {len(runs)} runs", runs=runs)


# -- steps --------------------------------------------------------------------------------
def step_page(request: Request) -> Response:
    store = dashboard_of(request).store
    step = store.runs.get_step_run(request.path_params["step_id"])
    pipeline_name, run_id, _ = store.runs.step_run_context(step.id)
    run = store.runs.get_run(run_id)
    artifacts = store.artifacts.get_artifacts([*step.inputs.values(), *step.outputs.values()])
    source = None
    if step.cached_from:
        try:
            source = resources.step(store.runs.get_step_run(step.cached_from))
        except NotFoundError:
            source = None
    log = logs.tail(step.logs_uri)
    return render(request, "step.html", title=f"Step {step.name}", step=resources.step(step),
                  run=resources.run(run), pipeline_name=pipeline_name, source=source,
                  source_code=step.source_code, log=log,
                  artifacts={aid: resources.artifact(a) for aid, a in artifacts.items()})


def step_log_text(request: Request) -> Response:
    store = dashboard_of(request).store
    step = store.runs.get_step_run(request.path_params["step_id"])
    chunk = logs.tail(step.logs_uri, max_bytes=256 * 1024)
    return PlainTextResponse(chunk.text, headers={"x-content-type-options": "nosniff",
                                                  "content-security-policy": "default-src 'none'"})


# -- artifacts ----------------------------------------------------------------------------
def artifacts_page(request: Request) -> Response:
    store = dashboard_of(request).store
    page = resources.Page.from_query(request.query_params)
    type_name = request.query_params.get("type") or None
    items = store.artifacts.list_artifacts(limit=page.limit, offset=page.offset, type_name=type_name)
    producers = store.overview.step_run_names([a.producer_step_run_id for a in items if a.producer_step_run_id])
    return render(request, "artifacts.html", title="Artifacts", artifacts=[resources.artifact(a) for a in items],
                  producers=producers, page=page, type_name=type_name,
                  total=store.overview.count_artifacts_of_type(type_name) if type_name else store.artifacts.count_artifacts())


def artifact_page(request: Request) -> Response:
    store = dashboard_of(request).store
    artifact = store.artifacts.get_artifact(request.path_params["artifact_id"])
    return render(request, "artifact.html", title=f"Artifact {artifact.name}", artifact=resources.artifact(artifact),
                  links=resources.links(store.artifacts.artifact_links(artifact.id)), preview=previews.preview(artifact))


def artifact_thumbnail(request: Request) -> Response:
    store = dashboard_of(request).store
    artifact = store.artifacts.get_artifact(request.path_params["artifact_id"])
    data = previews.thumbnail(artifact)
    if data is None:
        raise NotFoundError(f"artifact '{artifact.id}' has no image to show")
    return Response(data, media_type="image/png", headers={"cache-control": "private, max-age=3600"})


# -- stacks -------------------------------------------------------------------------------
def stacks_page(request: Request) -> Response:
    store = dashboard_of(request).store
    return render(request, "stacks.html", title="Stacks", stacks=[resources.stack(s) for s in store.stacks.list_stacks()],
                  components=[resources.component(c) for c in store.stacks.list_components()])


def api_page(request: Request) -> Response:
    return render(request, "api.html", title="API", spec=openapi_document())


def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


def routes() -> list[BaseRoute]:
    """The pages of runs, steps, artifacts and stacks (:mod:`~dosirak.dashboard.registry_pages` has the registry's)."""
    return [
        Route("/", overview),
        Route("/favicon.ico", favicon),
        Route("/pipelines", pipelines_page),
        Route("/pipelines/{name:path}", pipeline_page),
        Route("/runs", runs_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/live", run_live),
        Route("/compare", compare_page),
        Route("/steps/{step_id}", step_page),
        Route("/steps/{step_id}/log.txt", step_log_text),
        Route("/artifacts", artifacts_page),
        Route("/artifacts/{artifact_id}", artifact_page),
        Route("/artifacts/{artifact_id}/thumbnail.png", artifact_thumbnail),
        Route("/stacks", stacks_page),
        Route("/api", api_page),
    ]


__all__ = ["environment", "error_page", "render", "routes"]
