"""What killed runs leave in a remote artifact store (``s3://``, any fsspec URL), found and removed.

A run's outputs are uploaded to ``ROOT/RUN_ID/STEP/OUTPUT/`` as each one is complete, and
recorded (an artifact row) only when its step ends. A run killed in between (``kill -9``,
a lost machine) leaves objects there that no row names: an output uploaded whole or in
part. They are removed

* when a run starts and finds runs whose process died (:func:`sweep_reaped`: only those
  runs' prefixes are listed, so a run pays nothing when no run was killed), and
* by ``dosirak gc`` (:func:`remote_orphans` over every ended run in the bucket; ``--dry-run``
  lists them first).

What is never removed: anything under a run whose row says ``running`` (here or on
another machine sharing the metadata store: a run killed there is marked failed only when
its heartbeat stops); any output an artifact row names (cache hits re-link those rows, so
they count too); a step's log (``.logs/``: its step run names it); and everything under a
prefix with no run row at all (another team's metadata store may share the bucket) or
outside ``ROOT/RUN_ID/``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dosirak.artifacts.gc import Orphan
from dosirak.artifacts.store import BaseArtifactStore, FsspecArtifactStore
from dosirak.units import human_size

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_remote(artifact_store: BaseArtifactStore) -> bool:
    """Whether ``artifact_store`` keeps its artifacts behind an fsspec URL (not on this machine's disk)."""
    return isinstance(artifact_store, FsspecArtifactStore) and "://" in artifact_store.root \
        and not artifact_store.root.startswith("file://")


def remote_orphans(store: MetadataStore, artifact_store: FsspecArtifactStore,
                   run_ids: Collection[str] | None = None) -> list[Orphan]:
    """Outputs under ``ROOT/RUN_ID/`` of ended runs that no artifact row names (of ``run_ids``, if given)."""
    fs = artifact_store.fs
    root = artifact_store.root.rstrip("/")
    fs.invalidate_cache()  # what is in the bucket now, not what this process listed before
    if run_ids is None:
        run_ids = [name for name in _children(fs, root) if _RUN_ID.fullmatch(name)]
    run_ids = [r for r in run_ids if _RUN_ID.fullmatch(r)]
    if not run_ids:
        return []
    states = store.references.run_states(run_ids)
    ended = sorted(r for r in run_ids if r in states and states[r] != "running")
    if not ended:
        return []
    named = {_key(fs, uri) for uri in store.references.artifact_uris(ended)}
    orphans: list[Orphan] = []
    for run_id in ended:
        outputs: dict[str, int] = {}
        base = _key(fs, f"{root}/{run_id}")
        for key, info in fs.find(f"{root}/{run_id}", detail=True).items():
            parts = key[len(base):].lstrip("/").split("/")
            if len(parts) < 3 or any(p.startswith(".") for p in parts[:2]):
                continue  # a step's log (.logs/), or not STEP/OUTPUT/...
            output = f"{base}/{parts[0]}/{parts[1]}"
            outputs[output] = outputs.get(output, 0) + int(info.get("size") or 0)
        for output, size in sorted(outputs.items()):
            if _covered(output, named):
                continue
            orphans.append(Orphan("artifact", _uri(artifact_store, fs, output), size,
                                  f"run {run_id[:8]} is {states[run_id]}; no artifact row names it"))
    return orphans


def remove(artifact_store: FsspecArtifactStore, orphans: Collection[Orphan]) -> list[str]:
    """Delete every orphan's objects; the errors, one line each."""
    errors: list[str] = []
    root = artifact_store.root.rstrip("/") + "/"
    for orphan in orphans:
        if not orphan.path.startswith(root):
            errors.append(f"{orphan.path}: not under the artifact store's root {root}; left alone")
            continue
        try:
            artifact_store.fs.rm(orphan.path, recursive=True)
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{orphan.path}: {exc}")
    return errors


def sweep_reaped(store: MetadataStore, artifact_store: BaseArtifactStore, reaped: Collection[str]) -> list[Orphan]:
    """Remove what the runs just found dead (``reaped``) left in a remote ``artifact_store``."""
    if not reaped or not isinstance(artifact_store, FsspecArtifactStore) or not is_remote(artifact_store):
        return []
    orphans = remote_orphans(store, artifact_store, reaped)
    errors = remove(artifact_store, orphans)
    for error in errors:
        log.warning("could not remove a leftover of a killed run: %s; `dosirak gc` will try again", error)
    if orphans:
        log.warning("removed what killed runs left in artifact-store '%s': %d unrecorded outputs (%s)",
                    artifact_store.name, len(orphans), human_size(sum(o.size for o in orphans)))
    return orphans


def _children(fs: Any, path: str) -> list[str]:
    """The names directly below ``path`` (S3: its common prefixes and objects)."""
    try:
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    except FileNotFoundError:
        return []


def _key(fs: Any, uri: str) -> str:
    """``uri`` as the filesystem names its objects (no protocol, no trailing slash)."""
    return str(fs._strip_protocol(uri)).rstrip("/")


def _uri(artifact_store: FsspecArtifactStore, fs: Any, key: str) -> str:
    """The URI (with the store's protocol) of the object path ``key`` under the store's root."""
    root_key = _key(fs, artifact_store.root)
    return artifact_store.root.rstrip("/") + key[len(root_key):]


def _covered(output: str, named: Collection[str]) -> bool:
    """Whether an artifact row names ``output``, a prefix inside it, or a prefix holding it."""
    return any(n == output or n.startswith(output + "/") or output.startswith(n + "/") for n in named)


__all__ = ["is_remote", "remote_orphans", "remove", "sweep_reaped"]
