"""Export a bundle as one archive file, and import one safely.

An archive is a gzip-compressed tar of the bundle directory (paths relative to its root).
Import reads every member's header before extracting anything: it refuses absolute paths,
``..``, devices, FIFOs and sparse files, links whose target leaves the bundle (naming the
member), and an archive over the import limits (member count, one file's size, total size:
:class:`~dosirak.settings.ImportLimits`), stopping at the first header past a limit so a
bomb is refused at once; then the free disk space. It then extracts into a temporary
directory inside the bundle store, verifies the MANIFEST (naming any file whose hash
differs, or that is missing or extra), checks the bundle format version and that
``bundle.yaml``'s name, version, service and model paths are in the name grammar
(:mod:`dosirak.names`) or stay inside the bundle, and only then moves the bundle into
place (a path checked to stay below the bundle store) and records it as imported.

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
import zlib
from collections.abc import Collection
from pathlib import Path

from dosirak import disk
from dosirak.bundles import store
from dosirak.bundles.bundle import Bundle
from dosirak.bundles.manifest import read_manifest
from dosirak.bundles.signing import enforce_policy
from dosirak.errors import BundleError, BundleIntegrityError
from dosirak.metadata.records import BundleRecord
from dosirak.settings import ImportLimits, get_settings
from dosirak.units import human_size

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


def check_member(member: tarfile.TarInfo, names: Collection[str]) -> None:
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


def import_bundle(archive: Path, *, limits: ImportLimits | None = None) -> BundleRecord:
    """Import a ``.bundle`` archive into the bundle store; nothing is kept if any check fails.

    ``limits`` (default: the settings' :class:`~dosirak.settings.ImportLimits`) bound the
    member count, each file's size and the total size; they are checked from the archive's
    headers before anything is extracted, and free disk space is checked too.

    Raises:
        BundleIntegrityError: unreadable/truncated archive, unsafe member or name, over a limit,
            or MANIFEST mismatch.
        BundleVersionError: the bundle was built by a newer dosirak.
        BundleSignatureError: signed bundles are required and none of its signatures is by a trusted key.
        BundleError: a bundle with the same name and version but other files is already here
            (one with the same files is returned as it is: importing twice changes nothing).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BundleError(f"no bundle archive at {archive}")
    if limits is None:
        limits = get_settings().import_limits
    temp = store.new_temp_dir()
    try:
        _extract(archive, temp, limits)
        bundle = Bundle.open(temp, check=True)  # MANIFEST, then the format version and names
        signers = enforce_policy(temp, f"{bundle.tag} from {archive}")  # refused unless signed by a trusted key, when that is required
        try:
            existing = store.get(bundle.tag)
        except Exception:  # noqa: BLE001 - NotFoundError: the usual case
            existing = None
        _entries, manifest_hash = read_manifest(temp)
        if existing is not None and existing.manifest_hash == manifest_hash:
            shutil.rmtree(temp, ignore_errors=True)
            log.info("bundle %s is already in this store with the same files; nothing to import", bundle.tag)
            return existing
        if existing is not None:
            raise BundleError(f"bundle {bundle.tag} is already in this store with other files (at {existing.path}); "
                              f"`dosirak bundle delete {bundle.tag}` first to import this one")
        record = store.commit(temp, info=bundle.info, size=store.directory_size(temp), manifest_hash=manifest_hash,
                              model_version_ids=[str(m.get("id")) for m in bundle.models], imported=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    log.info("imported bundle %s from %s%s", record.tag, archive,
             f" (signed by {', '.join(k.name for k in signers)})" if signers else "")
    return record


def _extract(archive: Path, into: Path, limits: ImportLimits) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members, total = _checked_members(tar, archive, limits)
            free = shutil.disk_usage(into).free
            if total > free:
                raise BundleError(f"{archive} unpacks to {human_size(total)} but only {human_size(free)} is free "
                                  f"below {into.parent}: disk full; free some space first")
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise BundleIntegrityError(f"{archive}: unsafe archive member: {exc}") from exc
        if isinstance(exc, OSError) and disk.out_of_space(exc, into):
            raise BundleError(disk.full_message(into.parent, f"importing {archive} (nothing was kept) into",
                                                exc)) from exc
        raise BundleIntegrityError(
            f"{archive} is not a readable bundle archive (truncated or damaged?): {type(exc).__name__}: {exc}"
        ) from exc


def _checked_members(tar: tarfile.TarFile, archive: Path, limits: ImportLimits) -> tuple[list[tarfile.TarInfo], int]:
    """Read the archive's headers one by one, refusing it as soon as a limit or a member is wrong.

    A header states its member's size before its data, so a member over the per-file or
    total limit is refused without decompressing its data, and a flood of members stops at
    the count limit: a bomb costs no more than the limits themselves.
    """
    members: list[tarfile.TarInfo] = []
    sizes: dict[str, int] = {}  # regular files seen so far: hard links may only point at these
    total = 0
    setting = "(raise it with {env} or `dosirak bundle import --{flag}` if you trust this archive)"
    while (member := tar.next()) is not None:
        if len(members) >= limits.max_members:
            raise BundleIntegrityError(
                f"{archive} has more than {limits.max_members:,} members: refusing to import a possible archive "
                f"bomb {setting.format(env='DOSIRAK_IMPORT_MAX_MEMBERS', flag='max-members')}")
        check_member(member, sizes.keys())
        if member.issparse():
            raise BundleIntegrityError(f"archive member '{member.name}' is a sparse file; refusing to import")
        size = member.size if member.isfile() else 0
        if member.islnk():
            size = sizes.get(posixpath.normpath(member.linkname), 0)
        if size > limits.max_file_bytes:
            raise BundleIntegrityError(
                f"archive member '{member.name}' unpacks to {human_size(size)}, over the per-file limit of "
                f"{human_size(limits.max_file_bytes)}: refusing to import a possible archive bomb "
                f"{setting.format(env='DOSIRAK_IMPORT_MAX_FILE_BYTES', flag='max-file-size')}")
        total += size
        if total > limits.max_bytes:
            raise BundleIntegrityError(
                f"{archive} unpacks to more than {human_size(limits.max_bytes)} (the limit): refusing to import a "
                f"possible archive bomb {setting.format(env='DOSIRAK_IMPORT_MAX_BYTES', flag='max-size')}")
        members.append(member)
        if member.isfile():
            sizes[posixpath.normpath(member.name)] = member.size
    return members, total


__all__ = ["check_member", "export_bundle", "import_bundle"]
