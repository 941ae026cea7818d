"""The deployer seam: run a service somewhere and keep track of it in the metadata store.

How to implement a deployer flavor: subclass :class:`BaseDeployer`, set ``flavor`` and
``config_model`` (a pydantic model in a separate module, see
:mod:`dosirak.deployers.configs`), and implement the six methods below. ``deploy`` must
record the deployment with :meth:`~dosirak.metadata._deployments.Deployments.create_deployment`
before it starts anything, so that nothing runs that the store does not know, and must
replace an active deployment of the same ``name`` without dropping requests. ``refresh``
makes a record's status match reality (a vanished process is ``failed``, not
``running``); everything that reads deployments calls it. Register the class in the
``dosirak.model_deployers`` entry-point group::

    [project.entry-points."dosirak.model_deployers"]
    docker = "mypkg.deployers:DockerDeployer"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dosirak.stack.component import StackComponent

if TYPE_CHECKING:
    from dosirak.metadata.records import DeploymentRecord


@dataclass(frozen=True)
class DeploymentRequest:
    """What to deploy and why: the serve target plus the lineage recorded with it.

    Attributes:
        target: What ``dosirak serve`` takes: a bundle tag (``fashion_mnist:20261124-0001``)
            or a service spec (``service.py:FashionMNIST``).
        name: The deployment's name; an active deployment with the same name is replaced.
        port: Port wanted (0: any free port); None takes the deployer's default.
        host: Address to listen on; None takes the deployer's default.
        workers: Worker processes; None takes the service's own default.
        timeout_s: How long to wait for ``/readyz``; None takes the deployer's default.
        cwd: Directory the service spec is relative to.
        api_key_env: Name of the environment variable holding the API keys the service
            requires (``dosirak serve --api-key-env``); only the name is recorded, never
            a key. None takes the deployer's default (no keys unless it names one).
    """

    target: str
    name: str
    port: int | None = None
    host: str | None = None
    workers: int | None = None
    timeout_s: float | None = None
    cwd: str | None = None
    api_key_env: str | None = None
    bundle_id: str | None = None
    model_name: str | None = None
    model_version_id: str | None = None
    pipeline_name: str | None = None
    run_id: str | None = None
    step_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class BaseDeployer(StackComponent, ABC):
    """A model deployer: the ``-d`` component of a stack. See the module docstring."""

    component_type: ClassVar[str] = "model-deployer"

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> BaseDeployer:
        """The model deployer ``name`` of a stack, from its validated ``config``."""
        return cls(name, config)

    @abstractmethod
    def deploy(self, request: DeploymentRequest) -> DeploymentRecord:
        """Start serving ``request.target``, replacing an active deployment of the same name."""

    @abstractmethod
    def refresh(self, record: DeploymentRecord) -> DeploymentRecord:
        """The record with its status checked against reality (and corrected in the store)."""

    @abstractmethod
    def stop(self, deployment_id: str) -> DeploymentRecord:
        """Stop a deployment (in-flight requests finish first); a no-op when it is not running."""

    @abstractmethod
    def start(self, deployment_id: str) -> DeploymentRecord:
        """Start a stopped or failed deployment again, as it was recorded."""

    @abstractmethod
    def delete(self, deployment_id: str) -> DeploymentRecord:
        """Stop a deployment if it runs, then forget it."""

    @abstractmethod
    def logs(self, deployment_id: str, *, follow: bool = False) -> Iterator[str]:
        """The service's log lines; with ``follow``, keep yielding until it stops."""


__all__ = ["BaseDeployer", "DeploymentRequest"]
