"""Built-in deployment steps: ``model_deployer`` and ``prediction_service_loader``.

Example::

    from dosirak.steps import bundle_builder, model_deployer, prediction_service_loader

    @pipeline(enable_cache=False)
    def training(min_accuracy: float = 0.8):
        ...
        bundle = bundle_builder(model, model_name="fashion_mnist", service="service.py:FashionMNIST")
        model_deployer(bundle, deploy_decision=decision, port=3001)

    @pipeline
    def inference():
        service = prediction_service_loader(pipeline_name="training", step_name="model_deployer",
                                            model_name="fashion_mnist")
        predictor(images, service)
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from dosirak.deployers.base import DeploymentRequest
from dosirak.deployers.discovery import find_prediction_service
from dosirak.deployers.prediction_service import PredictionService
from dosirak.metadata.store import get_store
from dosirak.pipelines.context import get_step_context
from dosirak.pipelines.step import step
from dosirak.stack.stack import load_stack

log = logging.getLogger(__name__)


def _bundle_facts(bundle: Any) -> dict[str, Any]:
    """Target tag, bundle id, model name and version id of a bundle record or tag."""
    if isinstance(bundle, str):
        name, _, version = bundle.partition(":")
        bundle = get_store().bundles.get_bundle(name, version or "latest")
    models = list(getattr(bundle, "models", None) or [])
    first = models[0] if models and isinstance(models[0], dict) else {}
    return {"target": bundle.tag, "bundle_id": getattr(bundle, "id", None), "name": bundle.name,
            "model_name": first.get("name") or bundle.name, "model_version_id": first.get("id")}


@step(enable_cache=False)
def model_deployer(
    bundle: str,
    deploy_decision: bool = True,
    port: int | None = None,
    workers: int | None = None,
    timeout_s: float | None = None,
    host: str | None = None,
    api_key_env: str | None = None,
) -> Annotated[dict[str, Any], "deployment"]:
    """Serve ``bundle`` with the active stack's model deployer, replacing its older deployment.

    When ``deploy_decision`` is False nothing is deployed; the output records why.

    Args:
        bundle: The tag of the bundle to serve (the ``bundle_builder`` output).
        deploy_decision: Whether to deploy (usually a trigger step's output).
        port: Port to serve on (the deployer's default when None; 0 for any free port).
        workers: Worker processes (the deployer's default when None: 2 on 2+ cores).
        timeout_s: How long to wait for the service to be ready.
        host: Address to listen on (the deployer's default when None).
        api_key_env: Name of the environment variable holding the API keys the service will
            require (comma-separated); it must be set where the pipeline runs, and where
            ``prediction_service_loader``'s handle calls the service. Only the name is recorded.

    Returns:
        ``{"deployed": bool, ...}``: the deployment's id, URL and docs URL, or the reason
        nothing was deployed.
    """
    facts = _bundle_facts(bundle)
    if not deploy_decision:
        reason = f"deploy_decision was False: bundle {facts['target']} was not deployed"
        print(reason)
        log.info("%s", reason)
        return {"deployed": False, "reason": reason, "bundle": facts["target"]}
    store = get_store()
    ctx = get_step_context()
    stack = load_stack(store, store.runs.get_run(ctx.run_id).stack_name if ctx else None)
    deployer = stack.deployer()
    record = deployer.deploy(DeploymentRequest(
        target=facts["target"], name=facts["name"], port=port, host=host, workers=workers, timeout_s=timeout_s,
        api_key_env=api_key_env,
        bundle_id=facts["bundle_id"], model_name=facts["model_name"], model_version_id=facts["model_version_id"],
        pipeline_name=ctx.pipeline_name if ctx else None, run_id=ctx.run_id if ctx else None,
        step_name=ctx.step_name if ctx else None,
        extra={"step_run_id": ctx.step_run_id, "run_name": ctx.run_name} if ctx else {},
    ))
    print(f"deployed {facts['target']} at {record.url} (docs: {record.url}/docs), deployment {record.id[:8]}")
    return {"deployed": True, "deployment_id": record.id, "url": record.url, "docs_url": f"{record.url}/docs",
            "bundle": facts["target"], "pid": record.pid}


@step(enable_cache=False)
def prediction_service_loader(
    pipeline_name: str, step_name: str = "model_deployer", model_name: str | None = None, timeout_s: float = 30.0,
) -> PredictionService:
    """A handle on the running service deployed by ``step_name`` of ``pipeline_name`` for ``model_name``.

    Raises:
        DeploymentError: none is running; the message names what was searched and what was found.
    """
    service = find_prediction_service(pipeline_name, step_name, model_name, timeout_s=timeout_s)
    print(f"found service {service.url} (deployment {service.deployment_id[:8]})")
    return service


__all__ = ["model_deployer", "prediction_service_loader"]
