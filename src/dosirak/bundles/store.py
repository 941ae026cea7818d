"""The bundle store: ``<bundles_root>/NAME/VERSION/`` directories, each recorded in the metadata store.

A bundle is assembled in a temporary directory inside the bundle store, renamed into
place, then recorded; if recording fails the directory is removed again, so the store
never shows a partial bundle and never keeps one it does not know.

Example::

    path = resolve("fashion_mnist:latest")      # a tag or a bundle directory -> its path
    record = get("fashion_mnist:latest")        # the BundleRecord in the metadata store
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from dosirak import process
from dosirak.artifacts import shared
from dosirak.bundles.bundle import BUNDLE_FILE, Bundle
from dosirak.bundles.manifest import verify
from dosirak.errors import BundleError, NotFoundError
from dosirak.metadata.records import BundleRecord
from dosirak.metadata.store import get_store
from dosirak.names import check_name, path_under
from dosirak.settings import get_settings

log = logging.getLogger(__name__)


def _store() -> Any:
    return get_store()


def root() -> Path:
    return get_settings().bundles_root


def parse_tag(tag: str) -> tuple[str, str]:
    """``name:version`` / ``name:latest`` / ``name`` -> ``(name, version)``, both in the name grammar."""
    name, sep, version = str(tag).strip().partition(":")
    if not name or (sep and not version):
        raise BundleError(f"invalid bundle tag '{tag}': use NAME, NAME:VERSION or NAME:latest")
    check_name(name, "bundle name", error=BundleError)
    return name, check_name(version or "latest", "bundle version", error=BundleError)


def get(tag: str) -> BundleRecord:
    """The recorded bundle a tag names (NotFoundError if none)."""
    name, version = parse_tag(tag)
    return _store().bundles.get_bundle(name, version)  # type: ignore[no-any-return]


def list_bundles(name: str | None = None) -> list[BundleRecord]:
    return _store().bundles.list_bundles(name)  # type: ignore[no-any-return]


def resolve(tag_or_path: str | Path) -> tuple[Path, BundleRecord | None]:
    """A bundle directory and its record (None for a directory the store does not know).

    A path to a directory holding ``bundle.yaml`` wins over a tag of the same spelling.
    """
    candidate = Path(tag_or_path).expanduser()
    if (candidate / BUNDLE_FILE).is_file():
        real = candidate.resolve()
        known = next((r for r in list_bundles() if Path(r.path).resolve() == real), None)
        return real, known
    text = str(tag_or_path)
    if "/" in text or text.endswith((".py", ".yaml")):
        raise NotFoundError(f"{text} is not a bundle directory (no {BUNDLE_FILE})")
    record = get(text)
    return local_dir(record), record


def local_dir(record: BundleRecord) -> Path:
    """The directory of a recorded bundle on this machine: where it was built, or, for one
    built on another machine sharing this metadata store, its shared copy downloaded once
    from the artifact store into the home's cache and verified against its MANIFEST and the
    recorded manifest hash (:mod:`dosirak.artifacts.shared`)."""
    path = Path(record.path)
    uri = (record.extra or {}).get("shared_uri")
    if (path / BUNDLE_FILE).is_file() or not uri:
        return path

    def check(copy: Path) -> None:
        report = verify(copy)
        if report.manifest_sha256 != record.manifest_hash:
            raise BundleError(f"bundle {record.tag}: the shared copy at {uri} has another MANIFEST than the one "
                              "recorded when it was built; it was changed in the artifact store: rebuild it")

    cached = shared.cache_dir("bundles", record.name, record.version)
    if cached.is_dir():
        return cached
    return shared.fetch(str(uri), cached, check, f"bundle {record.tag}")


def open_bundle(tag_or_path: str | Path, *, check: bool = True) -> Bundle:
    """Resolve and open (and verify) a bundle by tag or path."""
    path, _record = resolve(tag_or_path)
    return Bundle.open(path, check=check)


def new_temp_dir() -> Path:
    """An empty directory inside the bundle store, on the same filesystem as the bundles.

    Its name starts with this process's :func:`~dosirak.process.owner_tag`: ``dosirak gc``
    removes it once this process is gone, never while it runs.
    """
    path = root() / ".tmp" / f"{process.owner_tag()}-{uuid.uuid4().hex}"
    path.mkdir(parents=True)
    return path


def commit(
    temp: Path,
    *,
    info: dict[str, Any],
    size: int,
    manifest_hash: str,
    model_version_ids: Sequence[str] = (),
    imported: bool = False,
) -> BundleRecord:
    """Move a finished bundle from ``temp`` into place and record it; undo the move on failure."""
    name = check_name(info.get("name"), "bundle name", error=BundleError)
    version = check_name(info.get("version"), "bundle version", error=BundleError)
    target = path_under(root(), name, version, error=BundleError)
    if target.exists():
        raise BundleError(f"bundle {name}:{version} already exists at {target}; delete it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(temp, target)
    lineage = info.get("lineage") or {}
    shared_uri: str | None = None
    try:
        remote = shared.active_remote_store()
        if remote is not None:  # a team's store: the bundle is kept there too, before it is recorded
            shared_uri = shared.location(remote, "bundles", name, version)
            shared.upload(remote, target, shared_uri)
        created = info.get("created_at")
        record: BundleRecord = _store().bundles.create_bundle(
            bundle_id=str(info.get("id") or uuid.uuid4()), name=name, version=version, path=str(target),
            service=str(info["service"]),
            created_at=datetime.fromisoformat(created) if isinstance(created, str) else created,
            size=size, manifest_hash=manifest_hash, labels=dict(info.get("labels") or {}),
            apis=list(info.get("apis") or []), models=list(info.get("models") or []),
            model_version_ids=model_version_ids, run_id=lineage.get("run_id"),
            step_run_id=lineage.get("step_run_id"), imported=imported,
            extra={"dosirak_version": info.get("dosirak_version"), "python_version": info.get("python_version"),
                   **({"shared_uri": shared_uri} if shared_uri else {})},
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        if shared_uri is not None:
            shared.discard(shared_uri)
        raise
    return record


def delete(tag: str) -> BundleRecord:
    """Forget a bundle and remove its directory; refused while a deployment uses it."""
    name, version = parse_tag(tag)
    record: BundleRecord = _store().bundles.delete_bundle(name, version)
    path = Path(record.path)
    home = root().resolve()
    if path.resolve().is_relative_to(home) and path.resolve() != home and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:  # recorded by an older dosirak that let a crafted bundle.yaml place it elsewhere
        log.warning("bundle %s was recorded at %s, outside the bundle store %s: its record is deleted but "
                    "its files are left alone; inspect and remove that directory yourself", record.tag, path, home)
    uri = (record.extra or {}).get("shared_uri")
    if uri:
        shared.discard(str(uri))
        shutil.rmtree(shared.cache_dir("bundles", record.name, record.version), ignore_errors=True)
    log.info("deleted bundle %s", record.tag)
    return record


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


__all__ = ["commit", "delete", "directory_size", "get", "list_bundles", "local_dir", "new_temp_dir", "open_bundle",
           "parse_tag", "resolve", "root"]
