"""Finding deployed model servers again, from any process: :func:`find_model_server`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from dosirak.errors import DeploymentError
from dosirak.metadata.records import DeploymentRecord
from dosirak.metadata.store import get_store
from dosirak.stack.flavors import flavor_class

if TYPE_CHECKING:
    from dosirak.deployers.prediction_service import PredictionService


class ModelServer(DeploymentRecord):
    """A deployment found by :func:`find_model_server`: its record, and a way to call it.

    Example::

        server = find_model_server(model_name="fashion_mnist")[0]
        with server.client() as client:
            labels = client.predict_ndarray(images)
    """

    @classmethod
    def of(cls, record: DeploymentRecord) -> ModelServer:
        """``record`` as a ModelServer (the same fields)."""
        return cls(**{f.name: getattr(record, f.name) for f in fields(record)})

    def client(self, *, timeout_s: float = 30.0) -> Any:
        """A new client with one method per api of this service (close it, or use ``with``).

        A :class:`~dosirak.serving.client.ServiceClient` at :attr:`url`, sending the first
        key of the deployment's ``api_key_env`` variable from this process's environment
        when the service requires keys; for a SageMaker endpoint, a client calling it
        through sagemaker-runtime.
        """
        return self.prediction_service(timeout_s=timeout_s).client()

    def prediction_service(self, *, timeout_s: float = 30.0) -> PredictionService:
        """A :class:`~dosirak.deployers.prediction_service.PredictionService` handle on this deployment.

        Its ``predict(api, data)`` follows a redeployment to another address.
        """
        from dosirak.deployers.prediction_service import PredictionService  # lazy: cycle

        config = self.config or {}
        return PredictionService(deployment_id=self.id, url=str(self.url), model_name=self.model_name,
                                 pipeline_name=self.pipeline_name, step_name=self.step_name, timeout_s=timeout_s,
                                 api_key_env=config.get("api_key_env"), flavor=self.flavor,
                                 region=config.get("region"), endpoint_name=config.get("endpoint_name"),
                                 bundle_id=self.bundle_id)


def refresh(record: DeploymentRecord) -> DeploymentRecord:
    """``record`` with its status checked by the flavor that made it (a dead process is not running)."""
    deployer = flavor_class("model-deployer", record.flavor)(record.deployer, {})
    return deployer.refresh(record)


#: At most this many status checks at once (each may wait on a cloud API's timeouts).
MAX_CONCURRENT_REFRESHES = 8


def refresh_all(records: Sequence[DeploymentRecord]) -> list[DeploymentRecord]:
    """Each record refreshed (:func:`refresh`), in order; the slow checks run at the same time.

    A local deployment is checked on this thread (its process table, instantly); one in a
    cloud asks the cloud's API, which may take a network timeout when it cannot be reached,
    so those checks run concurrently: listing ten unreachable endpoints costs one timeout,
    not ten.
    """
    slow = [i for i, r in enumerate(records) if r.flavor != "local"]
    if len(slow) < 2:
        return [refresh(r) for r in records]
    refreshed = list(records)
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_REFRESHES, len(slow)),
                            thread_name_prefix="dosirak-refresh") as pool:
        checks = {i: pool.submit(refresh, records[i]) for i in slow}
        for i, r in enumerate(records):
            if i not in checks:
                refreshed[i] = refresh(r)
        for i, check in checks.items():
            refreshed[i] = check.result()
    return refreshed


def find_model_server(
    *,
    pipeline_name: str | None = None,
    step_name: str | None = None,
    model_name: str | None = None,
    running: bool = True,
) -> list[ModelServer]:
    """Deployments matching every given filter, newest first, their status checked against reality.

    Each is a :class:`ModelServer`: the deployment's record (``url``, ``status``, ...) with
    ``client()``, a client with one method per api.

    Args:
        pipeline_name: The pipeline whose run deployed it.
        step_name: The step that deployed it (e.g. ``"model_deployer"``).
        model_name: The model it serves.
        running: Only deployments whose process is alive and ready.

    Example::

        servers = find_model_server(pipeline_name="training_fashion_mnist",
                                    step_name="model_deployer", model_name="fashion_mnist")
        with servers[0].client() as client:
            print(servers[0].url, client.predict_ndarray(images))
    """
    records = get_store().deployments.list_deployments(pipeline_name=pipeline_name, step_name=step_name, model_name=model_name)
    found = [ModelServer.of(r) for r in refresh_all(records)]
    if running:
        found = [r for r in found if r.status == "running"]
    return sorted(found, key=lambda r: r.started_at or r.created_at, reverse=True)


def find_prediction_service(pipeline_name: str | None, step_name: str | None, model_name: str | None,
                            *, timeout_s: float = 30.0) -> PredictionService:
    """A handle on the newest running matching deployment; a DeploymentError naming what was searched."""
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
    return found[0].prediction_service(timeout_s=timeout_s)


__all__ = ["ModelServer", "find_model_server", "find_prediction_service", "refresh", "refresh_all"]
