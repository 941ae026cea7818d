"""Content hashes of artifacts: SHA-256 over a file, or over a directory's files in order."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def hash_file(path: Path, digest: hashlib._Hash | None = None) -> str:
    """SHA-256 of one file's bytes."""
    h = digest or hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(root: Path) -> tuple[str, int]:
    """(SHA-256, total size) over every file below ``root``: relative path, then bytes.

    Two directories with the same file names and contents hash the same, wherever they
    are; renaming, adding or changing any file changes the hash.
    """
    h = hashlib.sha256()
    size = 0
    files = sorted(_walk(root))
    for rel, full in files:
        h.update(rel.encode() + b"\0")
        st = os.stat(full)
        size += st.st_size
        h.update(str(st.st_size).encode() + b"\0")
        with open(full, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
    return h.hexdigest(), size


def _walk(root: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    base = str(root)
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, base).replace(os.sep, "/"), full))
    return out


__all__ = ["hash_file", "hash_tree"]
