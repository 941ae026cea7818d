"""A handle on a running model service, passed between steps and used to call it.

:class:`PredictionService` knows how the service was found (pipeline, step, model), so
when its deployment is replaced while the handle is in use, a call that cannot connect
looks the service up again and goes to the new one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dosirak.artifacts.materializers.base import Materializer
from dosirak.deployers.discovery import find_model_server, refresh
from dosirak.deployers.sagemaker_client import SageMakerServiceClient, bundle_openapi
from dosirak.errors import ClientError, ConfigError, DeploymentError, ServiceUnreachableError
from dosirak.metadata.store import get_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionService:
    """A running deployment of a model; ``predict`` calls one of its apis.

    When the deployment requires API keys, ``api_key_env`` names the environment variable
    holding them (as deployed): the handle sends its first key, read when it connects; the
    handle itself (and its saved ``service.json``) holds only the name.

    Example::

        service = find_prediction_service("training_fashion_mnist", "model_deployer", "fashion_mnist")
        labels = service.predict("predict_ndarray", images)
    """

    deployment_id: str
    url: str
    model_name: str | None = None
    pipeline_name: str | None = None
    step_name: str | None = None
    timeout_s: float = 30.0
    api_key_env: str | None = None
    #: The deployer flavor: ``sagemaker`` calls go through sagemaker-runtime to ``endpoint_name`` in ``region``.
    flavor: str = "local"
    region: str | None = None
    endpoint_name: str | None = None
    bundle_id: str | None = None
    _client: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def docs_url(self) -> str:
        return f"{self.url}/docs"

    def client(self) -> Any:
        """A new client of this service with one method per api; close it (or use ``with``).

        A :class:`~dosirak.serving.client.ServiceClient` at :attr:`url` (sending the API key
        when the deployment requires one), or for a SageMaker endpoint a
        ``SageMakerServiceClient``. Unlike :meth:`predict`, it does not follow a redeployment
        to another address.
        """
        return self._new_client(self.url)

    def _new_client(self, url: str) -> Any:
        if self.flavor == "sagemaker":
            return SageMakerServiceClient(str(self.endpoint_name), region=self.region,
                                          openapi=bundle_openapi(self.bundle_id))
        from dosirak.serving.client import ServiceClient

        return ServiceClient(url, timeout=self.timeout_s, api_key=self._api_key())

    def _service_client(self, url: str) -> Any:
        stale = self._client and self.flavor != "sagemaker" and self._client[0].url != url.rstrip("/")
        if not self._client or stale:
            self.close()
            self._client.append(self._new_client(url))
        return self._client[0]

    def _api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        from dosirak.serving.auth import read_keys

        try:
            return read_keys(self.api_key_env)[0]
        except ConfigError as exc:
            raise ConfigError(f"the service {self.url} (deployment {self.deployment_id[:8]}) requires an API key: "
                              f"set {self.api_key_env} in this process to one of its keys ({exc})") from None

    def predict(self, api_name: str, data: Any, **kwargs: Any) -> Any:
        """Call api ``api_name`` with ``data``; follows a redeployment once if the old service is gone."""
        url = self.url if not self._client else self._client[0].url
        try:
            return self._service_client(url).call(api_name, data, **kwargs)
        except ClientError as exc:
            if not (isinstance(exc, ServiceUnreachableError) or exc.status_code == 503):
                raise
            current = self._current_url()
            if exc.status_code == 503 and current == url:
                raise
            if current is None:
                raise DeploymentError(f"the service at {url} is gone and no running deployment of model "
                                      f"'{self.model_name}' was found; `dosirak deployment list`") from exc
            log.info("service moved from %s to %s; retrying there", url, current)
            return self._service_client(current).call(api_name, data, **kwargs)

    def _current_url(self) -> str | None:
        found = find_model_server(pipeline_name=self.pipeline_name, step_name=self.step_name,
                                  model_name=self.model_name)
        return found[0].url if found else None

    def is_running(self) -> bool:
        """Whether the deployment is (still) recorded as running, with its process alive."""
        return refresh(get_store().deployments.get_deployment(self.deployment_id)).status == "running"

    def close(self) -> None:
        """Close the HTTP connections (the handle reconnects on the next call)."""
        while self._client:
            self._client.pop().close()

    def __enter__(self) -> PredictionService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PredictionServiceMaterializer(Materializer):
    """A :class:`PredictionService` as ``service.json``."""

    version = "1"

    def save(self, obj: PredictionService, path: Path) -> None:
        # not asdict(): it would deep-copy the open HTTP client of a handle already used
        data = {f.name: getattr(obj, f.name) for f in fields(obj) if not f.name.startswith("_")}
        (path / "service.json").write_text(json.dumps(data, indent=2))

    def load(self, path: Path, data_type: type | None) -> PredictionService:
        return PredictionService(**json.loads((path / "service.json").read_text()))

    def summary(self, obj: PredictionService) -> dict[str, Any]:
        return {"url": obj.url, "deployment_id": obj.deployment_id, "model_name": obj.model_name}


__all__ = ["PredictionService", "PredictionServiceMaterializer"]
