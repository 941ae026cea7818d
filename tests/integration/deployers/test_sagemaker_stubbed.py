"""The SageMaker calls moto cannot answer, scripted with botocore's Stubber.

moto's server has no UpdateEndpoint (it answers HTTP 500) and never lets an endpoint end
``Failed``. These tests script the SageMaker client's side of those conversations with
``botocore.stub.Stubber`` (every SageMaker call in order, with the parameters checked);
Application Auto Scaling and the metadata store are real (moto on 127.0.0.1, SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64
NOT_FOUND = "ValidationException"


def make_config(**changes: Any) -> Any:
    from dosirak.deployers.sagemaker_config import parse

    values = {"name": "echo-endpoint", "bundle": "echo:1", "region": "us-east-1", "role_arn": ROLE,
              "image_repository": "127.0.0.1:5000/echo", "timeouts": {"endpoint_s": 30, "poll_s": 0.01}}
    return parse({**values, **changes})


def endpoint(status: str, config_name: str, **more: Any) -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return {"EndpointName": "echo-endpoint", "EndpointArn": f"{ARN}:endpoint/echo-endpoint",
            "EndpointConfigName": config_name, "EndpointStatus": status, "CreationTime": now,
            "LastModifiedTime": now, **more}


def listing(kind: str, names: list[str]) -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    if kind == "configs":
        return {"EndpointConfigs": [{"EndpointConfigName": n, "EndpointConfigArn": f"{ARN}:endpoint-config/{n}",
                                     "CreationTime": now} for n in names]}
    return {"Models": [{"ModelName": n, "ModelArn": f"{ARN}:model/{n}", "CreationTime": now} for n in names]}


def ours() -> dict[str, Any]:
    return {"Tags": [{"Key": "dosirak:deployment", "Value": "echo-endpoint"}]}


def stub_owned(stub: Any, configs: list[str], models: list[str]) -> None:
    from botocore.stub import ANY

    stub.add_response("list_endpoint_configs", listing("configs", configs),
                      {"NameContains": "echo-endpoint-", "MaxResults": 100})
    for _ in configs:
        stub.add_response("list_tags", ours(), {"ResourceArn": ANY})
    stub.add_response("list_models", listing("models", models), {"NameContains": "echo-endpoint-", "MaxResults": 100})
    for _ in models:
        stub.add_response("list_tags", ours(), {"ResourceArn": ANY})


def test_a_changed_image_updates_the_endpoint_to_a_new_configuration_and_deletes_the_old(aws: str) -> None:
    # UpdateEndpoint is stubbed because moto does not implement it (HTTP 500)
    from botocore.stub import Stubber

    from dosirak.deployers.aws import AWS
    from dosirak.deployers.sagemaker import Endpoints, Image, Lineage, plan
    from dosirak.metadata.store import get_store

    config = make_config()
    old = plan(config, Image("127.0.0.1:5000/echo", DIGEST_1))
    new = plan(config, Image("127.0.0.1:5000/echo", DIGEST_2))
    assert (old.model_name, old.endpoint_config_name) != (new.model_name, new.endpoint_config_name)
    assert new.model_request["PrimaryContainer"]["Image"] == f"127.0.0.1:5000/echo@{DIGEST_2}"
    lines: list[str] = []
    endpoints = Endpoints(AWS("us-east-1"), progress=lines.append)
    with Stubber(endpoints.sm) as stub:
        stub.add_response("describe_endpoint", endpoint("InService", old.endpoint_config_name),
                          {"EndpointName": "echo-endpoint"})
        stub.add_client_error("describe_model", NOT_FOUND, "Could not find model", 400,
                              expected_params={"ModelName": new.model_name})
        stub.add_response("create_model", {"ModelArn": f"{ARN}:model/{new.model_name}"}, new.model_request)
        stub.add_client_error("describe_endpoint_config", NOT_FOUND, "Could not find endpoint configuration", 400,
                              expected_params={"EndpointConfigName": new.endpoint_config_name})
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/new"},
                          new.config_request)
        stub.add_response("update_endpoint", {"EndpointArn": f"{ARN}:endpoint/echo-endpoint"},
                          {"EndpointName": "echo-endpoint", "EndpointConfigName": new.endpoint_config_name})
        stub.add_response("describe_endpoint", endpoint("Updating", old.endpoint_config_name),
                          {"EndpointName": "echo-endpoint"})
        stub.add_response("describe_endpoint", endpoint("InService", new.endpoint_config_name),
                          {"EndpointName": "echo-endpoint"})
        stub_owned(stub, [old.endpoint_config_name, new.endpoint_config_name], [old.model_name, new.model_name])
        stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": old.endpoint_config_name})
        stub.add_response("delete_model", {}, {"ModelName": old.model_name})
        result = endpoints.apply(config, Image("127.0.0.1:5000/echo", DIGEST_2), Lineage(bundle_tag="echo:1"))
        stub.assert_no_pending_responses()
    assert result.changes == (
        f"creating model {new.model_name} (image 127.0.0.1:5000/echo@{DIGEST_2})",
        f"creating endpoint configuration {new.endpoint_config_name}",
        f"updating endpoint echo-endpoint from {old.endpoint_config_name} to {new.endpoint_config_name}",
        f"deleted old endpoint configuration {old.endpoint_config_name}",
        f"deleted old model {old.model_name}",
    )
    assert "endpoint echo-endpoint: Updating (0 s)" in lines
    [row] = get_store().deployments.list_deployments(name="echo-endpoint")
    assert row.status == "running" and row.config["endpoint_config_name"] == new.endpoint_config_name


def test_an_endpoint_ending_failed_shows_sagemakers_reason_and_what_exists(aws: str) -> None:
    from botocore.stub import Stubber

    from dosirak.deployers.aws import AWS
    from dosirak.deployers.sagemaker import Endpoints, Image, Lineage, plan
    from dosirak.errors import DeploymentError
    from dosirak.metadata.store import get_store

    config = make_config()
    wanted = plan(config, Image("127.0.0.1:5000/echo", DIGEST_1))
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    endpoints = Endpoints(AWS("us-east-1"), progress=lambda line: None)
    with Stubber(endpoints.sm) as stub:
        stub.add_client_error("describe_endpoint", NOT_FOUND, "Could not find endpoint", 400)
        stub.add_client_error("describe_model", NOT_FOUND, "Could not find model", 400)
        stub.add_response("create_model", {"ModelArn": f"{ARN}:model/{wanted.model_name}"}, wanted.model_request)
        stub.add_client_error("describe_endpoint_config", NOT_FOUND, "Could not find endpoint configuration", 400)
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/x"}, None)
        stub.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/echo-endpoint"}, None)
        stub.add_response("describe_endpoint", endpoint("Creating", wanted.endpoint_config_name), None)
        stub.add_response("describe_endpoint", endpoint("Failed", wanted.endpoint_config_name, FailureReason=reason),
                          None)
        # the report of what exists now
        stub.add_response("describe_endpoint", endpoint("Failed", wanted.endpoint_config_name, FailureReason=reason),
                          None)
        stub_owned(stub, [wanted.endpoint_config_name], [wanted.model_name])
        with pytest.raises(DeploymentError) as failed:
            endpoints.apply(config, Image("127.0.0.1:5000/echo", DIGEST_1), Lineage(bundle_tag="echo:1"))
        stub.assert_no_pending_responses()
    message = str(failed.value)
    assert "\n" not in message
    assert f"endpoint echo-endpoint ended Failed: {reason}" in message
    assert (f"exists now in us-east-1: endpoint echo-endpoint (Failed, on {wanted.endpoint_config_name}), "
            f"endpoint configuration {wanted.endpoint_config_name}, model {wanted.model_name}") in message
    [row] = get_store().deployments.list_deployments(name="echo-endpoint")
    assert row.status == "failed" and reason in str(row.error)
