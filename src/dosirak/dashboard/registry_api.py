"""The JSON API over the registry: models and their versions, bundles.

These read the store's model and bundle mixins; a store without them answers 404 with a
message saying so, rather than failing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dosirak.dashboard import deployments, registry, resources
from dosirak.dashboard.context import dashboard_of
from dosirak.dashboard.endpoint import PAGING, Endpoint, json_response
from dosirak.errors import DashboardError, ModelError

#: An action's JSON body is a few fields; anything longer is refused before parsing.
MAX_ACTION_BODY = 4096


def list_models(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    models = registry.store_with(request, "models").models.list_models()
    items = [resources.record(m) for m in models[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(models)))


def get_model(request: Request) -> Response:
    return json_response(registry.model_view(dashboard_of(request), request.path_params["name"]))


def get_model_version(request: Request) -> Response:
    view = registry.model_version_view(dashboard_of(request), request.path_params["name"],
                                       request.path_params["version"])
    return json_response(view)


def list_bundles(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    bundles = registry.store_with(request, "bundles").bundles.list_bundles(request.query_params.get("name") or None)
    items = [resources.record(b) for b in bundles[page.offset: page.offset + page.limit]]
    return json_response(page.envelope(items, len(bundles)))


def get_bundle(request: Request) -> Response:
    return json_response(registry.bundle_view(dashboard_of(request), request.path_params["bundle_id"]))


def list_deployments(request: Request) -> Response:
    page = resources.Page.from_query(request.query_params)
    items = deployments.list_view(dashboard_of(request))
    return json_response(page.envelope(items[page.offset: page.offset + page.limit], len(items)))


def get_deployment(request: Request) -> Response:
    return json_response(deployments.detail_view(dashboard_of(request), request.path_params["deployment_id"]))


async def deployment_action(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    action = request.url.path.rsplit("/", 1)[1]
    result = await run_in_threadpool(deployments.act, dashboard_of(request), request.path_params["deployment_id"],
                                     action)
    return json_response(result)


async def move_alias(request: Request) -> Response:
    """Point an alias at a version (``{"version": N}``), as ``dosirak model alias`` does; kept in the history."""
    from starlette.concurrency import run_in_threadpool

    board = dashboard_of(request)
    server = request.scope.get("server")
    board.sessions.check_action({k.lower(): v for k, v in request.headers.items()}, dict(request.cookies),
                                (str(server[0]), int(server[1])) if server else None,
                                behind_token=board.behind_token)
    version = _version_of(await _small_body(request))
    store = registry.store_with(board, "models")
    try:
        move = await run_in_threadpool(store.models.set_model_alias, request.path_params["name"],
                                       request.path_params["alias"], version, actor="dashboard")
    except ModelError as exc:  # an alias name the registry refuses: the caller's mistake
        raise DashboardError(str(exc)) from exc
    return json_response(resources.record(move))


async def _small_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ACTION_BODY:
            raise DashboardError(f"an action's body must be at most {MAX_ACTION_BODY} bytes")
    return body


def _version_of(body: bytes) -> int:
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DashboardError(f"the body must be JSON like {{\"version\": 3}}: {exc}") from exc
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 2**62:
        raise DashboardError("the body must name the version to point the alias at, e.g. {\"version\": 3}")
    return version


ENDPOINTS: list[Endpoint] = [
    Endpoint("/models", list_models, "Models with their version count, newest version and aliases", "models",
             "Model", PAGING, paginated=True),
    Endpoint("/models/{name}", get_model, "A model with its versions (metrics side by side) and alias history",
             "models", "ModelDetail"),
    Endpoint("/models/{name}/versions/{version}", get_model_version,
             "A model version (number, alias or 'latest') with its lineage and the bundles that carry it",
             "models", "ModelDetail"),
    Endpoint("/models/{name}/aliases/{alias}", move_alias,
             "Point an alias at a version (body {\"version\": N}); needs the page's session token "
             "(X-Dosirak-Csrf) and the dashboard's own Origin; kept in the alias history", "models",
             "AliasMove", methods=("POST",)),
    Endpoint("/bundles", list_bundles, "Bundles, by name then newest version", "bundles", "Bundle",
             (*PAGING,), paginated=True),
    Endpoint("/bundles/{bundle_id}", get_bundle, "A bundle: apis, models, labels, files and requirements",
             "bundles", "Bundle"),
    Endpoint("/deployments", list_deployments, "Deployments, newest first, with a live process check", "deployments",
             "Deployment", PAGING, paginated=True),
    Endpoint("/deployments/{deployment_id}", get_deployment,
             "A deployment (id, prefix or name) with its bundle and last log lines", "deployments", "DeploymentDetail"),
    Endpoint("/deployments/{deployment_id}/stop", deployment_action,
             "Stop a deployment through its deployer (the dashboard's only writes are these two)", "deployments",
             "Deployment", methods=("POST",)),
    Endpoint("/deployments/{deployment_id}/start", deployment_action,
             "Start a stopped deployment again through its deployer", "deployments", "Deployment", methods=("POST",)),
]

__all__ = ["ENDPOINTS"]
