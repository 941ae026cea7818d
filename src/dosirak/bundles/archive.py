"""Export a bundle as one archive file, and import one safely.

An archive is a gzip-compressed tar of the bundle directory (paths relative to its root).
Import checks every member before extracting anything: it refuses absolute paths, ``..``,
devices and FIFOs, and links whose target leaves the bundle, naming the member. It then
extracts into a temporary directory inside the bundle store, verifies the MANIFEST
(naming any file whose hash differs, or that is missing or extra), checks the bundle
format version, and only then moves the bundle into place and records it as imported.

Example::

    export_bundle("fashion_mnist:latest", Path("fm.bundle"))
    record = import_bundle(Path("fm.bundle"))      # in another DOSIRAK_HOME
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tarfile
import uuid
from pathlib import Path

from dosirak.bundles import store
from dosirak.bundles.bundle import Bundle
from dosirak.errors import BundleError, BundleIntegrityError
from dosirak.metadata.records import BundleRecord

log = logging.getLogger(__name__)


def export_bundle(tag_or_path: str, output: Path) -> Path:
    """Write the (verified) bundle as a single ``.bundle`` archive at ``output``."""
    bundle = store.open_bundle(tag_or_path, check=True)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            for rel in sorted(_files(bundle.path)):
                tar.add(bundle.path / rel, arcname=rel, recursive=False)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("exported bundle %s to %s", bundle.tag, output)
    return output


def _files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()]


def check_member(member: tarfile.TarInfo, names: set[str]) -> None:
    """Refuse a member that could write outside the bundle or is not a plain file/dir/link."""
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or name.startswith("\\"):
        raise BundleIntegrityError(f"archive member '{name}' has an absolute path; refusing to import")
    if ".." in parts or "\\" in name:
        raise BundleIntegrityError(f"archive member '{name}' climbs out of the bundle ('..'); refusing to import")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise BundleIntegrityError(f"archive member '{name}' is a device or FIFO; refusing to import")
    if member.issym():
        if member.linkname.startswith("/"):
            raise BundleIntegrityError(f"archive member '{name}' is a link that leaves the bundle "
                                       f"(to {member.linkname}); refusing to import")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if target == ".." or target.startswith("../"):
            raise BundleIntegrityError(f"archive member '{name}' is a link that leaves the bundle "
                                       f"(to {member.linkname}); refusing to import")
    if member.islnk():
        target = posixpath.normpath(member.linkname)
        if target.startswith(("/", "../")) or target == ".." or target not in names:
            raise BundleIntegrityError(f"archive member '{name}' is a hard link to '{member.linkname}', "
                                       "which is not a file of the bundle; refusing to import")


def import_bundle(archive: Path) -> BundleRecord:
    """Import a ``.bundle`` archive into the bundle store; nothing is kept if any check fails.

    Raises:
        BundleIntegrityError: unreadable/truncated archive, unsafe member, or MANIFEST mismatch.
        BundleVersionError: the bundle was built by a newer dosirak.
        BundleError: a bundle with the same name and version is already here.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BundleError(f"no bundle archive at {archive}")
    temp = store.new_temp_dir()
    try:
        _extract(archive, temp)
        bundle = Bundle.open(temp, check=True)  # MANIFEST, then the format version
        try:
            existing = store.get(bundle.tag)
        except Exception:  # noqa: BLE001 - NotFoundError: the usual case
            existing = None
        if existing is not None:
            raise BundleError(f"bundle {bundle.tag} is already in this store (at {existing.path}); "
                              f"`dosirak bundle delete {bundle.tag}` first to import it again")
        from dosirak.bundles.manifest import read_manifest

        _entries, manifest_hash = read_manifest(temp)
        record = store.commit(temp, info=bundle.info, size=store.directory_size(temp), manifest_hash=manifest_hash,
                              model_version_ids=[str(m.get("id")) for m in bundle.models], imported=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    log.info("imported bundle %s from %s", record.tag, archive)
    return record


def _extract(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            names = {posixpath.normpath(m.name) for m in members if m.isfile()}
            for member in members:
                check_member(member, names)
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise BundleIntegrityError(f"{archive}: unsafe archive member: {exc}") from exc
        raise BundleIntegrityError(
            f"{archive} is not a readable bundle archive (truncated or damaged?): {type(exc).__name__}: {exc}"
        ) from exc


__all__ = ["check_member", "export_bundle", "import_bundle"]
