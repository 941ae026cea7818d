"""A bundle's ``MANIFEST``: the SHA-256 and size of every file, and its verification.

Format: a header line, then one line per file, sorted by path::

    # dosirak bundle manifest v1
    <sha256>  <size>  <relative/posix/path>

``MANIFEST`` lists every file of the bundle but itself and ``SIGNATURES``. Verification fails, naming the
file, when a listed file is missing, has another size or hash, or is a link leaving the
bundle, and when a file is present that the manifest does not list.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dosirak.errors import BundleIntegrityError

MANIFEST = "MANIFEST"
#: Signatures over the MANIFEST (:mod:`dosirak.bundles.signing`): the one other file it does not list.
SIGNATURES = "SIGNATURES"
HEADER = "# dosirak bundle manifest v1"


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class VerifyReport:
    """What a verification checked, and how fast."""

    files: int
    bytes: int
    seconds: float
    manifest_sha256: str

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def _hash(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, names in os.walk(root):
        for name in (*names, *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))):
            rel = Path(dirpath, name).relative_to(root).as_posix()
            if rel not in (MANIFEST, SIGNATURES):
                found.append(rel)
    return sorted(found)


def _inside(root: Path, path: Path) -> Path:
    """The real path of ``path``, refusing one that resolves outside ``root``."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise BundleIntegrityError(f"{path.relative_to(root).as_posix()} is a link that leaves the bundle")
    return real


def write_manifest(root: Path) -> str:
    """Hash every file below ``root`` into ``root/MANIFEST``; return the manifest's own SHA-256."""
    lines = [HEADER]
    for rel in _walk(root):
        if "\n" in rel or "\r" in rel:
            raise BundleIntegrityError(f"file name {rel!r} contains a line break; rename it")
        full = _inside(root, root / rel)
        lines.append(f"{_hash(full)}  {full.stat().st_size}  {rel}")
    text = "\n".join(lines) + "\n"
    (root / MANIFEST).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(root: Path) -> tuple[dict[str, Entry], str]:
    """The manifest's entries by path, and the manifest's own SHA-256."""
    try:
        data = (root / MANIFEST).read_bytes()
    except OSError as exc:
        raise BundleIntegrityError(f"{root} has no readable {MANIFEST} ({exc}); it is not a complete bundle") from exc
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BundleIntegrityError(f"{root / MANIFEST} is not UTF-8 text; the bundle is damaged") from exc
    if not lines or lines[0] != HEADER:
        raise BundleIntegrityError(f"{root / MANIFEST} does not start with '{HEADER}'; the bundle is damaged")
    entries: dict[str, Entry] = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("  ", 2)
        if len(parts) != 3 or len(parts[0]) != 64 or not parts[1].isdigit():
            raise BundleIntegrityError(f"{root / MANIFEST} line {number} is malformed; the bundle is damaged")
        entries[parts[2]] = Entry(path=parts[2], size=int(parts[1]), sha256=parts[0])
    return entries, hashlib.sha256(data).hexdigest()


def verify(root: Path) -> VerifyReport:
    """Check every file of the bundle at ``root`` against its manifest.

    Raises:
        BundleIntegrityError: naming the first file that is missing, extra, altered,
            truncated, or a link leaving the bundle.
    """
    start = time.perf_counter()
    entries, manifest_hash = read_manifest(root)
    present = set(_walk(root))
    extra = sorted(present - set(entries))
    if extra:
        raise BundleIntegrityError(f"bundle {root}: file {extra[0]} is not in the MANIFEST (added after the build)")
    total = 0
    for rel, entry in entries.items():
        path = root / rel
        if rel not in present or not path.exists():
            raise BundleIntegrityError(f"bundle {root}: file {rel} listed in the MANIFEST is missing")
        real = _inside(root, path)
        try:
            size = real.stat().st_size
            if size != entry.size:
                raise BundleIntegrityError(
                    f"bundle {root}: file {rel} has {size} bytes, the MANIFEST says {entry.size} (truncated or changed)")
            digest = _hash(real)
        except OSError as exc:
            raise BundleIntegrityError(f"bundle {root}: cannot read file {rel} ({exc.strerror or exc}); give this "
                                       "user read access to the bundle's files") from exc
        if digest != entry.sha256:
            raise BundleIntegrityError(f"bundle {root}: file {rel} does not match its SHA-256 in the MANIFEST")
        total += size
    return VerifyReport(files=len(entries), bytes=total, seconds=time.perf_counter() - start,
                        manifest_sha256=manifest_hash)


__all__ = ["HEADER", "MANIFEST", "SIGNATURES", "Entry", "VerifyReport", "read_manifest", "verify", "write_manifest"]
