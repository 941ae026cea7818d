"""Pages for the registry and what runs: models and versions, bundles, deployments."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dosirak.dashboard import deployments, registry, resources
from dosirak.dashboard.context import dashboard_of
from dosirak.dashboard.pages import render


def models_page(request: Request) -> Response:
    models = registry.store_with(request, "models").models.list_models()
    return render(request, "models.html", title="Models", models=[resources.record(m) for m in models],
                  deployed=registry.deployed_versions(dashboard_of(request)))


def model_page(request: Request) -> Response:
    view = registry.model_view(dashboard_of(request), request.path_params["name"])
    return render(request, "model.html", title=f"Model {view['model']['name']}", **view)


def model_version_page(request: Request) -> Response:
    view = registry.model_version_view(dashboard_of(request), request.path_params["name"],
                                       request.path_params["version"])
    return render(request, "model_version.html", title=f"Model {view['version']['name']}:{view['version']['version']}",
                  **view)


def bundles_page(request: Request) -> Response:
    bundles = registry.store_with(request, "bundles").bundles.list_bundles()
    return render(request, "bundles.html", title="Bundles", bundles=[resources.record(b) for b in bundles])


def bundle_page(request: Request) -> Response:
    view = registry.bundle_view(dashboard_of(request), request.path_params["bundle_id"])
    return render(request, "bundle.html", title=f"Bundle {view['bundle']['name']}", **view)


def deployments_page(request: Request) -> Response:
    return render(request, "deployments.html", title="Deployments",
                  deployments=deployments.list_view(dashboard_of(request)))


def deployment_page(request: Request) -> Response:
    view = deployments.detail_view(dashboard_of(request), request.path_params["deployment_id"])
    return render(request, "deployment.html", title=f"Deployment {view['deployment']['name']}", **view)


def routes() -> list[BaseRoute]:
    return [
        Route("/models", models_page),
        Route("/models/{name}", model_page),
        Route("/models/{name}/versions/{version}", model_version_page),
        Route("/bundles", bundles_page),
        Route("/bundles/{bundle_id}", bundle_page),
        Route("/deployments", deployments_page),
        Route("/deployments/{deployment_id}", deployment_page),
    ]


__all__ = ["routes"]
