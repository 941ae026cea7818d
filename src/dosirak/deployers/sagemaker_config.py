"""The ``deploy.yaml`` of ``dosirak deploy`` and the ``sagemaker`` flavor's options (pydantic).

:func:`load` reads and validates a config file; every problem is reported in one line that
names the field and says what to write there. :func:`template` is the commented file that
``dosirak deploy init`` writes. The same option models back the ``sagemaker`` model-deployer
flavor (:class:`SageMakerDeployerConfig`), so both ways of deploying take the same values.

Names become AWS resource names, so a deployment name is checked twice: against dosirak's
one name grammar (:func:`dosirak.names.check_name`, it names a deployment row) and against
SageMaker's stricter one (letters, digits and ``-``), at most :data:`MAX_NAME` characters so
that ``NAME-<10 hex digits>`` still names a model or an endpoint configuration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dosirak.bundles.store import parse_tag
from dosirak.errors import BundleError, ConfigError
from dosirak.names import check_name
from dosirak.stack.credentials import refuse_clear_text
from dosirak.untrusted import load_yaml, parse_yaml

#: Longest deployment name: SageMaker allows 63 characters, and models/configs append ``-`` + 10 hex digits.
MAX_NAME = 52
#: Largest deploy config read; one is a few lines.
_MAX_CONFIG_BYTES = 1_000_000
SAGEMAKER_NAME = re.compile(rf"[A-Za-z0-9](-*[A-Za-z0-9]){{0,{MAX_NAME - 1}}}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
#: ``HOST[:PORT]/PATH`` (no tag, no digest): a repository in a registry.
REPOSITORY = re.compile(
    r"(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?::\d{1,5})?)/(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)")
ECR_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")
S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[\x21-\x7e]*)?")

#: What to write in each field, as error messages say it.
HINTS: dict[str, str] = {
    "name": f"1-{MAX_NAME} ASCII letters, digits and '-', starting and ending with a letter or digit "
            "(it names the SageMaker endpoint), e.g. fashion-mnist",
    "target": "sagemaker",
    "bundle": "a bundle tag from `dosirak bundle list`, e.g. fashion_mnist:latest",
    "region": "an AWS region, e.g. us-east-1",
    "role_arn": "the ARN of an IAM role SageMaker may assume, e.g. arn:aws:iam::123456789012:role/SageMakerExecution",
    "instance_type": "a SageMaker instance type, e.g. ml.m5.large",
    "initial_instance_count": "a whole number of instances, 1 or more",
    "image_repository": "null (an ECR repository named dosirak/NAME in your account) or HOST[:PORT]/PATH, "
                        "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fashion-mnist",
    "base_image": "null (dosirak's CPU base) or an image reference, e.g. nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    "builder": "auto, docker, podman or buildah",
    "environment": "a mapping of VARIABLE: value (strings); a credential as {env:NAME}, read when applying",
    "timeouts": "endpoint_s (how long to wait for InService, seconds) and poll_s",
    "autoscaling": "null, or min_instances, max_instances and invocations_per_instance",
    "data_capture": "null, or destination_s3_uri (s3://bucket/prefix) and sampling_percentage (0-100)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    """How long ``apply`` waits."""

    endpoint_s: float = Field(default=1800.0, gt=0, le=86400, description="Wait this long for InService")
    poll_s: float = Field(default=15.0, gt=0, le=600, description="Seconds between status checks")


class Autoscaling(_Strict):
    """Target tracking on invocations per instance (Application Auto Scaling)."""

    min_instances: int = Field(default=1, ge=1, le=1000)
    max_instances: int = Field(ge=1, le=1000)
    invocations_per_instance: int = Field(default=100, ge=1, le=1_000_000,
                                          description="Target invocations per instance per minute")
    scale_in_cooldown_s: int = Field(default=300, ge=0, le=86400)
    scale_out_cooldown_s: int = Field(default=60, ge=0, le=86400)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) is below min_instances ({self.min_instances})")
        return self


class DataCapture(_Strict):
    """Request/response capture to S3."""

    destination_s3_uri: str
    sampling_percentage: int = Field(default=100, ge=0, le=100)

    @field_validator("destination_s3_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not S3_URI.fullmatch(value):
            raise ValueError("is not an S3 URI; write s3://bucket/prefix")
        return value


class SageMakerOptions(_Strict):
    """Where and how a bundle runs on SageMaker: shared by ``deploy.yaml`` and the flavor."""

    region: str | None = None
    role_arn: str | None = None
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = Field(default=1, ge=1, le=1000)
    image_repository: str | None = None
    base_image: str | None = None
    builder: Literal["auto", "docker", "podman", "buildah"] = "auto"
    environment: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    autoscaling: Autoscaling | None = None
    data_capture: DataCapture | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not REGION.fullmatch(value):
            raise ValueError(f"'{value[:40]}' is not an AWS region")
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN.fullmatch(value):
            raise ValueError(f"'{value[:80]}' is not an IAM role ARN")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        if not INSTANCE_TYPE.fullmatch(value):
            raise ValueError(f"'{value[:40]}' is not a SageMaker instance type")
        return value

    @field_validator("image_repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 255 or not REPOSITORY.fullmatch(value)):
            raise ValueError(f"'{value[:80]}' is not a repository (HOST[:PORT]/PATH, lowercase path, no tag)")
        return value

    @field_validator("base_image")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,254}", value):
            raise ValueError(f"'{value[:80]}' is not an image reference")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 100:
            raise ValueError("has more than 100 variables (SageMaker's limit)")
        for key, item in value.items():
            if not ENV_NAME.fullmatch(key):
                raise ValueError(f"'{key[:40]}' is not an environment variable name")
            if len(item) > 1024:
                raise ValueError(f"{key}: values are at most 1024 characters")

        try:
            refuse_clear_text(dict(value), "environment")
        except ConfigError as exc:
            raise ValueError(str(exc).split(", which")[0].replace("environment: option", "variable")) from None
        return value


class DeployConfig(SageMakerOptions):
    """A ``deploy.yaml``: one bundle on one SageMaker endpoint."""

    name: str
    target: Literal["sagemaker"] = "sagemaker"
    bundle: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_sagemaker_name(value)

    @field_validator("bundle")
    @classmethod
    def _bundle(cls, value: str) -> str:
        try:
            name, version = parse_tag(value)
        except BundleError as exc:
            raise ValueError(f"'{value[:60]}' is not a bundle tag ({str(exc).split(': ', 1)[-1][:100]})") from None
        return f"{name}:{version}"

    def resolved(self, *, region: str | None = None) -> DeployConfig:
        """This config, refusing (ConfigError) a missing region or role ARN."""
        missing = [f for f in ("region", "role_arn") if getattr(self, f) is None]
        if region and "region" in missing:
            missing.remove("region")
        if missing:
            raise ConfigError("; ".join(f"{f} is missing: write {HINTS[f]}" for f in missing))
        return self if not region or self.region else self.model_copy(update={"region": region})


class SageMakerDeployerConfig(SageMakerOptions):
    """The ``sagemaker`` model-deployer flavor: every deployment goes to a SageMaker endpoint."""

    region: str = Field(description="AWS region of the endpoints, e.g. us-east-1")
    role_arn: str = Field(description="IAM role SageMaker assumes, e.g. arn:aws:iam::123456789012:role/SageMaker")


def check_sagemaker_name(value: object) -> str:
    """``value`` if it can name a deployment and the SageMaker resources derived from it, else ValueError."""
    try:
        name = check_name(value, "deployment name")
    except ConfigError:
        name = None
    if name is None or not SAGEMAKER_NAME.fullmatch(name):
        shown = repr(value)[:60] if not isinstance(value, str) else f"'{value[:60]}'"
        raise ValueError(f"{shown} cannot name a SageMaker endpoint")
    return name


def problems(exc: ValidationError, known: list[str] | None = None) -> str:
    """One line naming each bad field and what to write there (``known``: the fields an unknown one is not)."""
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "(file)"
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is missing"
        elif error["type"] == "extra_forbidden":
            message = f"is not a known field (known: {', '.join(known or HINTS)})"
        hint = HINTS.get(field, "")
        sep = " " if error["type"] == "missing" else ": "
        parts.append(f"{loc}{sep}{message}" + (f"; write {hint}" if hint and error["type"] != "extra_forbidden" else ""))
    return "; ".join(parts)


def parse(data: Any, *, source: str = "deploy.yaml") -> DeployConfig:
    """Validate a parsed YAML document; ConfigError naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields (name, bundle, region, ...), "
                          f"got {type(data).__name__}; `dosirak deploy init NAME` writes one")
    try:
        return DeployConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {problems(exc)}") from None
    except ConfigError as exc:  # raised by a validator outside pydantic's wrapping
        raise ConfigError(f"{source}: {exc}") from None


def load(path: str | Path) -> DeployConfig:
    """Read and validate ``deploy.yaml``; ConfigError naming the file and every bad field."""
    file = Path(path)
    data = load_yaml(file, error=ConfigError, max_bytes=_MAX_CONFIG_BYTES,
                     hint=f"; `dosirak deploy init NAME -o {file}` writes one")
    return parse(data, source=str(file))


def template(name: str, *, bundle: str, region: str | None, role_arn: str | None,
             instance_type: str = "ml.m5.large", image_repository: str | None = None) -> str:
    """The commented ``deploy.yaml`` that ``dosirak deploy init`` writes (validated before it is returned)."""
    import yaml

    def value(v: str | None) -> str:
        return "null" if v is None else yaml.safe_dump(v, default_style=None).strip().removesuffix("\n...")

    text = f"""\
# dosirak deploy config: one bundle on one SageMaker endpoint.
#   dosirak deploy build -f THIS_FILE     # build the bundle's image, push it, record its digest
#   dosirak deploy run-local -f THIS_FILE # run that image as SageMaker will and check it
#   dosirak deploy apply -f THIS_FILE     # model, endpoint configuration, endpoint; waits for InService
#   dosirak deploy status {name}  /  invoke {name} --data @x.json  /  destroy {name}
# AWS credentials come from boto3's own chain (environment, profile, role); never write them here.

# Names the endpoint; models and endpoint configurations are NAME-<hash>. Letters, digits, '-'.
name: {value(name)}
target: sagemaker
# The bundle to deploy: a tag from `dosirak bundle list` (NAME:latest follows new versions).
bundle: {value(bundle)}
# AWS region of the endpoint (REQUIRED).
region: {value(region)}
# IAM role SageMaker assumes to pull the image and write logs (REQUIRED).
role_arn: {value(role_arn)}
instance_type: {value(instance_type)}
initial_instance_count: 1
# Where the image is pushed. null: the ECR repository dosirak/{name} in your account and region
# (created when missing). Any registry SageMaker can pull from works; one on 127.0.0.1 may be plain HTTP.
image_repository: {value(image_repository)}
# Base image of the container (null: dosirak's CPU base); a CUDA base for GPU instances.
base_image: null
# Image builder: auto (docker if an engine answers, then podman, then buildah), docker, podman, buildah.
builder: auto
# Environment variables of the container; a credential as {{env:NAME}}, read from your shell at apply.
environment: {{}}
timeouts:
  endpoint_s: 1800   # how long apply waits for InService
  poll_s: 15         # seconds between status checks
# Autoscaling on invocations per instance per minute (null: a fixed instance count).
autoscaling: null
#  min_instances: 1
#  max_instances: 4
#  invocations_per_instance: 100
# Request/response capture to S3 (null: off).
data_capture: null
#  destination_s3_uri: s3://my-bucket/dosirak/{name}
#  sampling_percentage: 10
"""
    parse(parse_yaml(text, label="the generated config", error=ConfigError), source="the generated config")
    return text


__all__ = ["HINTS", "MAX_NAME", "Autoscaling", "DataCapture", "DeployConfig", "SageMakerDeployerConfig",
           "SageMakerOptions", "Timeouts", "check_sagemaker_name", "load", "parse", "problems", "template"]
