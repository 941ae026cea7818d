"""A bundle's image on a SageMaker endpoint: model, endpoint configuration, endpoint, autoscaling.

:class:`Endpoints` does what ``dosirak deploy apply|status|invoke|destroy`` say, and what
the ``sagemaker`` model-deployer flavor (:mod:`dosirak.deployers.sagemaker_flavor`) does
for a pipeline. Every resource is derived from the deploy config:

- the model ``NAME-<hash>`` runs the image *by digest* (``repo@sha256:...``) with the role
  and environment; the hash covers all three, so a new image makes a new model;
- the endpoint configuration ``NAME-<hash>`` (one variant ``AllTraffic``; data capture when
  asked) covers the model, instance type and count;
- the endpoint ``NAME`` is created on it, or updated to it when it runs another one.

So applying the same config twice changes nothing, and any change makes new resources that
the endpoint switches to, after which the old configurations and models (tagged
``dosirak:deployment=NAME``) are deleted. A deployment row is recorded before the first
change and kept in step with the endpoint; when a step fails the error says what exists now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dosirak.bundles import store
from dosirak.deployers.aws import AWS, describe, is_not_found, translated
from dosirak.errors import DeploymentError, NotFoundError
from dosirak.metadata.store import get_store
from dosirak.metadata.timeutil import utcnow
from dosirak.stack.credentials import resolve
from dosirak.statuses import LIVE_DEPLOYMENT_STATUSES, DeploymentStatus

if TYPE_CHECKING:
    from dosirak.deployers.sagemaker_config import Autoscaling, DeployConfig
    from dosirak.metadata.records import BundleRecord, DeploymentRecord

log = logging.getLogger(__name__)

VARIANT = "AllTraffic"
#: Tag on every model and endpoint configuration dosirak makes: its deployment's name.
OWNER_TAG = "dosirak:deployment"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY_NAME = "dosirak-invocations-per-instance"
#: Deployer name recorded for deployments made by ``dosirak deploy apply`` (no component involved).
CLI_DEPLOYER = "dosirak-deploy"
FLAVOR = "sagemaker"
#: SageMaker's endpoint status -> the deployment status dosirak records.
STATUS: dict[str, DeploymentStatus] = {"InService": "running", "Creating": "starting", "Updating": "starting", "SystemUpdating": "running",
          "RollingBack": "starting", "UpdateRollbackFailed": "failed", "Deleting": "stopping",
          "Failed": "failed", "OutOfService": "failed"}
_SETTLING = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Image:
    """A pushed image: ``reference`` is ``repo@sha256:...``."""

    repository: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class Lineage:
    """What a deployment row records besides the endpoint: the bundle and who deployed it."""

    bundle_tag: str
    bundle_id: str | None = None
    model_name: str | None = None
    model_version_id: str | None = None
    run_id: str | None = None
    pipeline_name: str | None = None
    step_name: str | None = None
    deployer: str = CLI_DEPLOYER
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_bundle(cls, record: BundleRecord, **more: Any) -> Lineage:
        """The lineage of a recorded bundle: its id, first model, and the run that made it."""
        models = [m for m in (record.models or []) if isinstance(m, dict)]
        first = models[0] if models else {}
        return cls(bundle_tag=record.tag, bundle_id=record.id, model_name=first.get("name") or record.name,
                   model_version_id=first.get("id"), run_id=record.run_id, **more)


@dataclass(frozen=True)
class Plan:
    """The SageMaker resources a config and an image make: names and the requests that create them."""

    name: str
    model_name: str
    endpoint_config_name: str
    model_request: dict[str, Any]
    config_request: dict[str, Any]


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did (``changes`` is empty when nothing had to change) and the recorded deployment."""

    record: DeploymentRecord
    changes: tuple[str, ...]
    endpoint: dict[str, Any]


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def invocations_url(region: str, name: str) -> str:
    """The HTTPS address of an endpoint's invocations (what sagemaker-runtime calls)."""
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{name}/invocations"


def resolve_environment(config: DeployConfig) -> dict[str, str]:
    """The container's environment, ``{env:NAME}`` references read from this process's environment."""
    resolved = resolve(dict(config.environment), f"deployment '{config.name}'", at="environment")
    return {str(k): str(v) for k, v in resolved.items()}


def plan(config: DeployConfig, image: Image, environment: dict[str, str] | None = None) -> Plan:
    """Names and create requests of the model and endpoint configuration for ``config`` and ``image``."""
    env = resolve_environment(config) if environment is None else environment
    tags = [{"Key": OWNER_TAG, "Value": config.name}, {"Key": "dosirak:bundle", "Value": config.bundle}]
    container = {"Image": image.reference, "Environment": env}
    model_name = f"{config.name}-{_digest([container, config.role_arn])}"
    model_request = {"ModelName": model_name, "ExecutionRoleArn": config.role_arn, "PrimaryContainer": container,
                     "Tags": tags}
    variant = {"VariantName": VARIANT, "ModelName": model_name, "InitialInstanceCount": config.initial_instance_count,
               "InstanceType": config.instance_type, "InitialVariantWeight": 1.0}
    config_request: dict[str, Any] = {"ProductionVariants": [variant], "Tags": tags}
    if config.data_capture is not None:
        config_request["DataCaptureConfig"] = {
            "EnableCapture": True, "InitialSamplingPercentage": config.data_capture.sampling_percentage,
            "DestinationS3Uri": config.data_capture.destination_s3_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    config_name = f"{config.name}-{_digest(config_request)}"
    config_request = {"EndpointConfigName": config_name, **config_request}
    return Plan(config.name, model_name, config_name, model_request, config_request)


class Endpoints:
    """SageMaker endpoints of one region, as ``dosirak deploy`` manages them.

    Args:
        aws: The region's clients.
        progress: Called with a line at each step and status change (``apply`` waits for minutes).
    """

    def __init__(self, aws: AWS, *, progress: Progress | None = None) -> None:
        self.aws = aws
        self.progress = progress or (lambda line: log.info("%s", line))

    @property
    def sm(self) -> Any:
        return self.aws.client("sagemaker")

    # -- reading ---------------------------------------------------------------------
    def describe(self, name: str) -> dict[str, Any] | None:
        """``DescribeEndpoint``, or None when there is no such endpoint."""
        with translated(f"describing endpoint {name}"):
            try:
                return dict(self.sm.describe_endpoint(EndpointName=name))
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise

    def _exists(self, kind: str, name: str) -> bool:
        call, key = {"model": (self.sm.describe_model, "ModelName"),
                     "endpoint configuration": (self.sm.describe_endpoint_config, "EndpointConfigName")}[kind]
        with translated(f"describing {kind} {name}"):
            try:
                call(**{key: name})
                return True
            except Exception as exc:
                if is_not_found(exc):
                    return False
                raise

    def owned(self, name: str) -> tuple[list[str], list[str]]:
        """The endpoint configurations and models of deployment ``name`` (named NAME-<hash>, tagged as ours)."""
        pattern = re.compile(re.escape(name) + r"-[0-9a-f]{10}")
        found: dict[str, list[str]] = {}
        for kind, lister, key, arn_key in (
                ("configs", self.sm.list_endpoint_configs, "EndpointConfigs", "EndpointConfigArn"),
                ("models", self.sm.list_models, "Models", "ModelArn")):
            names: list[str] = []
            token: str | None = None
            with translated(f"listing {kind} of {name}"):
                while True:
                    page = lister(NameContains=f"{name}-", MaxResults=100, **({"NextToken": token} if token else {}))
                    for item in page.get(key, []):
                        item_name = item["EndpointConfigName" if kind == "configs" else "ModelName"]
                        if pattern.fullmatch(item_name) and self._is_ours(item[arn_key], name):
                            names.append(item_name)
                    token = page.get("NextToken")
                    if not token:
                        break
            found[kind] = sorted(names)
        return found["configs"], found["models"]

    def _is_ours(self, arn: str, name: str) -> bool:
        tags = self.sm.list_tags(ResourceArn=arn).get("Tags", [])
        return any(t.get("Key") == OWNER_TAG and t.get("Value") == name for t in tags)

    def inventory(self, name: str) -> str:
        """What exists now for deployment ``name``, in words (for error messages)."""
        try:
            endpoint = self.describe(name)
            configs, models = self.owned(name)
        except DeploymentError as exc:
            return f"could not list what exists now ({exc})"
        parts = [f"endpoint {name} ({endpoint['EndpointStatus']}, on {endpoint['EndpointConfigName']})"] if endpoint else []
        parts += [f"endpoint configuration {c}" for c in configs] + [f"model {m}" for m in models]
        return "exists now in " + str(self.aws.region) + ": " + (", ".join(parts) if parts else "nothing")

    def wait(self, name: str, *, timeout_s: float, poll_s: float, until_gone: bool = False) -> dict[str, Any] | None:
        """Poll the endpoint until it is InService (or gone); DeploymentError when it ends Failed or time runs out."""
        start = time.monotonic()
        last = None
        while True:
            endpoint = self.describe(name)
            status = endpoint["EndpointStatus"] if endpoint else "absent"
            elapsed = time.monotonic() - start
            if status != last:
                self.progress(f"endpoint {name}: {status} ({elapsed:.0f} s)")
                last = status
            if endpoint is None:
                if until_gone:
                    return None
                raise DeploymentError(f"endpoint {name} disappeared while waiting for it to be InService")
            if not until_gone and status == "InService":
                return endpoint
            if status in ("Failed", "OutOfService", "UpdateRollbackFailed"):
                reason = " ".join(str(endpoint.get("FailureReason") or "SageMaker gave no reason").split())
                raise DeploymentError(f"endpoint {name} ended {status}: {reason[:600]}")
            if elapsed >= timeout_s:
                raise DeploymentError(f"endpoint {name} is still {status} after {timeout_s:g} s; raise "
                                      f"timeouts.endpoint_s, or see `dosirak deploy status {name}`")
            time.sleep(min(poll_s, max(0.05, timeout_s - elapsed)))

    # -- apply -----------------------------------------------------------------------
    def apply(self, config: DeployConfig, image: Image, lineage: Lineage) -> ApplyResult:
        """Make the endpoint serve ``image`` as ``config`` says; record it; see the module docstring."""
        config = config.resolved()
        wanted = plan(config, image)
        name = config.name
        changes: list[str] = []
        row: list[DeploymentRecord] = []

        def change(what: str) -> None:
            if not row:
                row.append(self._record_start(config, image, wanted, lineage))
            changes.append(what)
            self.progress(what)

        try:
            endpoint = self._settled(name, config)
            if endpoint is not None and endpoint["EndpointStatus"] != "InService":
                reason = " ".join(str(endpoint.get("FailureReason") or "no reason given").split())[:600]
                raise DeploymentError(
                    f"endpoint {name} is {endpoint['EndpointStatus']} ({reason}); remove it with "
                    f"`dosirak deploy destroy {name}`, then apply again")
            if not self._exists("model", wanted.model_name):
                change(f"creating model {wanted.model_name} (image {image.reference})")
                with translated(f"creating model {wanted.model_name}"):
                    self.sm.create_model(**wanted.model_request)
            if not self._exists("endpoint configuration", wanted.endpoint_config_name):
                change(f"creating endpoint configuration {wanted.endpoint_config_name}")
                with translated(f"creating endpoint configuration {wanted.endpoint_config_name}"):
                    self.sm.create_endpoint_config(**wanted.config_request)
            if endpoint is None:
                change(f"creating endpoint {name}")
                with translated(f"creating endpoint {name}"):
                    self.sm.create_endpoint(EndpointName=name, EndpointConfigName=wanted.endpoint_config_name,
                                            Tags=wanted.model_request["Tags"])
            elif endpoint["EndpointConfigName"] != wanted.endpoint_config_name:
                change(f"updating endpoint {name} from {endpoint['EndpointConfigName']} to "
                       f"{wanted.endpoint_config_name}")
                self._drop_autoscaling(name, quiet=True)  # SageMaker refuses to update a scaled variant
                with translated(f"updating endpoint {name}"):
                    self.sm.update_endpoint(EndpointName=name, EndpointConfigName=wanted.endpoint_config_name)
            if changes or endpoint is None:
                endpoint = self.wait(name, timeout_s=config.timeouts.endpoint_s, poll_s=config.timeouts.poll_s)
            if endpoint is None:
                raise DeploymentError(f"endpoint {name} is gone")
            self._apply_autoscaling(name, config.autoscaling, change)
            for old in self._cleanup(name, wanted):
                change(f"deleted old {old}")
        except DeploymentError as exc:
            where = self.inventory(name)
            if row:
                self._store().deployments.update_deployment(row[0].id, status="failed", error=f"{exc}; {where}",
                                                stopped_at=_now())
            raise DeploymentError(f"{exc}; {where}") from exc
        record = self._record_done(row[0] if row else None, config, image, wanted, lineage, endpoint)
        return ApplyResult(record=record, changes=tuple(changes), endpoint=endpoint)

    def _settled(self, name: str, config: DeployConfig) -> dict[str, Any] | None:
        endpoint = self.describe(name)
        if endpoint is not None and endpoint["EndpointStatus"] in _SETTLING:
            self.progress(f"endpoint {name} is {endpoint['EndpointStatus']}; waiting for it to settle")
            gone = endpoint["EndpointStatus"] == "Deleting"
            try:
                endpoint = self.wait(name, timeout_s=config.timeouts.endpoint_s, poll_s=config.timeouts.poll_s,
                                     until_gone=gone)
            except DeploymentError:
                endpoint = self.describe(name)  # ended Failed: reported by the caller
        return endpoint

    def _cleanup(self, name: str, wanted: Plan) -> list[str]:
        """Delete this deployment's endpoint configurations and models that ``wanted`` no longer uses."""
        configs, models = self.owned(name)
        deleted = []
        for old in configs:
            if old != wanted.endpoint_config_name:
                with translated(f"deleting old endpoint configuration {old}"):
                    self.sm.delete_endpoint_config(EndpointConfigName=old)
                deleted.append(f"endpoint configuration {old}")
        for old in models:
            if old != wanted.model_name:
                with translated(f"deleting old model {old}"):
                    self.sm.delete_model(ModelName=old)
                deleted.append(f"model {old}")
        return deleted

    # -- autoscaling -----------------------------------------------------------------
    def _scaling_state(self, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        aas = self.aws.client("application-autoscaling")
        resource = f"endpoint/{name}/variant/{VARIANT}"
        with translated(f"reading autoscaling of {name}"):
            targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource],
                                                    ScalableDimension=SCALABLE_DIMENSION).get("ScalableTargets", [])
            policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource,
                                                     ScalableDimension=SCALABLE_DIMENSION).get("ScalingPolicies", [])
        ours = next((p for p in policies if p.get("PolicyName") == POLICY_NAME), None)
        return (targets[0] if targets else None), ours

    def _apply_autoscaling(self, name: str, wanted: Autoscaling | None, change: Callable[[str], None]) -> bool:
        target, policy = self._scaling_state(name)
        if wanted is None:
            if policy is not None:
                change(f"removing autoscaling of {name}")
                self._drop_autoscaling(name, quiet=False)
            return False
        tracking = {"TargetValue": float(wanted.invocations_per_instance),
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                    "ScaleInCooldown": wanted.scale_in_cooldown_s, "ScaleOutCooldown": wanted.scale_out_cooldown_s}
        same_target = target is not None and (target.get("MinCapacity"), target.get("MaxCapacity")) == (
            wanted.min_instances, wanted.max_instances)
        current = (policy or {}).get("TargetTrackingScalingPolicyConfiguration") or {}
        same_policy = policy is not None and all(current.get(k) == v for k, v in tracking.items())
        if same_target and same_policy:
            return False
        change(f"autoscaling {name}: {wanted.min_instances}-{wanted.max_instances} instances, "
               f"{wanted.invocations_per_instance} invocations per instance per minute")
        aas = self.aws.client("application-autoscaling")
        resource = f"endpoint/{name}/variant/{VARIANT}"
        with translated(f"registering autoscaling of {name}"):
            aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                         ScalableDimension=SCALABLE_DIMENSION, MinCapacity=wanted.min_instances,
                                         MaxCapacity=wanted.max_instances)
            aas.put_scaling_policy(PolicyName=POLICY_NAME, ServiceNamespace="sagemaker", ResourceId=resource,
                                   ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration=tracking)
        return True

    def _drop_autoscaling(self, name: str, *, quiet: bool) -> bool:
        """Remove dosirak's scaling policy and the scalable target of the endpoint's variant, if any."""
        target, policy = self._scaling_state(name)
        if target is None and policy is None:
            return False
        aas = self.aws.client("application-autoscaling")
        resource = f"endpoint/{name}/variant/{VARIANT}"
        with translated(f"removing autoscaling of {name}"):
            if policy is not None:
                aas.delete_scaling_policy(PolicyName=POLICY_NAME, ServiceNamespace="sagemaker", ResourceId=resource,
                                          ScalableDimension=SCALABLE_DIMENSION)
            if target is not None:
                aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                               ScalableDimension=SCALABLE_DIMENSION)
        if not quiet:
            self.progress(f"removed autoscaling of {name}")
        return True

    # -- invoke, destroy -------------------------------------------------------------
    def invoke(self, name: str, body: bytes, *, api: str | None = None, content_type: str = "application/json",
               accept: str | None = None) -> tuple[bytes, str]:
        """Call the endpoint (``InvokeEndpoint``); ``api`` goes in the custom-attributes header.

        Returns:
            The response body and its content type.
        """
        request: dict[str, Any] = {"EndpointName": name, "Body": body, "ContentType": content_type}
        if api:
            request["CustomAttributes"] = f"api={api}"
        if accept:
            request["Accept"] = accept
        with translated(f"invoking endpoint {name}"):
            reply = self.aws.client("sagemaker-runtime").invoke_endpoint(**request)
            data = reply["Body"].read()
        return bytes(data), str(reply.get("ContentType") or "")

    def destroy(self, name: str, *, purge_image: bool = False) -> list[str]:
        """Delete the endpoint, its autoscaling, and every configuration and model of ``name``.

        Returns:
            What was deleted, in words. DeploymentError when nothing of ``name`` exists.
        """
        endpoint = self.describe(name)
        configs, models = self.owned(name)
        if endpoint is None and not configs and not models:
            raise DeploymentError(f"nothing to destroy: no endpoint, endpoint configuration or model of deployment "
                                  f"'{name}' in {self.aws.region}; `dosirak deployment list --all` shows deployments "
                                  "and their regions")
        images = self._images_of(models) if purge_image else []
        done: list[str] = []
        if endpoint is not None:
            if self._drop_autoscaling(name, quiet=True):
                done.append(f"autoscaling of {name}")
            if endpoint["EndpointStatus"] != "Deleting":
                with translated(f"deleting endpoint {name}"):
                    self.sm.delete_endpoint(EndpointName=name)
            self.progress(f"deleting endpoint {name}")
            done.append(f"endpoint {name}")
        for config_name in configs:
            with translated(f"deleting endpoint configuration {config_name}"):
                self.sm.delete_endpoint_config(EndpointConfigName=config_name)
            done.append(f"endpoint configuration {config_name}")
        for model in models:
            with translated(f"deleting model {model}"):
                self.sm.delete_model(ModelName=model)
            done.append(f"model {model}")
        self._record_destroyed(name)
        for line in done:
            self.progress(f"deleted {line}")
        for reference in images:  # last: a registry that refuses leaves nothing else behind
            done.append(self._purge(reference))
            self.progress(f"deleted {done[-1]}")
        return done

    def _images_of(self, models: list[str]) -> list[str]:
        refs = []
        for model in models:
            with translated(f"describing model {model}"):
                image = self.sm.describe_model(ModelName=model).get("PrimaryContainer", {}).get("Image")
            if image and image not in refs:
                refs.append(str(image))
        return refs

    def _purge(self, reference: str) -> str:
        """Delete one image (``repo@sha256:...``) from its repository."""
        from dosirak.deployers.registry import delete_image, parse_repository  # lazy: cycle

        repo_text, _, digest = reference.partition("@")
        if not digest:
            raise DeploymentError(f"image {reference} is not named by digest; delete it with your registry's tools")
        delete_image(parse_repository(repo_text), digest, self.aws)
        return f"image {reference}"

    # -- the store -------------------------------------------------------------------
    @staticmethod
    def _store() -> Any:
        return get_store()

    def _live_rows(self, name: str) -> list[DeploymentRecord]:
        return [r for r in self._store().deployments.list_deployments(name=name, statuses=LIVE_DEPLOYMENT_STATUSES)
                if r.flavor == FLAVOR]

    def _row_config(self, config: DeployConfig, image: Image, wanted: Plan, lineage: Lineage) -> dict[str, Any]:
        return {"target": lineage.bundle_tag, "region": self.aws.region, "endpoint_name": config.name,
                "endpoint_config_name": wanted.endpoint_config_name, "sagemaker_model": wanted.model_name,
                "image": image.reference, "instance_type": config.instance_type,
                "initial_instance_count": config.initial_instance_count,
                "autoscaling": config.autoscaling.model_dump() if config.autoscaling else None,
                "data_capture": config.data_capture.model_dump() if config.data_capture else None,
                "timeouts": config.timeouts.model_dump(),
                "environment": sorted(config.environment)}  # names only: values may be credentials

    def _record_start(self, config: DeployConfig, image: Image, wanted: Plan, lineage: Lineage) -> DeploymentRecord:
        return self._store().deployments.create_deployment(  # type: ignore[no-any-return]
            name=config.name, deployer=lineage.deployer, flavor=FLAVOR, status="starting",
            url=invocations_url(str(self.aws.region), config.name), bundle_id=lineage.bundle_id,
            model_name=lineage.model_name, model_version_id=lineage.model_version_id,
            pipeline_name=lineage.pipeline_name, run_id=lineage.run_id, step_name=lineage.step_name,
            config=self._row_config(config, image, wanted, lineage), started_at=utcnow(),
            extra={"image_digest": image.digest, **lineage.extra})

    def _record_done(self, row: DeploymentRecord | None, config: DeployConfig, image: Image, wanted: Plan,
                     lineage: Lineage, endpoint: dict[str, Any]) -> DeploymentRecord:
        store = self._store()
        live = [r for r in self._live_rows(config.name) if row is None or r.id != row.id]
        if row is None:
            same = next((r for r in live if r.config.get("endpoint_config_name") == wanted.endpoint_config_name
                         and r.config.get("region") == self.aws.region), None)
            if same is not None:  # nothing changed: the recorded row is still true
                return store.deployments.update_deployment(same.id, status="running")  # type: ignore[no-any-return]
            row = self._record_start(config, image, wanted, lineage)
        store.deployments.update_deployment(row.id, extra={"endpoint_arn": endpoint.get("EndpointArn")})
        record = store.deployments.switch_deployments(row.id, [r.id for r in live if r.config.get("region") == self.aws.region])
        for old in live:
            if old.config.get("region") == self.aws.region:
                store.deployments.update_deployment(old.id, status="stopped", stopped_at=_now())
        return record  # type: ignore[no-any-return]

    def _record_destroyed(self, name: str) -> None:
        for row in self._live_rows(name):
            if row.config.get("region") == self.aws.region:
                self._store().deployments.update_deployment(row.id, status="stopped", stopped_at=_now())


def endpoint_status(record: DeploymentRecord) -> tuple[DeploymentStatus, str | None]:
    """The deployment status SageMaker reports for a recorded endpoint, and its failure reason."""
    region = record.config.get("region")
    name = record.config.get("endpoint_name") or record.name
    endpoint = Endpoints(AWS(region, connect_timeout_s=5, read_timeout_s=20, max_attempts=2)).describe(name)
    if endpoint is None:
        return "stopped", f"endpoint {name} no longer exists in {region}"
    status = STATUS.get(str(endpoint["EndpointStatus"]), "starting")
    return status, endpoint.get("FailureReason") if status == "failed" else None


def bundle_lineage(tag: str, **more: Any) -> Lineage:
    """The lineage of the recorded bundle ``tag`` (NotFoundError naming it when it is not recorded)."""
    try:
        return Lineage.of_bundle(store.get(tag), **more)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc}; build it first (`dosirak bundle build`) or fix bundle: in the config") from None


def _now() -> Any:
    return utcnow()


__all__ = ["CLI_DEPLOYER", "FLAVOR", "OWNER_TAG", "STATUS", "ApplyResult", "Endpoints", "Image", "Lineage", "Plan",
           "bundle_lineage", "describe", "endpoint_status", "invocations_url", "plan", "resolve_environment"]
