"""The handle's calls through sagemaker-runtime: encoded as over HTTP, the api in the custom attributes.

botocore's Stubber checks every parameter sent and plays SageMaker's answer (moto's InvokeEndpoint
only returns canned replies, whatever is sent); the encoding itself is dosirak's own client code.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from dosirak.deployers.aws import AWS
from dosirak.deployers.sagemaker_client import SageMakerServiceClient
from dosirak.errors import ClientError

OPENAPI: dict[str, Any] = {"paths": {
    "/predict": {"post": {"x-dosirak-api": {"name": "predict", "input": "ndarray", "output": "ndarray",
                                            "input_mode": "value", "params": []}}},
    "/double": {"post": {"x-dosirak-api": {"name": "double", "input": "json", "output": "json",
                                           "input_mode": "value", "params": []}}},
}}


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> SageMakerServiceClient:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return SageMakerServiceClient("fashion-mnist", region="eu-west-1", openapi=OPENAPI, aws=AWS("eu-west-1"))


def test_an_array_travels_as_npy_to_the_named_api_and_comes_back_as_an_array(client: SageMakerServiceClient) -> None:
    images = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    sent = io.BytesIO()
    np.save(sent, images, allow_pickle=False)
    answer = io.BytesIO()
    np.save(answer, np.array([[0.1, 0.9]], dtype=np.float32), allow_pickle=False)
    runtime = client.aws.client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_response("invoke_endpoint", {"Body": body(answer.getvalue()), "ContentType": "application/x-npy"},
                          {"EndpointName": "fashion-mnist", "Body": sent.getvalue(), "ContentType": "application/x-npy",
                           "Accept": "application/x-npy", "CustomAttributes": "api=predict"})
        result = client.call("predict", images)
    assert result.dtype == np.float32 and result.tolist() == [[pytest.approx(0.1), pytest.approx(0.9)]]


def test_json_values_travel_as_json(client: SageMakerServiceClient) -> None:
    runtime = client.aws.client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_response("invoke_endpoint", {"Body": body(b"42.0"), "ContentType": "application/json"},
                          {"EndpointName": "fashion-mnist", "Body": b"21.0", "ContentType": "application/json",
                           "CustomAttributes": "api=double"})
        assert client.call("double", 21.0) == 42.0


def test_the_containers_own_error_comes_back_with_its_status(client: SageMakerServiceClient) -> None:
    runtime = client.aws.client("sagemaker-runtime")
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", "ModelError", "Received client error (422) from primary", 424,
                              response_meta={}, modeled_fields={"OriginalStatusCode": 422,
                                                                "OriginalMessage": '{"error": "bad shape"}'})
        with pytest.raises(ClientError) as failed:
            client.call("double", 21.0)
    assert failed.value.status_code == 422 and "bad shape" in str(failed.value)


def test_an_api_the_bundle_does_not_have_is_refused_before_any_call(client: SageMakerServiceClient) -> None:
    with pytest.raises(ClientError, match="has no api 'nope'; it has: predict, double"):
        client.call("nope", 1)
