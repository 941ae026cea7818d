"""Bounded reads of artifact and log files, wherever the artifact store keeps them.

The dashboard never loads a whole artifact: it lists a directory, reads at most a few
hundred kilobytes of a file, or memory-maps it. Local paths are read directly; any other
URL (``s3://``, ``memory://`` ...) goes through fsspec, imported only then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

#: The most the dashboard reads from one file to answer one request.
MAX_READ = 256 * 1024
#: The most directory entries listed for one artifact.
MAX_ENTRIES = 200


@dataclass(frozen=True)
class FileEntry:
    name: str  # relative to the artifact directory, with "/" separators
    size: int


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def _fs(uri: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def join(uri: str, name: str) -> str:
    return f"{uri.rstrip('/')}/{name}"


def list_files(uri: str, limit: int = MAX_ENTRIES) -> list[FileEntry]:
    """Files under the directory ``uri`` (recursively), at most ``limit``, sorted by name."""
    out: list[FileEntry] = []
    if is_local(uri):
        root = _local(uri)
        if not os.path.isdir(root):
            return []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                try:
                    size = os.path.getsize(full)
                except OSError:
                    continue
                out.append(FileEntry(os.path.relpath(full, root).replace(os.sep, "/"), size))
                if len(out) >= limit:
                    return out
        return out
    fs, path = _fs(uri)
    if not fs.exists(path):
        return []
    for full, info in sorted(fs.find(path, detail=True).items())[:limit]:
        out.append(FileEntry(full[len(path):].lstrip("/"), int(info.get("size") or 0)))
    return out


def exists(uri: str) -> bool:
    if is_local(uri):
        return os.path.exists(_local(uri))
    fs, path = _fs(uri)
    return bool(fs.exists(path))


def size(uri: str) -> int | None:
    try:
        if is_local(uri):
            return os.path.getsize(_local(uri))
        fs, path = _fs(uri)
        return int(fs.size(path))
    except (OSError, FileNotFoundError):
        return None


def read_bytes(uri: str, offset: int = 0, limit: int = MAX_READ) -> bytes:
    """At most ``limit`` bytes of the file ``uri`` from ``offset`` (empty if it is missing)."""
    limit = max(0, min(limit, MAX_READ))
    try:
        if is_local(uri):
            with open(_local(uri), "rb") as fh:
                fh.seek(offset)
                return fh.read(limit)
        fs, path = _fs(uri)
        with fs.open(path, "rb") as fh:
            fh.seek(offset)
            return bytes(fh.read(limit))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return b""


def local_path(uri: str) -> str | None:
    """A local filesystem path for ``uri``, or None when it is remote."""
    return _local(uri) if is_local(uri) else None


__all__ = ["MAX_READ", "FileEntry", "exists", "is_local", "join", "list_files", "local_path", "read_bytes", "size"]
