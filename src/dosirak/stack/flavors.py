"""Flavor lookup: component type + flavor name → implementation class, via entry points.

:func:`flavor_class` is typed per component type: ``flavor_class("orchestrator", name)``
is a ``type[BaseOrchestrator]``, ``"artifact-store"`` a ``type[BaseArtifactStore]``,
``"model-deployer"`` a ``type[BaseDeployer]``; a type only known at run time (a CLI
argument) gives a ``type[StackComponent]``. A plugin that is not a component of the
requested type is refused with :class:`~dosirak.errors.FlavorError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, overload

from dosirak import plugins
from dosirak.errors import FlavorError
from dosirak.stack.component import StackComponent

if TYPE_CHECKING:
    from dosirak.artifacts.store import BaseArtifactStore
    from dosirak.deployers.base import BaseDeployer
    from dosirak.orchestrators.base import BaseOrchestrator

#: component type (as the CLI spells it) -> plugin kind in :mod:`dosirak.plugins`
KINDS: dict[str, str] = {
    "orchestrator": "orchestrators",
    "artifact-store": "artifact_stores",
    "model-deployer": "model_deployers",
}


def flavor_names(component_type: str) -> list[str]:
    return plugins.names(KINDS[component_type])


@overload
def flavor_class(component_type: Literal["orchestrator"], flavor: str) -> type[BaseOrchestrator]: ...


@overload
def flavor_class(component_type: Literal["artifact-store"], flavor: str) -> type[BaseArtifactStore]: ...


@overload
def flavor_class(component_type: Literal["model-deployer"], flavor: str) -> type[BaseDeployer]: ...


@overload
def flavor_class(component_type: str, flavor: str) -> type[StackComponent]: ...


def flavor_class(component_type: str, flavor: str) -> type[StackComponent]:
    """The class implementing ``flavor`` for ``component_type``."""
    if component_type not in KINDS:
        raise FlavorError(f"unknown component type '{component_type}'; known: {', '.join(KINDS)}")
    kind = KINDS[component_type]
    if not plugins.has(kind, flavor):
        known = ", ".join(plugins.names(kind)) or "none installed"
        raise FlavorError(f"unknown {component_type} flavor '{flavor}'; known: {known}")
    cls = plugins.load(kind, flavor)
    if not (isinstance(cls, type) and issubclass(cls, StackComponent) and cls.component_type == component_type):
        raise FlavorError(f"the {component_type} flavor '{flavor}' is {cls!r}, not a {component_type} class; "
                          f"fix the 'dosirak.{kind}' entry point of the package that registers it")
    return cls


__all__ = ["KINDS", "flavor_class", "flavor_names"]
