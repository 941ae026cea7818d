"""Finding deployed model servers again, from any process: :func:`find_model_server`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dosirak.deployers.prediction_service import PredictionService
    from dosirak.metadata.records import DeploymentRecord


def refresh(record: DeploymentRecord) -> DeploymentRecord:
    """``record`` with its status checked by the flavor that made it (a dead process is not running)."""
    from dosirak.stack.flavors import flavor_class

    deployer = flavor_class("model-deployer", record.flavor)(record.deployer, {})
    return deployer.refresh(record)


def find_model_server(
    *,
    pipeline_name: str | None = None,
    step_name: str | None = None,
    model_name: str | None = None,
    running: bool = True,
) -> list[DeploymentRecord]:
    """Deployments matching every given filter, newest first, their status checked against reality.

    Args:
        pipeline_name: The pipeline whose run deployed it.
        step_name: The step that deployed it (e.g. ``"model_deployer"``).
        model_name: The model it serves.
        running: Only deployments whose process is alive and ready.

    Example::

        servers = find_model_server(pipeline_name="training_fashion_mnist",
                                    step_name="model_deployer", model_name="fashion_mnist")
        print(servers[0].url if servers else "not deployed")
    """
    from dosirak.metadata.store import get_store

    records = get_store().list_deployments(pipeline_name=pipeline_name, step_name=step_name, model_name=model_name)
    found = [refresh(r) for r in records]
    if running:
        found = [r for r in found if r.status == "running"]
    return sorted(found, key=lambda r: r.started_at or r.created_at, reverse=True)


def find_prediction_service(pipeline_name: str | None, step_name: str | None, model_name: str | None,
                            *, timeout_s: float = 30.0) -> PredictionService:
    """A handle on the newest running matching deployment; a DeploymentError naming what was searched."""
    from dosirak.deployers.prediction_service import PredictionService
    from dosirak.errors import DeploymentError

    found = find_model_server(pipeline_name=pipeline_name, step_name=step_name, model_name=model_name)
    if not found:
        others = find_model_server(pipeline_name=pipeline_name, step_name=step_name, model_name=model_name,
                                   running=False)
        seen = "; ".join(f"{d.id[:8]} {d.status}" + (f" ({d.error.splitlines()[0]})" if d.error else "")
                         for d in others[:3])
        raise DeploymentError(
            f"no running deployment of model '{model_name}' deployed by step '{step_name}' of pipeline "
            f"'{pipeline_name}'" + (f"; not running: {seen}" if seen else "; none was ever recorded")
            + ". Run the training pipeline (it deploys when the trigger says so), or see `dosirak deployment list`")
    record = found[0]
    return PredictionService(deployment_id=record.id, url=str(record.url), model_name=record.model_name,
                             pipeline_name=record.pipeline_name, step_name=record.step_name, timeout_s=timeout_s,
                             api_key_env=(record.config or {}).get("api_key_env"), flavor=record.flavor,
                             region=(record.config or {}).get("region"),
                             endpoint_name=(record.config or {}).get("endpoint_name"), bundle_id=record.bundle_id)


__all__ = ["find_model_server", "find_prediction_service", "refresh"]
