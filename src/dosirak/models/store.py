"""Model files on disk: one directory per version, described by ``model.yaml``.

A version directory holds the framework's files plus ``model.yaml`` (name, version, id,
framework, the handler's info, file hashes, libraries, metrics, labels, signatures,
lineage). The same directory is copied unchanged into a bundle's ``models/NAME/VERSION``,
so a version loads the same way from the local store and from a bundle. Versions are
written to a temporary directory and renamed into place inside the store transaction
that records them: a failed save leaves neither files nor a row.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from dosirak.errors import ModelError

log = logging.getLogger(__name__)

MODEL_FILE = "model.yaml"
#: Layout version of ``model.yaml``; a newer one is refused with a clear error.
FORMAT_VERSION = 1
_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def hash_files(directory: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` for every file below ``directory`` but ``model.yaml``."""
    files: dict[str, dict[str, Any]] = {}
    for dirpath, _dirs, names in os.walk(directory):
        for name in names:
            full = Path(dirpath) / name
            rel = full.relative_to(directory).as_posix()
            if rel == MODEL_FILE:
                continue
            files[rel] = {"sha256": hash_file(full), "size": full.stat().st_size}
    return dict(sorted(files.items()))


def verify_files(directory: Path, files: dict[str, dict[str, Any]], what: str, *, hashes: bool = True) -> None:
    """Check every recorded file exists with its size and (with ``hashes``) its SHA-256.

    The error names the file.
    """
    for rel, expected in files.items():
        path = directory / rel
        try:
            size = path.stat().st_size
        except OSError:
            raise ModelError(f"{what}: file {rel} is missing from {directory}") from None
        if size != expected["size"] or (hashes and hash_file(path) != expected["sha256"]):
            raise ModelError(f"{what}: file {rel} in {directory} does not match its recorded SHA-256; "
                             "it was changed or truncated after saving")


def write_model_yaml(directory: Path, data: dict[str, Any]) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump({"format_version": FORMAT_VERSION, **data}, Dumper=dumper, sort_keys=False, allow_unicode=True)
    (directory / MODEL_FILE).write_text(text, encoding="utf-8")


def read_model_yaml(directory: Path) -> dict[str, Any]:
    """The description of the version saved in ``directory``."""
    import yaml

    path = directory / MODEL_FILE
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except OSError as exc:
        raise ModelError(f"{directory} is not a saved model: cannot read {MODEL_FILE} ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ModelError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not describe a model")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path} was written by a newer dosirak (format {data['format_version']}, this one reads "
                         f"{FORMAT_VERSION}); upgrade dosirak to load it")
    return data


def new_temp_dir(root: Path) -> Path:
    """An empty directory inside ``root`` (same filesystem, so a rename moves it into place)."""
    path = root / ".tmp" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def version_dir(root: Path, name: str, version: int) -> Path:
    return root / name / str(version)


def move_into_place(temp: Path, target: Path) -> None:
    """Rename a finished temporary directory to ``target`` (which must not exist yet)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        # left over from a crash after the rename but before the commit: the store has no row for it
        log.warning("replacing leftover directory %s that the store does not know", target)
        shutil.rmtree(target)
    os.rename(temp, target)


def copy_version(source: Path, target: Path) -> None:
    """Copy a version directory (into a bundle)."""
    shutil.copytree(source, target, symlinks=False)


__all__ = [
    "FORMAT_VERSION", "MODEL_FILE", "copy_version", "hash_file", "hash_files", "move_into_place",
    "new_temp_dir", "read_model_yaml", "verify_files", "version_dir", "write_model_yaml",
]
