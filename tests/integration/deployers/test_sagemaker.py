"""`dosirak deploy` against moto's server on 127.0.0.1 (AWS) and a real registry on loopback (images).

What moto cannot show, and where it is shown instead:
- moto's InvokeEndpoint answers canned replies, never the model: the real inference path
  (the image's /invocations) is tested by `dosirak deploy run-local`.
- moto has no UpdateEndpoint (it answers HTTP 500): a changed bundle against moto shows the
  "fails halfway" report; the update itself is tested with botocore's Stubber below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.integration.deployers.conftest import PushedImage, push_tiny_image

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SERVICE = '''
import dosirak as dk


@dk.service(name="echo")
class Echo:
    @dk.api
    def double(self, x: float) -> float:
        return x * 2   # {note}

    @dk.api
    def negate(self, x: float) -> float:
        return -x
'''


def build_echo_bundle(tmp_path: Path, note: str = "v1") -> Any:
    from dosirak.bundles.builder import build
    from dosirak.bundles.spec import make_spec

    source = tmp_path / f"src-{note}"
    source.mkdir()
    (source / "service.py").write_text(SERVICE.replace("{note}", note))
    return build(make_spec(service="service.py:Echo", name="echo"), base_dir=source)


def record_pushed(bundle: Any, image: PushedImage) -> None:
    """What `dosirak deploy build` records after a push: the image by digest, against its bundle."""
    from dosirak.metadata.store import get_store

    get_store().bundles.record_image(bundle_id=bundle.id, reference=f"{image.repository}@{image.digest}",
                             location="registry", digest=image.digest, builder="buildah", size=1,
                             base_image="scratch")


def cli(*args: str) -> Any:
    from dosirak.cli.main import cli as root

    result = CliRunner().invoke(root, list(args), catch_exceptions=True)
    return result


def cli_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `dosirak` command in a child process (exit status and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "dosirak.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120, check=False)


def write_config(tmp_path: Path, registry: str, *extra: str, name: str = "echo-endpoint") -> Path:
    path = tmp_path / "deploy.yaml"
    done = cli("deploy", "init", name, "--bundle", "echo:latest", "--region", "us-east-1", "--role-arn", ROLE,
               "--image-repository", f"{registry}/echo", "-o", str(path), "--force")
    assert done.exit_code == 0, done.output
    text = path.read_text().replace("poll_s: 15", "poll_s: 0.2")
    for line in extra:
        key = line.split(":", 1)[0]
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{key}:")) + "\n" + line + "\n"
    path.write_text(text)
    return path


def sagemaker() -> Any:
    import boto3

    return boto3.client("sagemaker", region_name="us-east-1")


def owned_names() -> tuple[list[str], list[str], list[str]]:
    sm = sagemaker()
    return ([e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
            sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
            sorted(m["ModelName"] for m in sm.list_models()["Models"]))


@pytest.fixture
def deployed(aws: str, registry: str, tmp_path: Path) -> dict[str, Any]:
    """The echo bundle built, its image pushed to the registry and recorded, and applied to moto."""
    bundle = build_echo_bundle(tmp_path)
    image = push_tiny_image(registry, "echo", tmp_path, "v1")
    record_pushed(bundle, image)
    config = write_config(tmp_path, registry)
    applied = cli("deploy", "apply", "-f", str(config))
    assert applied.exit_code == 0, applied.output + repr(applied.exception)
    return {"bundle": bundle, "image": image, "config": config, "output": applied.output}


def test_apply_runs_the_pushed_digest_and_records_the_deployment(deployed: dict[str, Any]) -> None:
    from dosirak.metadata.store import get_store

    image: PushedImage = deployed["image"]
    assert "endpoint echo-endpoint is InService in us-east-1" in deployed["output"]
    endpoints, configs, models = owned_names()
    assert endpoints == ["echo-endpoint"] and len(configs) == 1 and len(models) == 1
    model = sagemaker().describe_model(ModelName=models[0])
    assert model["PrimaryContainer"]["Image"] == f"{image.repository}@{image.digest}"
    assert model["ExecutionRoleArn"] == ROLE
    endpoint = sagemaker().describe_endpoint(EndpointName="echo-endpoint")
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == configs[0]
    [row] = get_store().deployments.list_deployments(name="echo-endpoint")
    assert (row.flavor, row.status, row.bundle_id) == ("sagemaker", "running", deployed["bundle"].id)
    assert row.extra["image_digest"] == image.digest and row.extra["endpoint_arn"] == endpoint["EndpointArn"]
    assert row.config["image"] == f"{image.repository}@{image.digest}" and row.config["region"] == "us-east-1"


def test_apply_twice_with_nothing_changed_changes_nothing(deployed: dict[str, Any]) -> None:
    from dosirak.metadata.store import get_store

    before = owned_names()
    modified = sagemaker().describe_endpoint(EndpointName="echo-endpoint")["LastModifiedTime"]
    rows = get_store().deployments.list_deployments(name="echo-endpoint")
    again = cli("deploy", "apply", "-f", str(deployed["config"]))
    assert again.exit_code == 0, again.output
    assert again.output.strip().endswith("; nothing to change")
    assert owned_names() == before
    assert sagemaker().describe_endpoint(EndpointName="echo-endpoint")["LastModifiedTime"] == modified
    assert [r.id for r in get_store().deployments.list_deployments(name="echo-endpoint")] == [r.id for r in rows]


def test_status_prints_in_service_and_the_image(deployed: dict[str, Any]) -> None:
    shown = cli("deploy", "status", "echo-endpoint")
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0] == "InService"
    assert deployed["image"].digest in shown.output
    as_json = json.loads(cli("deploy", "status", "echo-endpoint", "--json").output)
    assert as_json["status"] == "InService" and as_json["region"] == "us-east-1"


def test_invoke_sends_the_body_to_the_endpoint_and_prints_the_reply(deployed: dict[str, Any], moto_server: str,
                                                                    tmp_path: Path) -> None:
    # moto answers a canned reply (set here), never the model's: real inference is run-local's test
    httpx.post(f"{moto_server}/moto-api/static/sagemaker/endpoint-results", timeout=10, json={
        "results": [{"Body": '{"answer": 42}', "ContentType": "application/json",
                     "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""}]}).raise_for_status()
    body = tmp_path / "x.json"
    body.write_text("21")
    answered = cli("deploy", "invoke", "echo-endpoint", "--api", "double", "--data", f"@{body}")
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.output) == {"answer": 42}


def test_destroy_leaves_nothing_and_a_second_destroy_is_one_line_exit_2(deployed: dict[str, Any]) -> None:
    from dosirak.metadata.store import get_store

    gone = cli("deploy", "destroy", "echo-endpoint", "--yes")
    assert gone.exit_code == 0, gone.output
    assert owned_names() == ([], [], [])
    [row] = get_store().deployments.list_deployments(name="echo-endpoint")
    assert row.status == "stopped"
    again = cli_process("deploy", "destroy", "echo-endpoint", "--yes")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "nothing to destroy" in again.stderr and "echo-endpoint" in again.stderr


def test_a_changed_bundle_against_moto_stops_at_update_endpoint_and_says_what_exists(
        deployed: dict[str, Any], registry: str, tmp_path: Path) -> None:
    # moto has no UpdateEndpoint (HTTP 500): the real call fails halfway, and the report must say what exists
    from dosirak.metadata.store import get_store

    bundle = build_echo_bundle(tmp_path, note="v2")
    image = push_tiny_image(registry, "echo", tmp_path, "v2")
    record_pushed(bundle, image)
    failed = cli_process("deploy", "apply", "-f", str(deployed["config"]))
    assert failed.returncode == 2
    line = failed.stderr.strip().splitlines()[-1]
    endpoints, configs, models = owned_names()
    assert len(configs) == 2 and len(models) == 2
    assert "updating endpoint echo-endpoint" in line and "exists now in us-east-1" in line
    assert "answered an HTML error page (HTTP 500)" in line and "<html" not in line
    for name in [*configs, *models]:
        assert name in line
    rows = get_store().deployments.list_deployments(name="echo-endpoint")
    assert [r.status for r in rows] == ["failed", "running"]
    assert "exists now" in str(rows[0].error)


def test_autoscaling_is_applied_once(aws: str, registry: str, tmp_path: Path) -> None:
    import boto3

    bundle = build_echo_bundle(tmp_path)
    record_pushed(bundle, push_tiny_image(registry, "echo", tmp_path, "v1"))
    config = write_config(tmp_path, registry,
                          "autoscaling: {min_instances: 1, max_instances: 3, invocations_per_instance: 50}")
    first = cli("deploy", "apply", "-f", str(config))
    assert first.exit_code == 0, first.output
    assert "autoscaling echo-endpoint: 1-3 instances" in first.output
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    [target] = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/echo-endpoint/variant/AllTraffic", 1, 3)
    [policy] = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 50.0
    second = cli("deploy", "apply", "-f", str(config))
    assert "nothing to change" in second.output
    gone = cli("deploy", "destroy", "echo-endpoint", "--yes")
    assert "autoscaling of echo-endpoint" in gone.output
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_missing_role_arn_is_one_line_naming_the_field_exit_2(aws: str, registry: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, registry, "role_arn: null")
    done = cli_process("deploy", "apply", "-f", str(config))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "role_arn is missing: write the ARN of an IAM role" in done.stderr


def test_apply_without_a_pushed_image_says_to_build(aws: str, registry: str, tmp_path: Path) -> None:
    build_echo_bundle(tmp_path)
    config = write_config(tmp_path, registry)
    done = cli_process("deploy", "apply", "-f", str(config))
    assert done.returncode == 2
    assert "no image of bundle echo:" in done.stderr and "dosirak deploy build" in done.stderr
    assert owned_names() == ([], [], [])


def test_cloud_and_local_deployments_of_one_name_are_listed_side_by_side(deployed: dict[str, Any]) -> None:
    from dosirak.deployers.local import LocalDeployer
    from tests.deployers.conftest import echo_request, kill_deployments

    local = LocalDeployer("local_deployer", {"ready_timeout_s": 60.0, "stop_timeout_s": 10.0})
    try:
        local.deploy(echo_request(name="echo-endpoint"))  # the same name: neither replaces the other
        listed = json.loads(cli("deployment", "list", "--json").output)
        assert {(d["name"], d["flavor"], d["status"]) for d in listed} == {
            ("echo-endpoint", "sagemaker", "running"), ("echo-endpoint", "local", "running")}
    finally:
        kill_deployments()


def test_the_sagemaker_flavor_deploys_from_a_pipeline_and_the_loaded_service_calls_the_endpoint(
        aws: str, registry: str, moto_server: str, tmp_path: Path) -> None:
    from dosirak.deployers import find_model_server
    from tests.integration.deployers.sagemaker_pipelines import call_echo, deploy_echo

    bundle = build_echo_bundle(tmp_path)
    image = push_tiny_image(registry, "echo", tmp_path, "v1")
    record_pushed(bundle, image)
    registered = cli("model-deployer", "register", "sm", "--flavor=sagemaker", "--region=us-east-1",
                     f"--role-arn={ROLE}", f"--image-repository={registry}/echo",
                     '--timeouts={"endpoint_s": 60, "poll_s": 0.2}')
    assert registered.exit_code == 0, registered.output
    stacked = cli("stack", "register", "aws", "-a", "default", "-o", "default", "-d", "sm", "--set")
    assert stacked.exit_code == 0, stacked.output
    deploy_echo()
    [server] = find_model_server(pipeline_name="deploy_echo", step_name="model_deployer", model_name="echo")
    assert (server.flavor, server.name, server.status, server.deployer) == ("sagemaker", "echo", "running", "sm")
    assert server.config["image"] == f"{image.repository}@{image.digest}"
    model = sagemaker().describe_model(ModelName=server.config["sagemaker_model"])
    assert model["PrimaryContainer"]["Image"] == f"{image.repository}@{image.digest}"
    # moto's InvokeEndpoint answers the canned reply set here, not the model: run-local tests real inference
    httpx.post(f"{moto_server}/moto-api/static/sagemaker/endpoint-results", timeout=10, json={
        "results": [{"Body": "42.0", "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic",
                     "CustomAttributes": ""}]}).raise_for_status()
    run = call_echo()
    assert run.status == "completed"
    assert run.steps["predictor"].output.load() == 42.0


def test_destroy_purge_image_deletes_the_image_from_the_registry(deployed: dict[str, Any], registry: str) -> None:
    image: PushedImage = deployed["image"]
    manifest = f"http://{registry}/v2/echo/manifests/{image.digest}"
    accept = {"accept": "application/vnd.oci.image.manifest.v1+json"}
    assert httpx.head(manifest, headers=accept, timeout=10).status_code == 200
    gone = cli("deploy", "destroy", "echo-endpoint", "--yes", "--purge-image")
    assert gone.exit_code == 0, gone.output
    assert f"deleted image {image.repository}@{image.digest}" in gone.output
    assert owned_names() == ([], [], [])
    assert httpx.head(manifest, headers=accept, timeout=10).status_code == 404


def test_deployment_stop_start_delete_and_logs_of_an_endpoint(deployed: dict[str, Any]) -> None:
    import boto3

    from dosirak.metadata.store import get_store

    [row] = get_store().deployments.list_deployments(name="echo-endpoint")
    short = row.id[:8]
    stopped = cli("deployment", "stop", short)
    assert stopped.exit_code == 0 and "is stopped" in stopped.output, stopped.output
    endpoints, configs, models = owned_names()
    assert endpoints == [] and len(configs) == 1 and len(models) == 1  # stop keeps what start needs
    started = cli("deployment", "start", short)
    assert started.exit_code == 0 and "is running" in started.output, started.output
    assert sagemaker().describe_endpoint(EndpointName="echo-endpoint")["EndpointStatus"] == "InService"
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/aws/sagemaker/Endpoints/echo-endpoint")
    logs.create_log_stream(logGroupName="/aws/sagemaker/Endpoints/echo-endpoint", logStreamName="AllTraffic/i-1")
    logs.put_log_events(logGroupName="/aws/sagemaker/Endpoints/echo-endpoint", logStreamName="AllTraffic/i-1",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "dosirak serve: ready on 0.0.0.0:8080"}])
    shown = cli("deployment", "logs", short)
    assert shown.exit_code == 0 and "AllTraffic/i-1: dosirak serve: ready on 0.0.0.0:8080" in shown.output
    deleted = cli("deployment", "delete", short, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert owned_names() == ([], [], []) and get_store().deployments.list_deployments() == []
