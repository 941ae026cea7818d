"""`dosirak deploy build` and `run-local` with a real image: built with buildah, pushed to a loopback
registry, run with podman as SageMaker runs it; then applied to moto. The ECR path against moto:
repository and login are real moto answers, the push is refused (moto stores no images)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.deployers.test_sagemaker import (
    build_echo_bundle,
    cli,
    cli_process,
    sagemaker,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def remove_built_images() -> Iterator[None]:
    """Remove the images these tests built from local storage (their layers stay cached for the next build)."""
    yield
    from dosirak.metadata.store import get_store

    for image in get_store().bundles.list_images():
        if image.location == "local":
            subprocess.run(["buildah", "rmi", image.reference], capture_output=True, timeout=120, check=False)


def registry_digest(registry: str, path: str, tag: str) -> str:
    """The digest the registry itself reports for ``path:tag``."""
    accept = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json"])
    answer = httpx.head(f"http://{registry}/v2/{path}/manifests/{tag}", headers={"accept": accept}, timeout=10)
    answer.raise_for_status()
    return str(answer.headers["docker-content-digest"])


def test_build_pushes_run_local_checks_the_contract_and_apply_runs_that_digest(
        aws: str, registry: str, tmp_path: Path) -> None:
    from dosirak.metadata.store import get_store

    bundle = build_echo_bundle(tmp_path)
    config = write_config(tmp_path, registry)
    built = cli_process("deploy", "build", "-f", str(config))
    assert built.returncode == 0, built.stderr[-3000:]
    reference = built.stdout.strip().removeprefix("pushed ")
    repository, _, digest = reference.partition("@")
    assert repository == f"{registry}/echo"
    assert digest == registry_digest(registry, "echo", bundle.version)
    images = get_store().bundles.list_images(bundle.id)
    assert {(i.location, i.digest) for i in images if i.location == "registry"} == {("registry", digest)}

    sample = tmp_path / "x.json"
    sample.write_text("21")
    checked = cli_process("deploy", "run-local", "-f", str(config), "--port", "18080", "--sample", f"double=@{sample}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for line in ("ping", "invocations api=double", "invocations api=negate", "invocations api=no_such_api",
                 "SIGTERM"):
        assert any(row.startswith(f"│ {line} ") and "│ ok " in row for row in checked.stdout.splitlines()), line
    assert "HTTP 200: 42.0" in checked.stdout  # the real model path: 21 doubled by the image's service

    applied = cli("deploy", "apply", "-f", str(config))
    assert applied.exit_code == 0, applied.output
    [model] = sagemaker().list_models()["Models"]
    assert sagemaker().describe_model(ModelName=model["ModelName"])["PrimaryContainer"]["Image"] == reference


def test_a_refused_push_and_the_ecr_path_are_one_line_exit_2(aws: str, registry: str, tmp_path: Path) -> None:
    import boto3

    build_echo_bundle(tmp_path)
    closed = write_config(tmp_path, "127.0.0.1:9")  # nothing listens on the discard port
    refused = cli_process("deploy", "build", "-f", str(closed))
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pushing localhost/echo:") and "to 127.0.0.1:9/echo failed" in last

    ecr_config = tmp_path / "ecr.yaml"
    text = closed.read_text().replace("image_repository: 127.0.0.1:9/echo", "image_repository: null")
    ecr_config.write_text(text)
    pushed = cli_process("deploy", "build", "-f", str(ecr_config))
    assert pushed.returncode == 2
    assert "created ECR repository dosirak/echo-endpoint in us-east-1" in pushed.stderr
    last = pushed.stderr.strip().splitlines()[-1]
    assert "to 123456789012.dkr.ecr.us-east-1.amazonaws.com/dosirak/echo-endpoint failed" in last
    [repo] = boto3.client("ecr", region_name="us-east-1").describe_repositories()["repositories"]
    assert repo["repositoryName"] == "dosirak/echo-endpoint"
    assert "testing-secret-key" not in pushed.stderr + pushed.stdout  # the credentials never show



def test_a_pipeline_builds_pushes_and_deploys_with_the_sagemaker_flavor(aws: str, registry: str,
                                                                        tmp_path: Path) -> None:
    from dosirak.metadata.store import get_store
    from tests.integration.deployers.sagemaker_pipelines import train_and_deploy_echo
    from tests.integration.deployers.test_sagemaker import ROLE, SERVICE

    source = tmp_path / "service"
    source.mkdir()
    (source / "service.py").write_text(SERVICE.replace("{note}", "pipeline"))
    assert cli("model-deployer", "register", "sm", "--flavor=sagemaker", "--region=us-east-1", f"--role-arn={ROLE}",
               f"--image-repository={registry}/echo", '--timeouts={"endpoint_s": 60, "poll_s": 0.2}').exit_code == 0
    assert cli("stack", "register", "aws", "-a", "default", "-o", "default", "-d", "sm", "--set").exit_code == 0
    run = train_and_deploy_echo(service_dir=str(source))
    assert run.status == "completed"
    [row] = get_store().deployments.list_deployments(name="echo")
    bundle = get_store().bundles.get_bundle_by_id(str(row.bundle_id))
    assert (row.flavor, row.status, row.run_id, bundle.run_id) == ("sagemaker", "running", run.id, run.id)
    digest = row.extra["image_digest"]
    assert digest == registry_digest(registry, "echo", bundle.version)  # built and pushed by the flavor
    model = sagemaker().describe_model(ModelName=row.config["sagemaker_model"])
    assert model["PrimaryContainer"]["Image"] == f"{registry}/echo@{digest}"
