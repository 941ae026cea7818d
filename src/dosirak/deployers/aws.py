"""AWS access for deployers: boto3 clients of one region, and AWS errors as dosirak errors.

Credentials come only from boto3's own chain (environment, shared config and credentials
files, SSO, instance or task role); dosirak never reads, stores or prints them. boto3
honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), so the same code talks to
a stand-in such as moto's server without any switch of its own.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from dosirak._extras import require
from dosirak.errors import DeploymentError

log = logging.getLogger(__name__)


class AWS:
    """boto3 clients for one region, each created on first use.

    Example::

        aws = AWS("us-east-1")
        aws.client("sagemaker").describe_endpoint(EndpointName="fashion-mnist")
    """

    def __init__(self, region: str | None, *, connect_timeout_s: float = 10.0, read_timeout_s: float = 60.0,
                 max_attempts: int = 3) -> None:
        boto3 = require("boto3", extra="aws", purpose="deploying to AWS")
        from botocore.config import Config

        from dosirak.deployers.sagemaker_config import REGION

        # the region becomes part of every service's host name: nothing but a region name may pass
        if region is not None and not REGION.fullmatch(region):
            raise DeploymentError(f"{region[:40]!r} is not an AWS region; write one such as us-east-1")
        self.session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        self.region: str | None = self.session.region_name
        if not self.region:
            raise DeploymentError("no AWS region given and none configured for boto3; write region: in the deploy "
                                  "config, pass --region, or set AWS_DEFAULT_REGION")
        if not REGION.fullmatch(self.region):
            raise DeploymentError(f"boto3's configured region {self.region[:40]!r} is not an AWS region; fix "
                                  "AWS_DEFAULT_REGION or the profile's region")
        self._config = Config(connect_timeout=connect_timeout_s, read_timeout=read_timeout_s,
                              retries={"max_attempts": max_attempts, "mode": "standard"},
                              user_agent_extra="dosirak")
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The boto3 client of ``service`` (``sagemaker``, ``sagemaker-runtime``, ``ecr``, ...)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self._config)
        return self._clients[service]

    def account_id(self) -> str:
        """The AWS account of the credentials in use (STS GetCallerIdentity)."""
        with translated("finding your AWS account"):
            return str(self.client("sts").get_caller_identity()["Account"])


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """AWS's message of a botocore ``ClientError`` on one line (the exception text otherwise)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Message"):
        text = str(response["Error"]["Message"])
    else:
        text = str(exc)
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):  # an HTTP error page, not an AWS error
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(response, dict) else None
        return f"the service answered an HTML error page (HTTP {status}) instead of an AWS error"
    return " ".join(text.split())[:500]


def is_not_found(exc: BaseException) -> bool:
    """Whether an AWS error says the resource does not exist (SageMaker answers ValidationException)."""
    code = error_code(exc)
    if code in ("ResourceNotFound", "ResourceNotFoundException", "RepositoryNotFoundException",
                "ObjectNotFoundException", "ImageNotFoundException"):
        return True
    text = error_message(exc).lower()
    return code == "ValidationException" and ("could not find" in text or "not found" in text
                                               or "does not exist" in text)


class translated:
    """Turn botocore/boto3 errors raised inside the block into one-line :class:`DeploymentError`.

    Example::

        with translated("creating model fashion-mnist-1a2b3c4d5e"):
            sm.create_model(...)
    """

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def __enter__(self) -> translated:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, DeploymentError) or not _is_aws_error(exc):
            return False
        raise DeploymentError(describe(exc, self.doing)) from exc


def _is_aws_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("botocore", "boto3"))


def describe(exc: BaseException, doing: str) -> str:
    """What went wrong while ``doing``, in one line, with what to do about it."""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        return (f"{doing}: boto3 found no usable AWS credentials; configure them as for the AWS CLI "
                "(environment variables, ~/.aws/credentials, AWS_PROFILE or an instance role)")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        return f"{doing}: cannot reach AWS ({' '.join(str(exc).split())[:200]}); check the network and the region"
    if name == "ParamValidationError":
        return f"{doing}: AWS would refuse the request: {' '.join(str(exc).split())[:300]}"
    code = error_code(exc)
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException",
                "InvalidSignatureException", "SignatureDoesNotMatch"):
        return f"{doing}: AWS refused the credentials ({code}); refresh them (e.g. `aws sso login`) and retry"
    if code in ("AccessDenied", "AccessDeniedException"):
        return f"{doing}: access denied: {error_message(exc)}; the credentials in use need that permission"
    return f"{doing}: {code or name}: {error_message(exc)}"


__all__ = ["AWS", "describe", "error_code", "error_message", "is_not_found", "translated"]
