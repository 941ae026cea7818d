"""A team's shared copies of model versions and bundles, kept in the active stack's artifact store.

When the active stack's artifact store is remote (``s3://...``, any fsspec URL), a model
version saved or a bundle built here is also uploaded there, under
``ROOT/models/NAME/VERSION_ID`` (the version's UUID: its number is only known once it is
recorded) and ``ROOT/bundles/NAME/VERSION``, before the transaction that records it, so the
metadata store is never locked during an upload (an upload that fails leaves nothing, and
no row; a row that fails removes the upload); its record says where
(``extra["shared_uri"]``; model versions recorded before that key have
``extra["shared_root"]`` and their copy under ``ROOT/models/NAME/VERSION``). Another machine sharing the metadata store (PostgreSQL) and the
artifact store finds the record, sees the directory is not on its disk, and downloads it
once into its home's ``cache/`` (:func:`fetch`): into a temporary directory, verified by
the caller's check (a bundle's MANIFEST and its recorded hash, a model's file hashes), then
renamed into place, so a half-downloaded or tampered copy is never used. A local artifact
store shares nothing: models and bundles stay under the home, as they always have.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dosirak.artifacts.store import (
    BaseArtifactStore,
    artifact_store_for,
    is_url,
    opened_store_for,
    store_for_uri,
)
from dosirak.errors import ArtifactError, DosirakError
from dosirak.metadata.store import get_store
from dosirak.names import path_under
from dosirak.settings import get_settings

log = logging.getLogger(__name__)

#: The key of a model version's or bundle's ``extra`` holding its shared copy's URI.
SHARED_URI = "shared_uri"


def active_remote_store() -> BaseArtifactStore | None:
    """The active stack's artifact store when it is remote (its root a URL), else None.

    No active stack, or one that cannot be loaded, shares nothing (the local home is used).
    """

    try:
        record = get_store().stacks.get_stack(None).components.get("artifact-store")
        path = str((record.config if record is not None else {}).get("path") or "")
        if record is None or not is_url(path):
            return None  # a local store (nothing built, nothing created on disk)

        return artifact_store_for(record.flavor, record.config, record.name)
    except DosirakError as exc:
        log.debug("no shared artifact store: %s", exc)
        return None


def location(store: BaseArtifactStore, kind: str, name: str, version: str | int) -> str:
    """Where the shared copy of model/bundle ``name`` ``version`` lives in ``store``."""
    return f"{store.root.rstrip('/')}/{kind}/{name}/{version}"


def upload(store: BaseArtifactStore, directory: Path, uri: str) -> None:
    """Upload the finished ``directory`` to ``uri`` (the store removes a partial upload itself)."""
    store.publish(directory, uri)
    log.info("shared copy of %s stored at %s", directory, uri)


def discard(uri: str) -> None:
    """Remove a shared copy that will not be recorded (or whose record was deleted)."""
    try:
        reader_for(uri).delete(uri)
    except Exception:  # noqa: BLE001 - the caller's error matters more
        log.warning("could not remove the shared copy %s", uri, exc_info=True)


def cache_dir(kind: str, name: str, version: str | int) -> Path:
    """Where this machine keeps its downloaded copy of model/bundle ``name`` ``version``."""

    return path_under(get_settings().home / "cache", kind, name, str(version))


def fetch(uri: str, target: Path, check: Callable[[Path], Any], what: str) -> Path:
    """``target``, downloaded from ``uri`` first unless it is already there.

    The download goes to a temporary directory beside ``target``, is checked with
    ``check`` (which raises when the copy is not the recorded one, and may complete it from
    the record), then renamed into place.

    Raises:
        ArtifactError: the shared copy is missing (naming ``what`` and ``uri``).
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f".tmp-{uuid.uuid4().hex}"
    reader = reader_for(uri)
    try:
        if not reader.exists(uri):
            raise ArtifactError(f"{what}: its shared copy {uri} is missing from the artifact store; it was deleted "
                                "there, or this machine's stack uses another artifact store (`dosirak stack describe`)")
        log.info("downloading %s from %s", what, uri)
        with reader.local_copy(uri) as local:
            shutil.copytree(local, temp, symlinks=False)
        check(temp)
        try:
            os.rename(temp, target)
        except OSError:
            if not target.is_dir():  # not another process that got there first
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def reader_for(uri: str) -> BaseArtifactStore:
    """A store able to read ``uri``, with the endpoint and credentials of the store that wrote it.

    The store this process already built for it; else the registered artifact-store
    component whose path holds ``uri`` (the deepest), built through its flavor, so a
    process that never loaded the stack (``Client``, the dashboard) reads an S3 artifact
    with the component's endpoint and credential references; else ``uri``'s filesystem
    with no options.
    """
    if not is_url(uri):
        return store_for_uri(uri)
    opened = opened_store_for(uri)
    if opened is not None:
        return opened
    try:
        components = get_store().stacks.list_components("artifact-store")
    except DosirakError as exc:
        log.debug("no registered artifact store to read %s with: %s", uri, exc)
        components = []
    holding = [(path, c) for c in components
               if (path := str(c.config.get("path") or "").rstrip("/")) and is_url(path)
               and (uri == path or uri.startswith(path + "/"))]
    if holding:
        _, component = max(holding, key=lambda held: len(held[0]))
        return artifact_store_for(component.flavor, component.config, component.name)
    return store_for_uri(uri)


__all__ = ["SHARED_URI", "active_remote_store", "cache_dir", "discard", "fetch", "location", "reader_for", "upload"]
