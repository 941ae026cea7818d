"""A saved model version: what ``dk.models.save`` returns and ``dk.models.get`` finds."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosirak.artifacts import shared
from dosirak.errors import ModelError
from dosirak.models.frameworks.base import handler_named
from dosirak.models.store import read_model_yaml, verify_files, with_version, write_model_yaml

if TYPE_CHECKING:
    from dosirak.metadata.records import ModelVersionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a model, in the local store or inside a bundle.

    Example::

        version = dk.models.get("fashion_mnist:production")
        net = version.load()                      # a torch module in eval mode
        print(version.tag, version.metrics)       # fashion_mnist:3 {'accuracy': 0.88}
    """

    id: str
    name: str
    version: int
    framework: str
    path: Path
    created_at: datetime | None
    #: ``{relative path: {"sha256", "size"}}`` of the framework's files.
    files: dict[str, Any]
    #: What the framework handler needs to load the files back.
    handler_info: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    signatures: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    step_run_id: str | None = None
    artifact_id: str | None = None
    #: False for versions that came from elsewhere (an imported bundle): pickle needs ``trusted=True``.
    trusted: bool = True
    aliases: tuple[str, ...] = ()
    #: Where the team's copy of the files is (the artifact store), when it was saved with a remote one.
    shared_uri: str | None = None

    @property
    def tag(self) -> str:
        """``name:version``, e.g. ``fashion_mnist:3``."""
        return f"{self.name}:{self.version}"

    def __str__(self) -> str:
        """The tag, so ``print(dk.models.save(...))`` shows ``fashion_mnist:3``; ``repr`` has every field."""
        return self.tag

    @property
    def needs_trust(self) -> bool:
        """Whether loading unpickles data (refused for untrusted versions without ``trusted=True``)."""
        return bool(self.handler_info.get("pickle"))

    def load(self, *, trusted: bool | None = None, verify: bool | None = None) -> Any:
        """Check the files and rebuild the model object.

        Args:
            trusted: allow unpickling. Defaults to whether the version is trusted: versions
                saved here are, versions from an imported bundle are not.
            verify: check every file's SHA-256. Defaults to True for untrusted versions
                (from a bundle) and False for versions in the local store, whose files
                dosirak wrote itself; their sizes are always checked.

        Raises:
            ModelError: a file is missing or altered, or the framework cannot rebuild it.
            ModelTrustError: loading would unpickle an untrusted file.
        """
        handler = handler_named(self.framework)
        full = (not self.trusted) if verify is None else verify
        path = self.local_dir()
        verify_files(path, self.files, f"model {self.tag}", hashes=full)
        allow = self.trusted if trusted is None else trusted
        log.debug("loading model %s (%s) from %s", self.tag, self.framework, path)
        return handler.load(path, self.handler_info, allow_pickle=allow)

    def local_dir(self) -> Path:
        """The version's directory on this machine: where it was saved, or, for one saved on
        another machine sharing this metadata store, its shared copy downloaded once from the
        artifact store into the home's cache, every file checked against its recorded SHA-256."""
        if self.path.is_dir() or not self.shared_uri:
            return self.path

        what = f"model {self.tag} (shared copy {self.shared_uri})"

        def check(copy: Path) -> None:
            data = read_model_yaml(copy)
            if str(data.get("id")) != self.id or data.get("name") != self.name \
                    or data.get("version", self.version) != self.version:
                raise ModelError(f"{what}: its model.yaml describes {data.get('name')}:{data.get('version')} "
                                 f"(id {data.get('id')}), not this version (id {self.id})")
            verify_files(copy, self.files, what)
            if "version" not in data:  # uploaded before its number was known: the record's is the one
                write_model_yaml(copy, with_version(data, self.version))

        return shared.fetch(self.shared_uri, shared.cache_dir("models", self.name, self.version), check,
                            f"model {self.tag}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["tag"] = self.tag
        return data

    @classmethod
    def from_record(cls, record: ModelVersionRecord) -> ModelVersion:
        return cls(
            id=record.id, name=record.name, version=record.version, framework=record.framework,
            path=Path(record.uri), created_at=record.created_at, files=record.files,
            handler_info=dict(record.extra.get("handler") or {}), metadata=record.metadata,
            metrics=record.metrics, labels=record.labels, signatures=record.signatures,
            libraries=record.libraries, run_id=record.run_id, step_run_id=record.step_run_id,
            artifact_id=record.artifact_id, trusted=record.trusted, aliases=record.aliases,
            shared_uri=shared_copy_uri(record),
        )


    @classmethod
    def from_directory(cls, path: Path, *, trusted: bool) -> ModelVersion:
        """The version saved in ``path`` (e.g. a bundle's ``models/NAME/VERSION``)."""
        data = read_model_yaml(path)
        lineage = data.get("lineage") or {}
        created = data.get("created_at")
        return cls(
            id=str(data["id"]), name=str(data["name"]), version=int(data["version"]),
            framework=str(data["framework"]), path=path,
            created_at=datetime.fromisoformat(created) if isinstance(created, str) else created,
            files=data.get("files") or {}, handler_info=data.get("handler") or {},
            metadata=data.get("metadata") or {}, metrics=data.get("metrics") or {},
            labels=data.get("labels") or {}, signatures=data.get("signatures") or {},
            libraries=data.get("libraries") or {}, run_id=lineage.get("run_id"),
            step_run_id=lineage.get("step_run_id"), artifact_id=lineage.get("artifact_id"), trusted=trusted,
        )


def shared_copy_uri(record: ModelVersionRecord) -> str | None:
    """Where the record's shared copy is: ``extra["shared_uri"]``, or, for versions recorded
    before that key, ``ROOT/models/NAME/VERSION`` under ``extra["shared_root"]``."""
    extra = record.extra or {}
    if extra.get(shared.SHARED_URI):
        return str(extra[shared.SHARED_URI])
    root = extra.get("shared_root")
    return f"{str(root).rstrip('/')}/models/{record.name}/{record.version}" if root else None


__all__ = ["ModelVersion", "shared_copy_uri"]
