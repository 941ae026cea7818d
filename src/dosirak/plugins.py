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
on first use, never at import. A lookup by name checks dosirak's own distribution first
(one file) and scans every installed package only for names it does not define, so a
built-in always wins over a plugin of the same name.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import cache
from typing import Any, NamedTuple

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


@cache
def _scan(group: str) -> dict[str, Any]:
    """Every entry point of ``group`` in every installed distribution (tens of ms)."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


@cache
def _own(group: str) -> dict[str, Any]:
    """dosirak's own entry points of ``group``: read from one distribution, so cheap."""
    installed = _own_installed()
    if installed is not None:
        return installed.get(group, {})
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        eps = distribution("dosirak").entry_points
    except PackageNotFoundError:  # running from a source tree without installing
        return {}
    return {ep.name: ep for ep in eps if ep.group == group}


class _OwnEntryPoint(NamedTuple):
    """One of dosirak's own entry points, as :mod:`importlib.metadata` would give it (``load``, ``value``)."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        import importlib  # lazy: startup: reading the entry points loads nothing else

        module_name, _, attrs = self.value.partition("[")[0].partition(":")
        found: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            found = getattr(found, attr)
        return found


@cache
def _own_installed() -> dict[str, dict[str, Any]] | None:
    """dosirak's own entry points by group, read straight from its ``*.dist-info/entry_points.txt``.

    The built-ins a run on the local stack needs are found without importing
    :mod:`importlib.metadata` (about 20 ms: it brings ``email``, ``zipfile``, ``csv``). The
    file is the one :func:`importlib.metadata.distribution` would read: the first
    ``dosirak-*.dist-info`` on ``sys.path``. None when there is none (an egg, a zip): then
    :mod:`importlib.metadata` reads it.
    """
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.lower().startswith("dosirak-") and name.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as file:
                        text = file.read()
                except FileNotFoundError:
                    return {}
                except OSError:
                    return None
                return _parse_entry_points(text)
    return None


def _parse_entry_points(text: str) -> dict[str, dict[str, Any]]:
    """``entry_points.txt`` (``[group]`` headers, ``name = value`` lines) by group, then name."""
    groups: dict[str, dict[str, Any]] = {}
    group: dict[str, Any] | None = None
    group_name = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group_name = line[1:-1].strip()
            group = groups.setdefault(group_name, {})
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            group.setdefault(name.strip(), _OwnEntryPoint(name.strip(), value.strip(), group_name))
    return groups


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


def _find(kind: str, name: str) -> Any:
    """The entry point ``name`` of ``kind``: dosirak's built-ins first, then every package's."""
    group = GROUPS.get(kind)
    if group is not None:
        with _lock:
            own = _own(group)
        if name in own:
            return own[name]
    return _entry_points(kind).get(name)


def has(kind: str, name: str) -> bool:
    """Whether a plugin called ``name`` is registered for ``kind``."""
    return _find(kind, name) is not None


def spec(kind: str, name: str) -> str:
    """The ``module:attr`` an entry point points to, without importing it."""
    ep = _find(kind, name)
    if ep is None:
        raise ConfigError(f"no {kind.rstrip('s').replace('_', ' ')} plugin named '{name}'")
    return str(ep.value)


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as ``name`` for ``kind``."""
    ep = _find(kind, name)
    if ep is None:
        known = ", ".join(names(kind)) or "none"
        raise ConfigError(f"no {kind.rstrip('s').replace('_', ' ')} plugin named '{name}'; known: {known}")
    return ep.load()


def clear_cache() -> None:
    """Forget scanned entry points (after installing a plugin in the same process)."""
    _scan.cache_clear()
    _own.cache_clear()
    _own_installed.cache_clear()


__all__ = ["GROUPS", "clear_cache", "has", "load", "names", "spec"]
