"""Bounded reads of artifact, log and bundle files, through the artifact store.

The dashboard never loads a whole artifact: it lists a directory, reads at most a few
hundred kilobytes of a file, or memory-maps it when the store has it on this machine.
Which backend holds a URI (a local path, ``s3://``, ``memory://`` ...) is the artifact
store's business (:func:`dosirak.artifacts.shared.reader_for`); this module only adds
the dashboard's bounds.
"""

from __future__ import annotations

from dosirak.artifacts.shared import reader_for
from dosirak.artifacts.store import FileEntry

#: The most the dashboard reads from one file to answer one request.
MAX_READ = 256 * 1024
#: The most directory entries listed for one artifact.
MAX_ENTRIES = 200


def join(uri: str, name: str) -> str:
    """The URI of the file ``name`` (``/`` separators) inside the directory ``uri``."""
    return f"{uri.rstrip('/')}/{name}"


def list_files(uri: str, limit: int = MAX_ENTRIES) -> list[FileEntry]:
    """Files under the directory ``uri`` (recursively), at most ``limit``, sorted by name."""
    return reader_for(uri).list_files(uri, limit=max(0, limit))


def size(uri: str) -> int | None:
    """The size of the file ``uri``, None if there is none."""
    return reader_for(uri).size(uri)


def read_bytes(uri: str, offset: int = 0, limit: int = MAX_READ) -> bytes:
    """At most ``limit`` (and :data:`MAX_READ`) bytes of the file ``uri`` from ``offset`` (empty if it is missing)."""
    return reader_for(uri).read_bytes(uri, offset, max(0, min(limit, MAX_READ)))


def local_path(uri: str) -> str | None:
    """A local filesystem path for ``uri``, or None when its bytes are elsewhere."""
    return reader_for(uri).local_path(uri)


__all__ = ["MAX_ENTRIES", "MAX_READ", "FileEntry", "join", "list_files", "local_path", "read_bytes", "size"]
