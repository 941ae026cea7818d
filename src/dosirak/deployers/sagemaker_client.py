"""Call a dosirak service on a SageMaker endpoint from Python, as :class:`~dosirak.ServiceClient` does over HTTP.

Requests go through ``sagemaker-runtime`` ``InvokeEndpoint`` with the api's name in
``X-Amzn-SageMaker-Custom-Attributes: api=NAME``; the image's ``/invocations`` route hands
them to that api. The apis' input and output kinds come from the bundle's own
``openapi.json`` (an endpoint serves no ``/openapi.json`` through SageMaker), so arrays
travel as ``.npy``, images as PNG and everything else as JSON, exactly as with the HTTP client.

Example::

    client = SageMakerServiceClient("fashion-mnist", region="eu-west-1", openapi=document)
    labels = client.call("predict_ndarray", images)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dosirak.deployers.aws import AWS, describe, error_code
from dosirak.deployers.sagemaker import invocations_url
from dosirak.errors import ClientError, NotFoundError
from dosirak.metadata.store import get_store


class SageMakerServiceClient:
    """Calls the apis of a dosirak service deployed on SageMaker endpoint ``endpoint_name``."""

    def __init__(self, endpoint_name: str, *, region: str | None, openapi: dict[str, Any] | None = None,
                 aws: AWS | None = None) -> None:
        self.endpoint_name = endpoint_name
        self.aws = aws or AWS(region)
        self.url = invocations_url(str(self.aws.region), endpoint_name)
        self._openapi = openapi or {}

    def _operation(self, api: str) -> Any:
        from dosirak.serving.client import Operation, operations

        ops = operations(self._openapi)
        if ops and api not in ops:
            raise ClientError(f"endpoint {self.endpoint_name} has no api '{api}'; it has: {', '.join(ops)}",
                              status_code=404)
        return ops.get(api) or Operation(api, "/invocations", "json", "json", "value", ())

    def call(self, api: str, *args: Any, **kwargs: Any) -> Any:
        """Call api ``api`` with Python arguments and return its decoded result."""
        import httpx

        from dosirak.serving.client import build_request, read_response

        op = self._operation(api)
        body, headers = build_request(op, args, kwargs)
        request: dict[str, Any] = {"EndpointName": self.endpoint_name, "Body": body or b"",
                                   "ContentType": headers.get("content-type", "application/json"),
                                   "CustomAttributes": f"api={api}"}
        if "accept" in headers:
            request["Accept"] = headers["accept"]
        try:
            reply = self.aws.client("sagemaker-runtime").invoke_endpoint(**request)
            content = reply["Body"].read()
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                raise _client_error(self.endpoint_name, api, exc) from exc
            raise
        response = httpx.Response(200, headers={"content-type": str(reply.get("ContentType") or "")}, content=content)
        return read_response(api, op.output, response)

    def close(self) -> None:
        """Nothing to close (boto3 pools its own connections); kept for the HTTP client's interface."""


def _client_error(endpoint: str, api: str, exc: BaseException) -> ClientError:
    """A ``ModelError`` carries the container's own status and body; anything else is AWS's answer."""
    response = getattr(exc, "response", {}) or {}
    if error_code(exc) == "ModelError":
        status = response.get("OriginalStatusCode")
        message = " ".join(str(response.get("OriginalMessage") or response.get("Error", {}).get("Message")).split())
        return ClientError(f"{api} on endpoint {endpoint}: HTTP {status}: {message[:500]}",
                           status_code=int(status) if isinstance(status, int) else None, body=message)
    return ClientError(describe(exc, f"{api} on endpoint {endpoint}"))


def bundle_openapi(bundle_id: str | None) -> dict[str, Any] | None:
    """The ``openapi.json`` of a recorded bundle (None when the bundle or the file is gone)."""
    if not bundle_id:
        return None
    try:
        path = Path(get_store().bundles.get_bundle_by_id(bundle_id).path) / "openapi.json"
        document = json.loads(path.read_text(encoding="utf-8"))
    except (NotFoundError, OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


__all__ = ["SageMakerServiceClient", "bundle_openapi"]
