"""Choosing a materializer for a type: most specific first, pickle last.

Lookups walk the type's MRO and compare qualified names (``"numpy.ndarray"``) with the
``dosirak.materializers`` entry points, so finding the materializer for a ``dict`` never
imports torch.
"""

from __future__ import annotations

import importlib
import threading

from dosirak import plugins
from dosirak.artifacts.materializers.base import Materializer
from dosirak.artifacts.materializers.pickle import PickleMaterializer
from dosirak.errors import MaterializerError

_registered: dict[str, type[Materializer]] = {}
#: materializers loaded from entry points, by type name: loaded (imported, checked) once per process
_loaded: dict[str, type[Materializer]] = {}
_instances: dict[str, Materializer] = {}
_lock = threading.Lock()

#: Names some types are registered under when their ``__module__`` differs between versions
#: (``torch.Tensor`` lives in ``torch._tensor``; pandas 3 reports ``pandas.DataFrame``).
_ALIASES = {"torch._tensor.Tensor": "torch.Tensor", "pandas.DataFrame": "pandas.core.frame.DataFrame"}


def qualified_name(tp: type) -> str:
    name = f"{tp.__module__}.{tp.__qualname__}"
    return _ALIASES.get(name, name)


def register(data_type: type, materializer: type[Materializer]) -> None:
    """Use ``materializer`` for ``data_type`` (and its subclasses) in this process."""
    if not (isinstance(materializer, type) and issubclass(materializer, Materializer)):
        raise MaterializerError(f"{materializer!r} is not a Materializer subclass")
    with _lock:
        _registered[qualified_name(data_type)] = materializer
        _instances.clear()


def _lookup(name: str) -> type[Materializer] | None:
    if name in _registered:
        return _registered[name]
    cls = _loaded.get(name)
    if cls is None and plugins.has("materializers", name):
        cls = plugins.load("materializers", name)
        if not (isinstance(cls, type) and issubclass(cls, Materializer)):
            raise MaterializerError(f"entry point '{name}' in dosirak.materializers is not a Materializer")
        _loaded[name] = cls
    return cls


def materializer_class_for(data_type: type | None) -> type[Materializer] | None:
    """The registered materializer for ``data_type`` or its nearest base class, else None."""
    if data_type is None:
        return None
    for base in getattr(data_type, "__mro__", (data_type,)):
        if base is object:
            break
        found = _lookup(qualified_name(base))
        if found is not None:
            return found
    return None


def for_type(data_type: type | None) -> Materializer:
    """A materializer instance for ``data_type``; the pickle fallback when none is registered."""
    cls = materializer_class_for(data_type) or PickleMaterializer
    return instance(cls)


def instance(cls: type[Materializer]) -> Materializer:
    key = cls.qualified_name()
    with _lock:
        inst = _instances.get(key)
        if inst is None:
            inst = _instances[key] = cls()
        return inst


def by_name(qualified: str) -> Materializer:
    """The materializer recorded on an artifact (``module:Class``)."""
    inst = _instances.get(qualified)  # instance() keys by this name: no import for one in use
    if inst is not None:
        return inst
    module_name, _, attr = qualified.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise MaterializerError(
            f"materializer {qualified} recorded on this artifact cannot be imported ({exc}); "
            "install the package that provides it"
        ) from exc
    return instance(cls)


__all__ = ["by_name", "for_type", "instance", "materializer_class_for", "qualified_name", "register"]
