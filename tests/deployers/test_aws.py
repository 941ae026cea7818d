"""AWS clients: only a real region name reaches boto3 (it becomes part of every endpoint's host name)."""

from __future__ import annotations

import pytest

from dosirak.deployers.aws import AWS, describe
from dosirak.errors import DeploymentError


@pytest.mark.parametrize("region", ["evil.example/#", "us-east-1.evil.example", "US-EAST-1", "", "x" * 100])
def test_a_region_that_is_not_one_is_refused_before_any_client_exists(region: str) -> None:
    with pytest.raises(DeploymentError, match="is not an AWS region"):
        AWS(region if region else " ")


def test_credential_errors_say_what_to_do_and_never_repeat_aws_text() -> None:
    from botocore.exceptions import ClientError, NoCredentialsError

    line = describe(NoCredentialsError(), "creating model m")
    assert line.startswith("creating model m: boto3 found no usable AWS credentials")
    refused = ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": "Check your AWS Secret Access Key"}},
                          "CreateModel")
    assert "Secret" not in describe(refused, "creating model m") and "SignatureDoesNotMatch" in describe(
        refused, "creating model m")
