"""The seam between the model registry and one ML library: :class:`FrameworkHandler`.

How to implement a handler: subclass :class:`FrameworkHandler`, set :attr:`name` and
:attr:`distributions`, and implement :meth:`save` (write files into an empty directory,
return JSON-serialisable ``info``) and :meth:`load` (rebuild the object from those files
and ``info``). Set ``info["pickle"] = True`` when loading will unpickle data: such a
model only loads from an untrusted source (an imported bundle) with ``trusted=True``.
Register the class in the ``dosirak.model_frameworks`` entry-point group under the
qualified name of the type it handles (``"torch.nn.modules.module.Module"``); subclasses
of that type find it by walking their MRO, so choosing a handler never imports a library.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from functools import cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, ClassVar

from dosirak import plugins
from dosirak.errors import ModelError, ModelTrustError
from dosirak.names import path_under

log = logging.getLogger(__name__)

#: Entry-point name of the handler used when no other one matches.
FALLBACK_KEY = "builtins.object"


class FrameworkHandler(ABC):
    """Saves and loads one kind of model object."""

    #: Short framework name recorded with each version (``"pytorch"``).
    name: ClassVar[str]
    #: Distributions a server needs to load this kind of model (pinned into bundles).
    distributions: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def save(self, obj: Any, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
        """Write ``obj`` into the empty ``directory``; return the info :meth:`load` needs."""

    @abstractmethod
    def load(self, directory: Path, info: dict[str, Any], *, allow_pickle: bool) -> Any:
        """Rebuild the object saved in ``directory``."""

    def libraries(self) -> dict[str, str]:
        """Installed versions of :attr:`distributions` (read once per process)."""
        return {d: v for d in self.distributions if (v := installed_version(d)) is not None}


def model_file(directory: Path, info: dict[str, Any], key: str, default: str) -> Path:
    """The file a handler's ``info[key]`` names in a version directory, kept inside it.

    ``info`` comes from ``model.yaml``, which an imported bundle may have crafted: a name
    that leads outside ``directory`` (``..``, an absolute path, a symlink) is a ModelError.
    """
    return path_under(directory, str(info.get(key, default)), error=ModelError)


@cache
def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None; cached (reading metadata costs ~2 ms)."""
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


def refuse_pickle(what: str) -> ModelTrustError:
    """The error for a load that would unpickle data from an untrusted source."""
    return ModelTrustError(
        f"{what} is stored with pickle and comes from an untrusted source (an imported bundle); "
        "loading it would run code from that file. If you trust its origin, load it with `trusted=True`"
    )


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def handler_for_object(obj: Any) -> FrameworkHandler:
    """The handler registered for the nearest class in ``type(obj).__mro__``."""
    for cls in type(obj).__mro__:
        key = qualified_name(cls)
        if key != FALLBACK_KEY and plugins.has("model_frameworks", key):
            return _instantiate(key)
    if plugins.has("model_frameworks", FALLBACK_KEY):
        return _instantiate(FALLBACK_KEY)
    raise ModelError(f"no model framework handler for {qualified_name(type(obj))}; install the plugin that saves it")


_by_name: dict[str, FrameworkHandler] = {}


def handler_named(name: str) -> FrameworkHandler:
    """The handler whose :attr:`FrameworkHandler.name` is ``name`` (as recorded on a version)."""
    if name in _by_name:
        return _by_name[name]
    for key in plugins.names("model_frameworks"):
        handler = _instantiate(key)
        _by_name.setdefault(handler.name, handler)
        if handler.name == name:
            return handler
    known = ", ".join(sorted(_by_name)) or "none"
    raise ModelError(f"no model framework handler named '{name}' (known: {known}); install the plugin that loads it")


def _instantiate(key: str) -> FrameworkHandler:
    cls = plugins.load("model_frameworks", key)
    if not (isinstance(cls, type) and issubclass(cls, FrameworkHandler)):
        raise ModelError(f"model framework plugin '{key}' is not a FrameworkHandler subclass")
    handler = cls()
    _by_name.setdefault(handler.name, handler)
    return handler


__all__ = ["FALLBACK_KEY", "FrameworkHandler", "handler_for_object", "handler_named", "model_file", "qualified_name",
           "refuse_pickle"]
