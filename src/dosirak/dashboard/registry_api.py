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


ENDPOINTS: list[Endpoint] = [
    Endpoint("/models", list_models, "Models with their version count, newest version and aliases", "models",
             "Model", PAGING, paginated=True),
    Endpoint("/models/{name}", get_model, "A model with its versions (metrics side by side) and alias history",
             "models", "ModelDetail"),
    Endpoint("/models/{name}/versions/{version}", get_model_version,
             "A model version (number, alias or 'latest') with its lineage and the bundles that carry it",
             "models", "ModelDetail"),
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
