"""Model files on disk: one directory per version, described by ``model.yaml``.

A version directory holds the framework's files plus ``model.yaml`` (name, version, id,
framework, the handler's info, file hashes, libraries, metrics, labels, signatures,
lineage). The same directory is copied unchanged into a bundle's ``models/NAME/VERSION``,
so a version loads the same way from the local store and from a bundle. Versions are
written to a temporary directory and renamed into place inside the store transaction
that records them: a failed save leaves neither files nor a row. A version's shared copy
(a team's artifact store) is uploaded before that transaction, so its ``model.yaml`` has
no version number; whoever downloads it writes in the number of the record it came from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from dosirak import process
from dosirak.errors import ModelError
from dosirak.names import check_name, path_under
from dosirak.untrusted import load_yaml

log = logging.getLogger(__name__)

MODEL_FILE = "model.yaml"
#: Layout version of ``model.yaml``; a newer one is refused with a clear error.
FORMAT_VERSION = 1
_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def remember_digest(path: Path, sha256: str) -> None:
    """Note the SHA-256 of the file a handler just wrote, computed from the bytes it wrote.

    :func:`hash_files` then uses it instead of reading the file again, if the file still
    has the same device, inode, size and modification time (nanoseconds).
    """
    st = path.stat()
    if len(_remembered) >= _REMEMBERED_MAX:  # left by failed saves
        _remembered.pop(next(iter(_remembered)), None)
    _remembered[str(path)] = ((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), sha256)


_REMEMBERED_MAX = 256
_remembered: dict[str, tuple[tuple[int, int, int, int], str]] = {}


def hash_files(directory: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` for every file below ``directory`` but ``model.yaml``."""
    files: dict[str, dict[str, Any]] = {}
    for dirpath, _dirs, names in os.walk(directory):
        for name in names:
            full = Path(dirpath) / name
            rel = full.relative_to(directory).as_posix()
            if rel == MODEL_FILE:
                continue
            st = full.stat()
            noted = _remembered.pop(str(full), None)
            if noted is not None and noted[0] == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
                digest = noted[1]
            else:
                digest = hash_file(full)
            files[rel] = {"sha256": digest, "size": st.st_size}
    return dict(sorted(files.items()))


def verify_files(directory: Path, files: dict[str, dict[str, Any]], what: str, *, hashes: bool = True) -> None:
    """Check every recorded file exists with its size and (with ``hashes``) its SHA-256.

    The error names the file.
    """
    for rel, expected in files.items():
        path = path_under(directory, rel, error=ModelError)  # model.yaml may come from a crafted bundle
        try:
            size = path.stat().st_size
        except OSError:
            raise ModelError(f"{what}: file {rel} is missing from {directory}") from None
        if size != expected["size"] or (hashes and hash_file(path) != expected["sha256"]):
            raise ModelError(f"{what}: file {rel} in {directory} does not match its recorded SHA-256; "
                             "it was changed or truncated after saving")


def write_model_yaml(directory: Path, data: dict[str, Any]) -> None:
    (directory / MODEL_FILE).write_text(model_yaml_text({"format_version": FORMAT_VERSION, **data}), encoding="utf-8")


def with_version(data: dict[str, Any], version: int) -> dict[str, Any]:
    """``data`` (a ``model.yaml`` description) with ``version`` as its number, right after the name."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key != "version":
            out[key] = value
        if key == "name":
            out["version"] = version
    if "version" not in out:
        out["version"] = version
    return out


def model_yaml_text(data: dict[str, Any]) -> str:
    """``data`` as a block-style YAML mapping: the text one ``yaml.dump`` of it gives.

    (Objects shared between entries are written out in full instead of as YAML anchors.)
    A block mapping's text is its entries' texts one after another, so the entries in
    :data:`CACHED_ENTRIES` (the handler's info, the same for every version of one
    architecture, and most of the dumping time) are dumped on their own and remembered
    by their JSON text; the other entries are dumped together around them.
    """
    parts: list[str] = []
    run: dict[str, Any] = {}
    for key, value in data.items():
        if key in CACHED_ENTRIES:
            if run:
                parts.append(_dump_yaml(run))
                run = {}
            parts.append(_cached_entry(key, value))
        else:
            run[key] = value
    if run or not parts:
        parts.append(_dump_yaml(run))
    return "".join(parts)


#: Top-level ``model.yaml`` entries whose YAML text is cached by their JSON text.
CACHED_ENTRIES = frozenset({"handler"})
_ENTRY_CACHE_MAX = 64
_entry_cache: dict[tuple[str, str], str] = {}


def _cached_entry(key: str, value: Any) -> str:
    try:
        token = json.dumps(value, allow_nan=False)  # keeps order and tells 1, 1.0 and true apart, as YAML does
    except (TypeError, ValueError):
        return _dump_yaml({key: value})
    text = _entry_cache.get((key, token))
    if text is None:
        text = _dump_yaml({key: value})
        if len(_entry_cache) >= _ENTRY_CACHE_MAX:
            _entry_cache.pop(next(iter(_entry_cache)), None)
        _entry_cache[(key, token)] = text
    return text


def _dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)  # type: ignore[no-any-return]


def read_model_yaml(directory: Path) -> dict[str, Any]:
    """The description of the version saved in ``directory``."""

    path = directory / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{directory} is not a saved model: it has no {MODEL_FILE}")
    data = load_yaml(path, what=MODEL_FILE, error=ModelError)
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not describe a model")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path} was written by a newer dosirak (format {data['format_version']}, this one reads "
                         f"{FORMAT_VERSION}); upgrade dosirak to load it")
    return data


def new_temp_dir(root: Path) -> Path:
    """An empty directory inside ``root`` (same filesystem, so a rename moves it into place).

    Its name starts with this process's :func:`~dosirak.process.owner_tag`: ``dosirak gc``
    removes it once this process is gone, never while it runs.
    """
    path = root / ".tmp" / f"{process.owner_tag()}-{uuid.uuid4().hex}"
    path.mkdir(parents=True)
    return path


def version_dir(root: Path, name: str, version: int) -> Path:
    """``root/NAME/VERSION``, with the name checked against the grammar and the path kept below ``root``."""
    check_name(name, "model name", error=ModelError)
    return path_under(root, name, str(int(version)), error=ModelError)


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
    "CACHED_ENTRIES", "FORMAT_VERSION", "MODEL_FILE", "copy_version", "hash_file", "hash_files", "model_yaml_text",
    "move_into_place", "new_temp_dir", "read_model_yaml", "remember_digest", "verify_files", "version_dir", "with_version",
    "write_model_yaml",
]
