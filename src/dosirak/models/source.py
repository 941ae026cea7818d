"""Where ``dk.model_ref`` finds model versions: a small protocol and its two sources.

A :class:`ModelSource` turns a model tag into a :class:`~dosirak.models.model.ModelVersion`
and loads it. Outside a served bundle that is the local model store
(:class:`StoreModels`). In the workers of ``dosirak serve BUNDLE`` it is the bundle's own
copies (:class:`PackedModels`): the serving process hands its workers an index of the
bundle's models in :data:`MODEL_INDEX_ENV`, so a bundle never depends on the store it was
built from, and this module knows nothing of ``bundle.yaml``.

Example::

    source = current_source()
    version = source.resolve("fashion_mnist:latest")
    net = source.load("fashion_mnist:latest")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from dosirak.errors import ModelError
from dosirak.models.api import get, parse_tag
from dosirak.models.model import ModelVersion
from dosirak.settings import env_value

#: Set for the workers of ``dosirak serve BUNDLE``: the JSON index of the bundle's models.
MODEL_INDEX_ENV = "DOSIRAK_MODEL_INDEX"


class ModelSource(Protocol):
    """Resolves model tags (``name``, ``name:3``, ``name:latest``, ``name:ALIAS``) to versions."""

    def resolve(self, tag: str) -> ModelVersion:
        """The version ``tag`` names in this source; ModelError if it has none."""
        ...

    def load(self, tag: str, *, trusted: bool | None = None) -> Any:
        """Resolve ``tag`` and load the model object (no pickle unless trusted)."""
        ...


class StoreModels:
    """The local model store: files checked by size when loaded."""

    def resolve(self, tag: str) -> ModelVersion:
        return get(tag)

    def load(self, tag: str, *, trusted: bool | None = None) -> Any:
        return self.resolve(tag).load(trusted=trusted)


@dataclass(frozen=True)
class PackedModel:
    """One model version packed below a directory: its name, version, tags, and relative path."""

    name: str
    version: str
    path: str
    tags: tuple[str, ...] = ()

    @property
    def number(self) -> int:
        """The version as a number; -1 for anything that is not one."""
        text = self.version
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else -1


@dataclass(frozen=True)
class PackedModels:
    """Model versions packed below ``root`` (a bundle's copies), listed by an index.

    Every file's SHA-256 is checked when a model loads: the files came from elsewhere.
    ``origin`` names the place in messages (``the bundle at /path``).
    """

    root: Path
    models: tuple[PackedModel, ...]
    trusted: bool
    origin: str

    def resolve(self, tag: str) -> ModelVersion:
        name, ref = parse_tag(tag)
        packed = [m for m in self.models if m.name == name]
        chosen = None
        if ref.isascii() and ref.isdigit():
            chosen = next((m for m in packed if m.number == int(ref)), None)
        else:
            chosen = next((m for m in packed if f"{name}:{ref}" in m.tags), None)
            if chosen is None and ref == "latest" and packed:
                chosen = max(packed, key=lambda m: m.number)
        if chosen is None:
            have = ", ".join(f"{m.name}:{m.version}" for m in self.models) or "none"
            raise ModelError(f"{self.origin} does not contain model {tag} (it has: {have}); "
                             f"rebuild it with `models: [{tag}]`")
        path = (self.root / chosen.path).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ModelError(f"{self.origin} places model {tag} outside itself ({chosen.path})")
        return ModelVersion.from_directory(path, trusted=self.trusted)

    def load(self, tag: str, *, trusted: bool | None = None) -> Any:
        return self.resolve(tag).load(trusted=trusted, verify=True)

    def to_json(self) -> str:
        """The index as one line of JSON, for :data:`MODEL_INDEX_ENV`."""
        return json.dumps({"root": str(self.root), "trusted": self.trusted, "origin": self.origin,
                           "models": [[m.name, m.version, m.path, list(m.tags)] for m in self.models]},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PackedModels:
        """The index :meth:`to_json` wrote; ModelError for anything else."""
        try:
            data = json.loads(text)
            models = tuple(PackedModel(_text(name), _text(version), _text(path), tuple(_text(t) for t in tags))
                           for name, version, path, tags in data["models"])
            root, trusted, origin = data["root"], data["trusted"], data["origin"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{MODEL_INDEX_ENV} holds no model index ({exc}); it is set by `dosirak serve BUNDLE` "
                             "for its workers, unset it") from None
        if not isinstance(root, str) or not isinstance(trusted, bool) or not isinstance(origin, str):
            raise ModelError(f"{MODEL_INDEX_ENV} holds no model index; it is set by `dosirak serve BUNDLE` "
                             "for its workers, unset it")
        return cls(Path(root), models, trusted, origin)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


@lru_cache(maxsize=4)
def _index(text: str) -> PackedModels:
    return PackedModels.from_json(text)


def current_source() -> ModelSource:
    """The bundle's models in a worker of ``dosirak serve BUNDLE``, else the local model store."""
    text = env_value(MODEL_INDEX_ENV)
    return _index(text) if text else StoreModels()


__all__ = ["MODEL_INDEX_ENV", "ModelSource", "PackedModel", "PackedModels", "StoreModels", "current_source"]
