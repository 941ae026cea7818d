"""Flavor lookup: component type + flavor name → implementation class, via entry points."""

from __future__ import annotations

from typing import Any

from dosirak import plugins
from dosirak.errors import FlavorError

#: component type (as the CLI spells it) -> plugin kind in :mod:`dosirak.plugins`
KINDS: dict[str, str] = {
    "orchestrator": "orchestrators",
    "artifact-store": "artifact_stores",
    "model-deployer": "model_deployers",
}


def flavor_names(component_type: str) -> list[str]:
    return plugins.names(KINDS[component_type])


def flavor_class(component_type: str, flavor: str) -> Any:
    """The class implementing ``flavor`` for ``component_type``."""
    if component_type not in KINDS:
        raise FlavorError(f"unknown component type '{component_type}'; known: {', '.join(KINDS)}")
    kind = KINDS[component_type]
    if not plugins.has(kind, flavor):
        known = ", ".join(plugins.names(kind)) or "none installed"
        raise FlavorError(f"unknown {component_type} flavor '{flavor}'; known: {known}")
    return plugins.load(kind, flavor)


__all__ = ["KINDS", "flavor_class", "flavor_names"]
