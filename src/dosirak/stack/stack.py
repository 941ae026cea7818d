"""A stack: the components a pipeline runs on, built from their records in the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dosirak.errors import StackError
from dosirak.stack.flavors import flavor_class

if TYPE_CHECKING:
    from dosirak.artifacts.store import BaseArtifactStore
    from dosirak.deployers.base import BaseDeployer
    from dosirak.metadata.records import ComponentRecord, StackRecord
    from dosirak.metadata.store import MetadataStore
    from dosirak.orchestrators.base import BaseOrchestrator


@dataclass
class Stack:
    """The active set of components: orchestrator, artifact store, optional model deployer."""

    name: str
    record: StackRecord
    orchestrator: BaseOrchestrator
    artifact_store: BaseArtifactStore

    @property
    def model_deployer(self) -> ComponentRecord | None:
        return self.record.components.get("model-deployer")

    def deployer(self) -> BaseDeployer:
        """The model deployer component, instantiated; an error that says how to add one."""
        record = self.model_deployer
        if record is None:
            raise StackError(
                f"stack '{self.name}' has no model deployer; register one and use it:\n"
                "  dosirak model-deployer register local_deployer --flavor=local\n"
                f"  dosirak stack register local_stack -o {self.record.components['orchestrator'].name} "
                f"-a {self.record.components['artifact-store'].name} -d local_deployer --set"
            )
        return flavor_class("model-deployer", record.flavor).from_config(record.name, record.config)


def load_stack(store: MetadataStore, name: str | None = None) -> Stack:
    """Build the stack ``name`` (default: the active one) from the store, each component
    through its flavor."""
    record = store.stacks.get_stack(name)
    orch = record.components.get("orchestrator")
    art = record.components.get("artifact-store")
    if orch is None or art is None:
        raise StackError(f"stack '{record.name}' lacks an orchestrator or artifact store; register it again")
    orchestrator = flavor_class("orchestrator", orch.flavor).from_config(orch.name, orch.config)
    artifact_store = flavor_class("artifact-store", art.flavor).from_config(art.name, art.config)
    artifact_store.ensure_usable()
    return Stack(name=record.name, record=record, orchestrator=orchestrator, artifact_store=artifact_store)


__all__ = ["Stack", "load_stack"]
