"""Every extension point of dosirak is an entry-point group, listed here.

| group                     | name                          | value                         |
|---------------------------|-------------------------------|-------------------------------|
| ``dosirak.orchestrators`` | flavor (``local``)            | ``BaseOrchestrator`` subclass |
| ``dosirak.artifact_stores`` | flavor (``local``)          | ``BaseArtifactStore`` subclass|
| ``dosirak.model_deployers`` | flavor (``local``)          | ``BaseDeployer`` subclass     |
| ``dosirak.materializers`` | qualified type (``numpy.ndarray``) | ``Materializer`` subclass |
| ``dosirak.model_frameworks`` | qualified type           | ``FrameworkHandler`` subclass |
| ``dosirak.codecs``        | qualified type                | ``Codec`` subclass            |
| ``dosirak.cli``           | command name                  | ``click.Command``             |

Built-ins are registered the same way, in dosirak's own ``pyproject.toml``. This is the
only module that touches :mod:`importlib.metadata`; groups are scanned once per process,
on first use, never at import.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from dosirak.errors import ConfigError

GROUPS: dict[str, str] = {
    "orchestrators": "dosirak.orchestrators",
    "artifact_stores": "dosirak.artifact_stores",
    "model_deployers": "dosirak.model_deployers",
    "materializers": "dosirak.materializers",
    "model_frameworks": "dosirak.model_frameworks",
    "codecs": "dosirak.codecs",
    "cli": "dosirak.cli",
}

_lock = threading.Lock()


@lru_cache(maxsize=None)
def _scan(group: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def names(kind: str) -> list[str]:
    """Names registered for one kind of plugin (a key of :data:`GROUPS`)."""
    return sorted(_entry_points(kind))


def _entry_points(kind: str) -> dict[str, Any]:
    try:
        group = GROUPS[kind]
    except KeyError:
        raise ConfigError(f"unknown plugin kind '{kind}'; known: {', '.join(GROUPS)}") from None
    with _lock:
        return _scan(group)


def has(kind: str, name: str) -> bool:
    """Whether a plugin called ``name`` is registered for ``kind``."""
    return name in _entry_points(kind)


def spec(kind: str, name: str) -> str:
    """The ``module:attr`` an entry point points to, without importing it."""
    return str(_entry_points(kind)[name].value)


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as ``name`` for ``kind``."""
    eps = _entry_points(kind)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise ConfigError(f"no {kind.rstrip('s').replace('_', ' ')} plugin named '{name}'; known: {known}")
    return eps[name].load()


def clear_cache() -> None:
    """Forget scanned entry points (after installing a plugin in the same process)."""
    _scan.cache_clear()


__all__ = ["GROUPS", "clear_cache", "has", "load", "names", "spec"]
