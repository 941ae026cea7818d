"""The ``sagemaker`` model-deployer flavor: the ``model_deployer`` step deploys to a SageMaker endpoint.

Register it with the region and the role SageMaker assumes (and any other option of a
deploy config: instance type, image repository, autoscaling, ...)::

    dosirak model-deployer register sm --flavor=sagemaker --region=eu-west-1 \\
        --role-arn=arn:aws:iam::123456789012:role/SageMakerExecution
    dosirak stack register aws_stack -a default -o default -d sm --set

A deployment of bundle ``fashion_mnist:3`` goes to the endpoint ``fashion-mnist`` (the
deployment's name with every character SageMaker refuses turned into ``-``): the bundle's
image is built and pushed (:func:`~dosirak.deployers.registry.build_and_push`) unless an
image of that bundle was already pushed to the repository, then the endpoint is applied as by ``dosirak deploy apply``. ``refresh``
asks SageMaker for the endpoint's status; ``stop`` deletes the endpoint but keeps its
configuration, so ``start`` brings it back; ``delete`` removes every resource.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from dosirak.deployers.aws import AWS, is_not_found, translated
from dosirak.deployers.base import BaseDeployer, DeploymentRequest
from dosirak.deployers.sagemaker import Endpoints, Lineage, bundle_lineage, endpoint_status
from dosirak.errors import DeploymentError, FlavorError
from dosirak.metadata.store import get_store
from dosirak.metadata.timeutil import utcnow
from dosirak.statuses import ENDED_DEPLOYMENT_STATUSES, LIVE_DEPLOYMENT_STATUSES, SERVING_DEPLOYMENT_STATUSES

if TYPE_CHECKING:
    from dosirak.deployers.sagemaker_config import DeployConfig
    from dosirak.metadata.records import DeploymentRecord

log = logging.getLogger(__name__)


def endpoint_name(name: str) -> str:
    """``name`` as SageMaker accepts it: runs of other characters become ``-``; at most 52 characters."""
    from dosirak.deployers.sagemaker_config import MAX_NAME, check_sagemaker_name

    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:MAX_NAME].rstrip("-")
    try:
        return check_sagemaker_name(cleaned)
    except ValueError:
        raise DeploymentError(f"deployment name '{name[:60]}' leaves no usable SageMaker endpoint name; "
                              "name the bundle with letters and digits") from None


class SageMakerDeployer(BaseDeployer):
    """Deploys bundles to SageMaker endpoints; see the module docstring."""

    flavor: ClassVar[str] = "sagemaker"
    config_model: ClassVar[str | None] = "dosirak.deployers.sagemaker_config:SageMakerDeployerConfig"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The options as stored; FlavorError naming each bad option and what to write there."""
        from pydantic import ValidationError

        from dosirak.deployers.sagemaker_config import SageMakerDeployerConfig, problems

        try:
            return dict(SageMakerDeployerConfig.model_validate(config).model_dump(mode="json", exclude_none=True))
        except ValidationError as exc:
            known = sorted(SageMakerDeployerConfig.model_fields)
            raise FlavorError(f"invalid options for flavor 'sagemaker': {problems(exc, known)}") from None

    def deploy_config(self, request: DeploymentRequest) -> DeployConfig:
        """The deploy config of ``request`` with this deployer's options (ConfigError when they are incomplete)."""
        from dosirak.deployers.sagemaker_config import parse

        options = {k: v for k, v in self.config.items() if v is not None}
        config = parse({**options, "name": endpoint_name(request.name), "bundle": request.target},
                       source=f"model-deployer '{self.name}'")
        return config.resolved()

    def deploy(self, request: DeploymentRequest) -> DeploymentRecord:
        from dosirak.deployers.registry import build_and_push, find_pushed

        config = self.deploy_config(request)
        lineage = bundle_lineage(config.bundle)
        lineage = Lineage(bundle_tag=lineage.bundle_tag, bundle_id=request.bundle_id or lineage.bundle_id,
                          model_name=request.model_name or lineage.model_name,
                          model_version_id=request.model_version_id or lineage.model_version_id,
                          run_id=request.run_id or lineage.run_id, pipeline_name=request.pipeline_name,
                          step_name=request.step_name, deployer=self.name, extra=dict(request.extra))
        aws = AWS(config.region)
        image = find_pushed(config, aws) or build_and_push(config, aws)
        result = Endpoints(aws).apply(config, image, lineage)
        log.info("deployment %s: endpoint %s is InService (%s)", result.record.id[:8], config.name,
                 "; ".join(result.changes) or "nothing changed")
        return result.record

    def refresh(self, record: DeploymentRecord) -> DeploymentRecord:
        if record.status not in LIVE_DEPLOYMENT_STATUSES:
            return record
        try:
            status, reason = endpoint_status(record)
        except DeploymentError as exc:  # offline, no credentials: keep what was recorded
            log.warning("deployment %s: cannot ask SageMaker for its status (%s)", record.id[:8], exc)
            return record
        if status == record.status:
            return record
        changes: dict[str, Any] = {"status": status}
        if status in ENDED_DEPLOYMENT_STATUSES:
            changes.update(stopped_at=_now(), error=reason)
        return get_store().deployments.update_deployment(record.id, **changes)

    def _endpoints(self, record: DeploymentRecord) -> Any:
        return Endpoints(AWS(record.config.get("region")))

    def stop(self, deployment_id: str) -> DeploymentRecord:
        """Delete the endpoint; its model and configuration stay, so ``start`` can bring it back."""
        store = get_store()
        record = self.refresh(store.deployments.get_deployment(deployment_id))
        if record.status not in SERVING_DEPLOYMENT_STATUSES:
            return record
        name = record.config.get("endpoint_name") or record.name
        endpoints = self._endpoints(record)
        if endpoints.describe(name) is not None:
            with translated(f"deleting endpoint {name}"):
                endpoints.sm.delete_endpoint(EndpointName=name)
        return store.deployments.update_deployment(record.id, status="stopped", stopped_at=_now())

    def start(self, deployment_id: str) -> DeploymentRecord:
        """Create the endpoint again on the recorded configuration and wait for InService."""
        store = get_store()
        record = self.refresh(store.deployments.get_deployment(deployment_id))
        if record.status in SERVING_DEPLOYMENT_STATUSES:
            raise DeploymentError(f"deployment {record.id[:8]} is already {record.status}")
        name = record.config.get("endpoint_name") or record.name
        endpoints = self._endpoints(record)
        with translated(f"creating endpoint {name}"):
            endpoints.sm.create_endpoint(EndpointName=name, EndpointConfigName=record.config["endpoint_config_name"])
        store.deployments.update_deployment(record.id, status="starting", error=None, stopped_at=None)
        try:
            timeouts = record.config.get("timeouts") or {}
            endpoints.wait(name, timeout_s=float(timeouts.get("endpoint_s", 1800.0)),
                           poll_s=float(timeouts.get("poll_s", 15.0)))
        except DeploymentError as exc:
            store.deployments.update_deployment(record.id, status="failed", error=str(exc), stopped_at=_now())
            raise
        return store.deployments.update_deployment(record.id, status="running")

    def delete(self, deployment_id: str) -> DeploymentRecord:
        """Destroy the endpoint and every configuration and model of it, then forget the deployment."""
        store = get_store()
        record = store.deployments.get_deployment(deployment_id)
        name = record.config.get("endpoint_name") or record.name
        endpoints = self._endpoints(record)
        if endpoints.describe(name) is not None or any(endpoints.owned(name)):
            endpoints.destroy(name)
        store.deployments.update_deployment(record.id, status="stopped", stopped_at=record.stopped_at or _now())
        return store.deployments.delete_deployment(record.id)

    def logs(self, deployment_id: str, *, follow: bool = False) -> Iterator[str]:
        """The endpoint's CloudWatch log lines (``/aws/sagemaker/Endpoints/NAME``); ``follow`` is not supported."""
        record = get_store().deployments.get_deployment(deployment_id)
        name = record.config.get("endpoint_name") or record.name
        client = AWS(record.config.get("region")).client("logs")
        group = f"/aws/sagemaker/Endpoints/{name}"
        kwargs: dict[str, Any] = {"logGroupName": group, "limit": 1000}
        with translated(f"reading log group {group}"):
            try:
                while True:
                    page = client.filter_log_events(**kwargs)
                    for event in page.get("events", []):
                        yield f"{event.get('logStreamName', '')}: {event.get('message', '').rstrip()}\n"
                    if not page.get("nextToken") or page.get("nextToken") == kwargs.get("nextToken"):
                        break
                    kwargs["nextToken"] = page["nextToken"]
            except Exception as exc:
                if is_not_found(exc):
                    raise DeploymentError(f"endpoint {name} has no CloudWatch logs ({group} does not exist)") from None
                raise


def _now() -> Any:
    return utcnow()


__all__ = ["SageMakerDeployer", "endpoint_name"]
