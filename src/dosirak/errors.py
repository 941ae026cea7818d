"""The one exception tree of dosirak.

Every error dosirak raises derives from :class:`DosirakError`. Errors that can reach an
HTTP client carry ``status_code`` so that server and client agree on what went wrong.
Third-party errors are wrapped at the boundary (``raise ... from exc``). Each message says
what was wrong and what to do about it.

::

    DosirakError
    ├── ConfigError                     bad settings, config file, or CLI input
    │   ├── StackError                  unknown/invalid stack or component
    │   ├── FlavorError                 unknown flavor, bad component config
    │   └── CredentialError             a credential in clear text, or a reference to an unset one
    ├── MissingExtraError               an optional dependency is not installed
    ├── PipelineError                   anything about defining a pipeline
    │   ├── StepSignatureError          a step's signature cannot be used
    │   ├── StepCallError               a step called with wrong arguments
    │   ├── ParameterError              unknown/invalid parameter value
    │   ├── StepInputTypeError          producer/consumer types do not match
    │   ├── StepOutputError             a step returned what it did not declare
    │   └── MetricError                 a metric or metadata logged wrongly (bad name or value)
    │       └── OutsideStepError        dk.log_metric / log_metadata called outside a running step
    ├── WorkerLostError                 the process running a step elsewhere died mid-step
    ├── RunFailedError                  a pipeline run failed (``.run`` is the run view)
    ├── ArtifactError                   artifact storage
    │   ├── ArtifactStoreAccessError    its bucket is missing, denies access or cannot be reached
    │   ├── MaterializerError           no way to save/load a type
    │   └── ArtifactCorruptError        an artifact's files are missing or damaged
    ├── StoreError                      metadata store
    │   ├── StoreVersionError           store created by a newer dosirak
    │   └── NotFoundError               an id or name that does not exist (404)
    ├── ModelError                      model registry
    │   └── ModelTrustError             loading would run pickle from an untrusted source
    ├── BundleError                     bundle build/load
    │   ├── BundleIntegrityError        tampered, truncated or unsafe bundle
    │   │   └── BundleSignatureError    no valid signature by a trusted key (when required)
    │   ├── BundleVersionError          built by a newer dosirak
    │   └── ImageError                  a container image cannot be built, pushed or found
    ├── ServiceError                    service definition problems
    ├── SocketHandoverError             a server's listening socket cannot be handed to its successor
    ├── ServingError                    errors answered over HTTP (carry status_code)
    │   ├── BadRequestError     400
    │   ├── UnauthorizedError   401 (no or wrong API key)
    │   ├── NotFoundRouteError  404
    │   ├── MethodNotAllowedError 405
    │   ├── RequestTimeoutError 408
    │   ├── PayloadTooLargeError 413
    │   ├── UnsupportedMediaTypeError 415
    │   ├── UnprocessableError  422
    │   ├── RequestHeaderFieldsTooLargeError 431
    │   ├── InternalServerError 500
    │   └── ServiceUnavailableError 503
    ├── ClientError                     the service client failed (``status_code`` if any)
    │   ├── ServiceUnreachableError     no answer: connection refused, or closed/reset before a response
    │   └── ServiceTimeoutError         the service did not answer within the client's timeout
    ├── DeploymentError                 deployers
    │   ├── PortInUseError              the requested port is taken (and no other may be used)
    │   └── DeploymentStartError        a deployed service did not start or become ready
    └── DashboardError                  the dashboard cannot start, stop or answer
        ├── DashboardAuthError          missing or wrong dashboard token (401)
        └── DashboardForbiddenError     an action from another origin or without its session token (403)
"""

from __future__ import annotations

from typing import Any


class DosirakError(Exception):
    """Root of every error dosirak raises."""

    status_code: int = 500
    #: Short machine-readable name used in HTTP error bodies.
    error_type: str = "dosirak_error"


class ConfigError(DosirakError):
    """Bad settings, configuration file, or command-line input."""

    status_code = 400
    error_type = "config_error"


class StackError(ConfigError):
    """A stack or stack component is unknown or cannot be used."""

    error_type = "stack_error"


class FlavorError(ConfigError):
    """A flavor is unknown, or a component's configuration does not fit its flavor."""

    error_type = "flavor_error"


class CredentialError(ConfigError):
    """A component option holds a credential in clear text, or refers to one that is not set."""

    error_type = "credential_error"


class MissingExtraError(DosirakError):
    """An optional dependency is needed but not installed."""

    error_type = "missing_extra"


class PipelineError(DosirakError):
    """A pipeline or step is defined or called wrongly."""

    status_code = 400
    error_type = "pipeline_error"


class StepSignatureError(PipelineError):
    """A step's signature cannot be turned into inputs, parameters and outputs."""


class StepCallError(PipelineError):
    """A step was called with arguments it cannot take."""


class ParameterError(PipelineError):
    """A parameter is unknown, missing, not JSON-serialisable, or of the wrong type."""


class StepInputTypeError(PipelineError):
    """A producer's output type does not fit the consumer's input type."""


class StepOutputError(PipelineError):
    """A step returned something that does not match its declared outputs."""


class MetricError(PipelineError):
    """A metric or metadata entry logged from a step is invalid: its name, value, step or target."""


class OutsideStepError(MetricError):
    """``dk.log_metric``, ``log_metrics`` or ``log_metadata`` was called outside a running step."""


class WorkerLostError(DosirakError):
    """The process running a step elsewhere (a Ray worker) died mid-step in each of the step's attempts."""

    error_type = "worker_lost"


class RunFailedError(DosirakError):
    """A pipeline run failed. ``.run`` is the run view, with every step's status."""

    error_type = "run_failed"

    def __init__(self, message: str, run: Any = None, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.run = run
        #: The run failed on input the user must fix (a bucket, a secret, a setting): the CLI exits 2.
        self.bad_input = bad_input


def is_bad_input(error: str | None) -> bool:
    """Whether a recorded step error (``"ClassName: message"``) is one of :class:`ConfigError`'s,
    :class:`ArtifactStoreAccessError`'s or :class:`WorkerLostError`'s: input to fix (settings,
    credentials, a bucket, a step's memory request or retries), not a bug in the step."""
    name = (error or "").split(":", 1)[0].strip()
    found = globals().get(name)
    return isinstance(found, type) and issubclass(found, ConfigError | ArtifactStoreAccessError | WorkerLostError)


class ArtifactError(DosirakError):
    """An artifact cannot be written or read."""

    error_type = "artifact_error"


class ArtifactStoreAccessError(ArtifactError):
    """The artifact store's location cannot be used: a bucket missing, denying access or unreachable."""

    error_type = "artifact_store_access"


class MaterializerError(ArtifactError):
    """No materializer can save or load a type."""


class ArtifactCorruptError(ArtifactError):
    """An artifact's files are missing, truncated or altered."""


class StoreError(DosirakError):
    """The metadata store cannot be opened or used."""

    error_type = "store_error"


class StoreVersionError(StoreError):
    """The metadata store was created by a newer dosirak."""


class NotFoundError(StoreError):
    """An id, name or tag that does not exist."""

    status_code = 404
    error_type = "not_found"


class ModelError(DosirakError):
    """A model cannot be saved, found, or loaded."""

    error_type = "model_error"


class ModelTrustError(ModelError):
    """Loading a model would unpickle data from an untrusted source; pass ``trusted=True``."""


class BundleError(DosirakError):
    """A bundle cannot be built, found, or loaded."""

    error_type = "bundle_error"


class BundleIntegrityError(BundleError):
    """A bundle or bundle archive is tampered with, truncated, or unsafe."""


class BundleVersionError(BundleError):
    """A bundle was built by a newer dosirak than this one."""


class BundleSignatureError(BundleIntegrityError):
    """A bundle lacks a valid signature by a trusted key where one is required, or its SIGNATURES is damaged."""


class ImageError(BundleError):
    """A bundle's container image cannot be built or pushed: no builder works, a build step or push failed."""


class ServiceError(DosirakError):
    """A service class or api is defined wrongly."""

    error_type = "service_error"


class SocketHandoverError(DosirakError):
    """A running server's listening socket cannot be taken over (not ours, not answering, or not that address)."""

    error_type = "socket_handover_failed"


class ServingError(DosirakError):
    """An error answered to an HTTP client; ``status_code`` is the response status."""

    status_code = 500
    error_type = "serving_error"


class BadRequestError(ServingError):
    """The request body or parameters are invalid."""

    status_code = 400
    error_type = "bad_request"


class UnauthorizedError(ServingError):
    """The request carries no API key, or a wrong one, for a service started with keys."""

    status_code = 401
    error_type = "unauthorized"


class NotFoundRouteError(ServingError):
    """No route matches the request path."""

    status_code = 404
    error_type = "not_found"


class MethodNotAllowedError(ServingError):
    """The route exists but not for this HTTP method."""

    status_code = 405
    error_type = "method_not_allowed"


class RequestTimeoutError(ServingError):
    """The client was too slow to send its request, or the api took too long."""

    status_code = 408
    error_type = "timeout"


class PayloadTooLargeError(ServingError):
    """The request body is larger than the service allows."""

    status_code = 413
    error_type = "payload_too_large"


class UnsupportedMediaTypeError(ServingError):
    """The request's content type is not accepted by this api."""

    status_code = 415
    error_type = "unsupported_media_type"


class UnprocessableError(ServingError):
    """The body parsed but does not match the api's declared schema."""

    status_code = 422
    error_type = "validation_error"


class RequestHeaderFieldsTooLargeError(ServingError):
    """The request's head (request line and header fields) is larger, or has more fields, than the server allows."""

    status_code = 431
    error_type = "header_fields_too_large"


class InternalServerError(ServingError):
    """The user's api raised; details are in the server log under the request id."""

    status_code = 500
    error_type = "internal_error"


class ServiceUnavailableError(ServingError):
    """The service is not ready, is shutting down, or is busy; ``retry_after_s`` is sent as ``Retry-After``."""

    status_code = 503
    error_type = "unavailable"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ClientError(DosirakError):
    """A call through the service client failed."""

    error_type = "client_error"

    def __init__(self, message: str, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        self.body = body


class ServiceUnreachableError(ClientError):
    """No response came back: the connection was refused, or closed or reset before an answer."""

    error_type = "service_unreachable"


class ServiceTimeoutError(ClientError):
    """The service did not answer within the client's timeout (connecting, sending or reading)."""

    error_type = "service_timeout"


class DeploymentError(DosirakError):
    """A deployment cannot be created, found, started or stopped."""

    error_type = "deployment_error"


class PortInUseError(DeploymentError):
    """The requested port is taken by another process and the deployer may not pick another."""

    error_type = "port_in_use"


class DeploymentStartError(DeploymentError):
    """A deployed service exited or did not become ready; the message ends with its log's last lines."""

    error_type = "deployment_start_failed"


class DashboardError(DosirakError):
    """The dashboard cannot be started, found or stopped, or a request to it is invalid."""

    status_code = 400
    error_type = "dashboard_error"


class DashboardAuthError(DashboardError):
    """A dashboard request came without the right token."""

    status_code = 401
    error_type = "unauthorized"


class DashboardForbiddenError(DashboardError):
    """A dashboard action (a POST) came from another origin, or without its page's session token."""

    status_code = 403
    error_type = "forbidden"


__all__ = [name for name, obj in globals().items() if isinstance(obj, type) and issubclass(obj, DosirakError)]
