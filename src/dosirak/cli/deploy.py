"""``dosirak deploy``: a bundle to a SageMaker endpoint from a YAML config.

``init`` writes the config, ``build`` builds and pushes the bundle's image, ``run-local``
runs that image as SageMaker will and checks the contract, ``apply`` makes the endpoint
serve it, ``status``/``invoke``/``destroy`` work on the endpoint by name.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dosirak.cli._render import json_option, print_json, table
from dosirak.deployers.aws import AWS
from dosirak.deployers.sagemaker import Endpoints, bundle_lineage
from dosirak.deployers.sagemaker_contract import check_image
from dosirak.errors import ConfigError, NotFoundError
from dosirak.metadata.store import get_store

if TYPE_CHECKING:
    from dosirak.deployers.aws import AWS
    from dosirak.deployers.sagemaker_config import DeployConfig

_CONFIG = click.option("-f", "--file", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                       default=Path("deploy.yaml"), show_default=True, help="The deploy config.")
_REGION = click.option("--region", default=None,
                       help="AWS region (default: where dosirak last deployed NAME, else boto3's configured region).")


def _progress(line: str) -> None:
    click.echo(line, err=True)


def _load(path: Path) -> DeployConfig:
    from dosirak.deployers import sagemaker_config

    return sagemaker_config.load(path)


def _resolved(config: DeployConfig, path: Path) -> DeployConfig:
    try:
        return config.resolved()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _aws_for(name: str, region: str | None) -> AWS:
    """The clients of ``--region``, else of the region NAME was last deployed to, else boto3's."""
    from dosirak.deployers.sagemaker_config import check_sagemaker_name

    try:
        check_sagemaker_name(name)
    except ValueError as exc:
        raise ConfigError(f"{exc}: an endpoint name is letters, digits and '-'") from None
    if region is None:
        recorded = [r for r in get_store().deployments.list_deployments(name=name) if r.flavor == "sagemaker"]
        region = next((str(r.config["region"]) for r in recorded if r.config.get("region")), None)
    return AWS(region)


@click.group("deploy")
def deploy() -> None:
    """Deploy a bundle to a SageMaker endpoint from a YAML config.

    \b
      dosirak deploy init fashion-mnist --bundle fashion_mnist:latest --region eu-west-1 \\
          --role-arn arn:aws:iam::123456789012:role/SageMakerExecution
      dosirak deploy build -f deploy.yaml
      dosirak deploy run-local -f deploy.yaml
      dosirak deploy apply -f deploy.yaml
      dosirak deploy invoke fashion-mnist --api predict_ndarray --data @images.json
      dosirak deploy destroy fashion-mnist
    """


@deploy.command("init")
@click.argument("name")
@click.option("--target", type=click.Choice(["sagemaker"]), default="sagemaker", show_default=True,
              help="Where to deploy.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("deploy.yaml"),
              show_default=True, help="The config file to write.")
@click.option("--bundle", default=None, help="Bundle tag (default: NAME with '-' as '_', :latest).")
@click.option("--region", default=None, help="AWS region (default: boto3's configured region, if any).")
@click.option("--role-arn", default=None, help="IAM role SageMaker assumes.")
@click.option("--instance-type", default="ml.m5.large", show_default=True, help="SageMaker instance type.")
@click.option("--image-repository", default=None, help="HOST[:PORT]/PATH (default: ECR dosirak/NAME).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(name: str, target: str, output: Path, bundle: str | None, region: str | None, role_arn: str | None,
         instance_type: str, image_repository: str | None, force: bool) -> None:
    """Write a commented deploy config for endpoint NAME."""
    from dosirak.deployers import sagemaker_config

    try:
        sagemaker_config.check_sagemaker_name(name)
    except ValueError as exc:
        raise ConfigError(f"{exc}: write {sagemaker_config.HINTS['name']}") from None
    if region is None:
        region = _configured_region()
    text = sagemaker_config.template(name, bundle=bundle or f"{name.replace('-', '_')}:latest", region=region,
                                     role_arn=role_arn, instance_type=instance_type,
                                     image_repository=image_repository)
    if output.exists() and not force:
        raise ConfigError(f"{output} exists; pass --force to replace it, or -o another file")
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if force else os.O_EXCL), 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    missing = [f for f, v in (("region", region), ("role_arn", role_arn)) if v is None]
    click.echo(f"wrote {output} (target {target})" + (f"; fill in {' and '.join(missing)} before applying"
                                                     if missing else ""))


def _configured_region() -> str | None:
    try:
        import boto3
    except ImportError:
        return None
    region = boto3.session.Session().region_name
    return str(region) if region else None


@deploy.command("build")
@_CONFIG
def build(config_file: Path) -> None:
    """Build the bundle's image, push it (creating the ECR repository when missing), record its digest."""
    from dosirak.deployers.registry import build_and_push

    config = _load(config_file)
    aws = AWS(config.region) if config.image_repository is None or config.region else None
    image = build_and_push(config, aws, progress=_progress)
    click.echo(f"pushed {image.reference}")


@deploy.command("apply")
@_CONFIG
@json_option
def apply(config_file: Path, as_json: bool) -> None:
    """Create or update the model, endpoint configuration and endpoint; wait for InService."""
    from dosirak.deployers.registry import image_for

    config = _resolved(_load(config_file), config_file)
    lineage = bundle_lineage(config.bundle)
    aws = AWS(config.region)
    image = image_for(config, aws)
    result = Endpoints(aws, progress=_progress).apply(config, image, lineage)
    if as_json:
        print_json({"deployment": result.record, "changes": list(result.changes)})
        return
    record = result.record
    summary = f"{len(result.changes)} change(s), listed above" if result.changes else "nothing to change"
    click.echo(f"endpoint {config.name} is InService in {aws.region} serving {lineage.bundle_tag} "
               f"({image.reference}); deployment {record.id[:8]}; {summary}")


@deploy.command("status")
@click.argument("name")
@_REGION
@json_option
def status(name: str, region: str | None, as_json: bool) -> None:
    """Show the endpoint's status (such as InService), configuration, model and image."""
    endpoints = Endpoints(_aws_for(name, region))
    endpoint = endpoints.describe(name)
    if endpoint is None:
        raise NotFoundError(f"no endpoint '{name}' in {endpoints.aws.region}; `dosirak deployment list --all` "
                            "shows where dosirak deployed what")
    config = endpoints.sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = (config.get("ProductionVariants") or [{}])[0]
    model = endpoints.sm.describe_model(ModelName=variant["ModelName"]) if variant.get("ModelName") else {}
    facts: dict[str, Any] = {
        "endpoint": name, "status": endpoint["EndpointStatus"], "region": endpoints.aws.region,
        "arn": endpoint.get("EndpointArn"), "endpoint configuration": endpoint["EndpointConfigName"],
        "model": variant.get("ModelName"), "image": (model.get("PrimaryContainer") or {}).get("Image"),
        "instances": f"{variant.get('InitialInstanceCount')} x {variant.get('InstanceType')}",
        "created": endpoint.get("CreationTime"), "last modified": endpoint.get("LastModifiedTime"),
    }
    if endpoint.get("FailureReason"):
        facts["failure reason"] = endpoint["FailureReason"]
    if as_json:
        print_json(facts)
        return
    click.echo(str(endpoint["EndpointStatus"]))
    table(None, ["field", "value"], [(k, "-" if v is None else v) for k, v in facts.items()])


@deploy.command("invoke")
@click.argument("name")
@click.option("--api", default=None, help="The api to call (X-Amzn-SageMaker-Custom-Attributes: api=API).")
@click.option("--data", "data", required=True, help="The body: @FILE (@- for stdin) or the text itself.")
@click.option("--content-type", default="application/json", show_default=True, help="The body's content type.")
@click.option("--accept", default=None, help="Content type of the answer wanted.")
@click.option("--max-bytes", default=6 * 1024 * 1024, show_default=True, type=click.IntRange(1, 6 * 1024 * 1024),
              help="Largest body to send (SageMaker's limit is 6 MB).")
@_REGION
def invoke(name: str, api: str | None, data: str, content_type: str, accept: str | None, max_bytes: int,
           region: str | None) -> None:
    """Call the endpoint through sagemaker-runtime and print its answer."""
    if api is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", api):
        raise ConfigError(f"--api {api[:60]!r} is not an api name (letters, digits and '_')")
    body = _read_body(data, max_bytes)
    answer, kind = Endpoints(_aws_for(name, region)).invoke(name, body, api=api, content_type=content_type,
                                                            accept=accept)
    if kind.startswith(("application/json", "text/")) or not kind:
        click.echo(answer.decode("utf-8", errors="replace"))
    else:
        sys.stdout.buffer.write(answer)
        sys.stdout.buffer.flush()


def _read_body(data: str, max_bytes: int) -> bytes:
    if not data.startswith("@"):
        body = data.encode("utf-8")
    elif data == "@-":
        body = sys.stdin.buffer.read(max_bytes + 1)
    else:
        path = Path(data[1:])
        try:
            with path.open("rb") as fh:
                body = fh.read(max_bytes + 1)
        except OSError as exc:
            raise ConfigError(f"--data {data}: cannot read {path}: {exc.strerror}") from None
    if len(body) > max_bytes:
        raise ConfigError(f"--data is larger than {max_bytes} bytes; SageMaker takes at most 6 MB per request")
    return body


@deploy.command("destroy")
@click.argument("name")
@click.option("--purge-image", is_flag=True, help="Also delete the image from its ECR repository.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@_REGION
def destroy(name: str, purge_image: bool, yes: bool, region: str | None) -> None:
    """Delete the endpoint, its configurations, models and autoscaling (the image stays unless --purge-image)."""
    endpoints = Endpoints(_aws_for(name, region), progress=_progress)
    if not yes and sys.stdin.isatty():
        click.confirm(f"delete endpoint {name} and its models in {endpoints.aws.region}?", abort=True)
    done = endpoints.destroy(name, purge_image=purge_image)
    click.echo(f"destroyed {name} in {endpoints.aws.region}: {', '.join(done)}")


@deploy.command("run-local")
@_CONFIG
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port the container serves on (SAGEMAKER_BIND_TO_PORT when not 8080).")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, help="Seconds to wait for /ping.")
@click.option("--sample", "samples", multiple=True, metavar="API=@FILE",
              help="The body to send to API (content type from the extension: .json, .png, .jpg, .npy); "
                   "default: the api's OpenAPI example.")
def run_local(config_file: Path, port: int, timeout_s: float, samples: tuple[str, ...]) -> None:
    """Run the built image as SageMaker will (`serve`) and check ping, every api, and SIGTERM."""
    config = _load(config_file)
    report = check_image(config, port=port, timeout_s=timeout_s, samples=_samples(samples), progress=_progress)
    rows = [(c.name, "ok" if c.ok else "FAILED", c.detail) for c in report.checks]
    table(f"SageMaker contract of {report.image}", ["check", "result", "detail"], rows)
    if not report.ok:
        raise click.ClickException(f"{sum(not c.ok for c in report.checks)} check(s) failed; SageMaker would not "
                                   "serve this image as it is")


_SAMPLE_TYPES = {".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".npy": "application/x-npy"}


def _samples(values: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    out = {}
    for value in values:
        api, eq, ref = value.partition("=")
        if not eq or not api or not ref.startswith("@"):
            raise ConfigError(f"--sample {value[:60]!r}: write API=@FILE")
        path = Path(ref[1:])
        out[api] = (_read_body(ref, 6 * 1024 * 1024), _SAMPLE_TYPES.get(path.suffix.lower(), "application/octet-stream"))
    return out
