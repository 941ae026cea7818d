"""Files that no row refers to: what killed runs, killed saves and full disks leave behind.

Six kinds, all below the dosirak home's roots:

* ``staging``: ``artifacts/.staging/RUN/``, outputs RUN was writing when its process was
  killed (and ``.staging-*``/``.replaced-*`` beside outputs, from an older dosirak);
* ``artifact``: ``artifacts/RUN/STEP/OUTPUT`` that no artifact row names: published, then
  the process was killed or the store could not record it (a full disk);
* ``model-tmp``, ``bundle-tmp``: ``models/.tmp/*``, ``bundles/.tmp/*``, a model save or a
  bundle build whose process was killed;
* ``model``: ``models/NAME/VERSION`` that no model version row names;
* ``bundle``: ``bundles/NAME/VERSION`` that no bundle row names.

What is never removed, and why it is safe:

* The files of a run whose row says ``running``. Runs whose process died are marked
  ``failed`` first (:meth:`~dosirak.metadata._runs.Runs.reap_abandoned_runs`:
  on this host, the recorded PID and its start time no longer match a live process; on
  another host, no heartbeat for 90 s), so a run still writing in another process keeps
  its staging area; a run that has ended writes nothing more.
* A temporary directory whose name starts with the :func:`~dosirak.process.owner_tag` of a
  live process.
* A model version directory that a row names. Versions are moved into place inside the
  transaction that records them, so the check runs under the store's write lock, and an
  orphan is renamed into ``models/.tmp`` under that lock before it is removed: a later
  save of the same version number cannot be hit.
* Anything without an owner to ask (a bundle between its move into place and its row, a
  run directory without a row, a temporary directory of an older dosirak) until nothing in
  it has changed for :data:`UNOWNED_GRACE_S`.
* Anything a row refers to, anything outside the roots, and symlinks: directories are
  listed without following symlinks, run directories must be named like run ids, and the
  real parent of a path is checked to lie inside its root right before it is removed.

Example::

    report = collect(get_store(), Roots.of_home(), dry_run=True)
    report.kinds()      # {"staging": {"count": 1, "bytes": 3145728}, "artifact": {...}, ...}
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosirak import process
from dosirak.artifacts.store import STAGING_DIR, BaseArtifactStore, LocalArtifactStore
from dosirak.settings import get_settings
from dosirak.units import human_size

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore
    from dosirak.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("staging", "artifact", "model-tmp", "model", "bundle-tmp", "bundle")
#: Files whose writer cannot be asked are left alone until unchanged for this long (seconds).
UNOWNED_GRACE_S = 3600.0
#: The directory, in the model and bundle stores, of saves and builds in progress.
TEMP_DIR = ".tmp"
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LEGACY_STAGING = (".staging-", ".replaced-")


@dataclass(frozen=True)
class Orphan:
    """A directory no row refers to: its kind (one of :data:`KINDS`), path, size and why it is one."""

    kind: str
    path: str
    size: int
    reason: str


@dataclass(frozen=True)
class Roots:
    """The directories garbage is looked for in."""

    artifacts: Path
    models: Path
    bundles: Path

    @classmethod
    def of_home(cls, settings: Settings | None = None) -> Roots:
        """The roots of the dosirak home (the settings' one by default)."""
        if settings is None:
            settings = get_settings()
        return cls(settings.artifact_root, settings.models_root, settings.bundles_root)


@dataclass(frozen=True)
class GcReport:
    """What :func:`collect` found (and removed, unless ``dry_run``), and what it could not remove."""

    orphans: tuple[Orphan, ...]
    dry_run: bool
    errors: tuple[str, ...] = ()

    def kinds(self) -> dict[str, dict[str, int]]:
        """``{kind: {"count": n, "bytes": b}}`` for every kind, found or not."""
        out = {kind: {"count": 0, "bytes": 0} for kind in KINDS}
        for orphan in self.orphans:
            out[orphan.kind]["count"] += 1
            out[orphan.kind]["bytes"] += orphan.size
        return out

    def total(self) -> dict[str, int]:
        return {"count": len(self.orphans), "bytes": sum(o.size for o in self.orphans)}

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "kinds": self.kinds(), "total": self.total(),
            "orphans": [{"kind": o.kind, "path": o.path, "bytes": o.size, "reason": o.reason} for o in self.orphans],
            "errors": list(self.errors),
        }


# ----------------------------------------------------------------------------- entry points
def collect(store: MetadataStore, roots: Roots, *, dry_run: bool, now: float | None = None) -> GcReport:
    """Find every orphan below ``roots`` and, unless ``dry_run``, remove it.

    Runs whose process died are marked failed first, as every run and ``Client`` do.
    ``now`` (seconds since the epoch) is the time the grace period counts from.
    """
    now = time.time() if now is None else now
    store.runs.reap_abandoned_runs()
    orphans = _artifact_orphans(store, roots.artifacts, None, now)
    orphans += _temp_orphans("model-tmp", roots.models / TEMP_DIR, now)
    orphans += _temp_orphans("bundle-tmp", roots.bundles / TEMP_DIR, now)
    orphans += _store_orphans("bundle", roots.bundles, store.references.bundle_paths(), now)
    real_roots = [os.path.realpath(r) for r in (roots.artifacts, roots.models, roots.bundles)]
    if dry_run:
        orphans += _store_orphans("model", roots.models, store.references.model_version_uris(), None)
        return GcReport(tuple(orphans), dry_run=True)
    errors = _remove_all(orphans, real_roots)
    set_aside: list[tuple[Orphan, str]] = []
    with store.references.model_versions_held() as uris:
        for orphan in _store_orphans("model", roots.models, uris, None):
            moved, error = _set_aside(orphan, roots.models / TEMP_DIR, real_roots)
            if moved is None:
                errors.append(error)
            else:
                set_aside.append((orphan, moved))
    for orphan, moved in set_aside:
        shutil.rmtree(moved, ignore_errors=True)
        orphans.append(orphan)
    if orphans:
        log.info("removed %d orphaned directories (%s)", len(orphans), human_size(sum(o.size for o in orphans)))
    return GcReport(tuple(orphans), dry_run=False, errors=tuple(errors))


def sweep_abandoned(store: MetadataStore, artifact_store: BaseArtifactStore) -> list[Orphan]:
    """Remove what killed runs left in ``artifact_store``; every run calls this as it starts.

    Only runs with a staging area (``ROOT/.staging/RUN``: a run that wrote outputs and was
    not closed) are looked at, after :meth:`reap_abandoned_runs` marked the dead ones
    failed: a run still running, here or in another process, keeps everything.
    """
    if not isinstance(artifact_store, LocalArtifactStore):
        return []
    root = Path(artifact_store.root)
    owners = [e.name for e in _subdirs(root / STAGING_DIR)]
    if not owners:
        return []
    orphans = _artifact_orphans(store, root, owners, time.time())
    errors = _remove_all(orphans, [os.path.realpath(root)])
    for error in errors:
        log.warning("could not remove a leftover of a killed run: %s; `dosirak gc` will try again", error)
    if orphans:
        staged = [o for o in orphans if o.kind == "staging"]
        unrecorded = [o for o in orphans if o.kind != "staging"]
        log.warning("removed what killed runs left in the artifact store: %d staging areas (%s), "
                    "%d unrecorded outputs (%s)", len(staged), human_size(sum(o.size for o in staged)),
                    len(unrecorded), human_size(sum(o.size for o in unrecorded)))
    return orphans


# ---------------------------------------------------------------------------------- finding
def _artifact_orphans(store: MetadataStore, root: Path, only: Collection[str] | None, now: float) -> list[Orphan]:
    """Staging areas and unrecorded outputs of runs that are not running (of the runs ``only``, if given)."""
    areas = {e.name: e.path for e in _subdirs(root / STAGING_DIR)}
    run_dirs = {e.name: e.path for e in _subdirs(root) if _RUN_ID.fullmatch(e.name)}
    if only is not None:
        wanted = set(only)
        areas = {k: v for k, v in areas.items() if k in wanted}
        run_dirs = {k: v for k, v in run_dirs.items() if k in wanted}
    ids = set(areas) | set(run_dirs)
    if not ids:
        return []
    states = store.references.run_states(ids if only is not None else None)
    ended = {i for i in ids if i in states and states[i] != "running"}
    orphans: list[Orphan] = []
    for run_id, path in sorted(areas.items()):
        if run_id in ended:
            orphans.append(_orphan("staging", path, f"run {run_id[:8]} is {states[run_id]}"))
        elif run_id not in states:
            orphans += _unowned("staging", path, f"no run {run_id[:8]} in the store", now)
    referenced = _References(root, store.references.artifact_uris(ended if only is not None else None))
    for run_id, run_dir in sorted(run_dirs.items()):
        if run_id in ended:
            for step_dir in _subdirs(run_dir):
                for out in _subdirs(step_dir.path):
                    if out.name.startswith(_LEGACY_STAGING):
                        orphans.append(_orphan("staging", out.path, f"run {run_id[:8]} is {states[run_id]}"))
                    elif not out.name.startswith(".") and not referenced.covers(out.path):
                        orphans.append(_orphan("artifact", out.path, "no artifact row names it"))
        elif run_id not in states and not referenced.covers(run_dir):
            orphans += _unowned("artifact", run_dir, f"no run {run_id[:8]} in the store", now)
    return orphans


def _temp_orphans(kind: str, temp_dir: Path, now: float) -> list[Orphan]:
    orphans: list[Orphan] = []
    for entry in _subdirs(temp_dir):
        alive = process.owner_alive(entry.name)
        if alive is False:
            orphans.append(_orphan(kind, entry.path, "the process that wrote it is gone"))
        elif alive is None:
            orphans += _unowned(kind, entry.path, "no owner named", now)
    return orphans


def _store_orphans(kind: str, root: Path, recorded: Iterable[str], now: float | None) -> list[Orphan]:
    """``root/NAME/VERSION`` directories no row names (unchanged for the grace period, unless ``now`` is None)."""
    referenced = _References(root, recorded)
    orphans: list[Orphan] = []
    for name in _subdirs(root):
        if name.name.startswith("."):
            continue
        for version in _subdirs(name.path):
            if referenced.covers(version.path):
                continue
            reason = f"no {kind} row names it"
            orphans += [_orphan(kind, version.path, reason)] if now is None else _unowned(kind, version.path,
                                                                                         reason, now)
    return orphans


class _References:
    """The paths rows name below ``root``, to ask whether a directory is (in) one of them or holds one."""

    def __init__(self, root: Path, uris: Iterable[str]) -> None:
        self._root = os.path.normpath(str(root))
        self._real = os.path.realpath(self._root)
        self._named: set[str] = set()
        self._holding: set[str] = set()  # every parent of a named path
        for uri in uris:
            if "://" in uri and not uri.startswith("file://"):
                continue
            path = self._canonical(uri.removeprefix("file://"))
            self._named.add(path)
            parent = os.path.dirname(path)
            while parent not in self._holding and parent != os.path.dirname(parent):
                self._holding.add(parent)
                parent = os.path.dirname(parent)

    def _canonical(self, path: str) -> str:
        path = os.path.normpath(path)
        for spelling in (self._root, self._real):
            if path == spelling or path.startswith(spelling + os.sep):
                return self._real + path[len(spelling):]
        return os.path.realpath(path)

    def covers(self, path: str) -> bool:
        """Whether a row names ``path``, a directory inside it, or a directory holding it."""
        canonical = self._canonical(path)
        if canonical in self._named or canonical in self._holding:
            return True
        parent = os.path.dirname(canonical)
        while parent != os.path.dirname(parent):
            if parent in self._named:
                return True
            parent = os.path.dirname(parent)
        return False


def _subdirs(path: str | Path) -> list[os.DirEntry[str]]:
    """The real directories in ``path`` (symlinks are not followed, nor listed)."""
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _measure(path: str) -> tuple[int, float]:
    """Bytes of the files below ``path`` and the newest change of anything in it (symlinks not followed)."""
    size = 0
    st = os.lstat(path)
    newest = max(st.st_mtime, st.st_ctime)
    pending = [path]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    st = entry.stat(follow_symlinks=False)
                    newest = max(newest, st.st_mtime, st.st_ctime)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif stat.S_ISREG(st.st_mode):
                        size += st.st_size
        except OSError:
            continue
    return size, newest


def _orphan(kind: str, path: str, reason: str) -> Orphan:
    try:
        size, _ = _measure(path)
    except OSError:
        size = 0
    return Orphan(kind, path, size, reason)


def _unowned(kind: str, path: str, reason: str, now: float) -> list[Orphan]:
    """``path`` as an orphan if nothing in it changed for :data:`UNOWNED_GRACE_S`."""
    try:
        size, newest = _measure(path)
    except OSError:
        return []
    idle = now - newest
    if idle < UNOWNED_GRACE_S:
        return []
    return [Orphan(kind, path, size, f"{reason}; unchanged for {idle / 3600:.1f} h")]


# --------------------------------------------------------------------------------- removing
def _inside(path: str, real_roots: Collection[str]) -> bool:
    """Whether ``path`` is a real directory (not a symlink) whose real parent lies in one of the roots."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    parent = os.path.realpath(os.path.dirname(path))
    return any(parent == r or parent.startswith(r + os.sep) for r in real_roots)


def _remove_all(orphans: Iterable[Orphan], real_roots: Collection[str]) -> list[str]:
    errors: list[str] = []
    for orphan in orphans:
        if not os.path.lexists(orphan.path):
            continue
        if not _inside(orphan.path, real_roots):
            errors.append(f"{orphan.path}: not a directory inside the dosirak home any more; left alone")
            continue
        try:
            shutil.rmtree(orphan.path)
        except OSError as exc:
            errors.append(f"{orphan.path}: {exc}")
            continue
        if orphan.kind in ("staging", "artifact"):
            _prune_empty(os.path.dirname(orphan.path), real_roots)
    return errors


def _prune_empty(directory: str, real_roots: Collection[str]) -> None:
    """Remove ``directory`` and its parents while they are empty, stopping below the roots."""
    while os.path.realpath(directory) not in real_roots and _inside(directory, real_roots):
        if os.path.basename(directory) == STAGING_DIR:
            return
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)


def _set_aside(orphan: Orphan, temp_dir: Path, real_roots: Collection[str]) -> tuple[str | None, str]:
    """Rename ``orphan`` into ``temp_dir`` (as this process's), to be removed outside the store's lock."""
    if not _inside(orphan.path, real_roots):
        return None, f"{orphan.path}: not a directory inside the dosirak home any more; left alone"
    target = temp_dir / f"{process.owner_tag()}-gc-{uuid.uuid4().hex}"
    try:
        temp_dir.mkdir(parents=True, exist_ok=True)
        os.rename(orphan.path, target)
    except OSError as exc:
        return None, f"{orphan.path}: {exc}"
    return str(target), ""


__all__ = ["KINDS", "UNOWNED_GRACE_S", "GcReport", "Orphan", "Roots", "collect", "sweep_abandoned"]
