"""Artifact stores: where artifacts' bytes live.

Materializers always write into and read from a local directory. The local store hands
them a temporary directory inside its root, ``ROOT/.staging/RUN_ID/``, and renames it into
place (``ROOT/RUN_ID/STEP/OUTPUT``) when complete, so a half-written artifact is never
visible. A run's staging area lives until the run is closed (:meth:`release_run`): one left
behind names a run that was killed, and whatever it holds, and whatever that run
published without recording, is removed by the next run or ``dosirak gc``
(:mod:`dosirak.artifacts.gc`). The fsspec store (``s3://``, ``gs://``, any fsspec URL)
stages locally and uploads the finished directory before the artifact is published in
the metadata store; an upload that fails part-way removes what it uploaded.

A write that fails because the disk is full is an :class:`ArtifactError` saying "disk
full", with the path and what to do (:mod:`dosirak.disk`).

The store is the only code that knows what a URI is: everything else (the step runner,
``Client``'s views, the dashboard) hands it URIs and calls its operations, which every
backend implements:

=================  ===============================================================
write atomically   ``staging`` + ``publish`` (a directory), ``write_log`` (a text)
read               ``local_copy`` (a directory), ``read_text``
read a range       ``read_bytes(uri, offset, limit)``
size, list         ``size`` (a file), ``list_files`` (a directory, recursively)
delete             ``delete`` (a file or a directory, whatever is there)
=================  ===============================================================

A URI written by any store is read back with :func:`store_for_uri`; a stack's store is
built from its component record through its flavor, like every component
(:meth:`BaseArtifactStore.from_config`).

How to implement a store: subclass :class:`BaseArtifactStore`, implement its abstract
methods (a publish that fails must leave nothing at the URI), and register the class in
the ``dosirak.artifact_stores`` entry-point group under its flavor name. ``open_log``,
``local_path``, ``release_run`` and ``ensure_usable`` (checked when a stack is loaded, before a
run) are optional.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from dosirak import disk
from dosirak.errors import (
    ArtifactCorruptError,
    ArtifactError,
    ArtifactStoreAccessError,
    DosirakError,
    StackError,
)
from dosirak.settings import get_settings
from dosirak.stack.component import StackComponent
from dosirak.stack.flavors import flavor_class

log = logging.getLogger(__name__)

#: The directory below a local store's root holding each running run's staging area.
STAGING_DIR = ".staging"


@dataclass(frozen=True)
class FileEntry:
    """A file below an artifact directory: its name relative to it (``/`` separators) and size."""

    name: str
    size: int


class BaseArtifactStore(StackComponent, ABC):
    """An artifact store. ``uri`` of an artifact is a directory path or URL under ``root``."""

    component_type: ClassVar[str] = "artifact-store"
    config_model: ClassVar[str | None] = "dosirak.stack.configs:ArtifactStoreConfig"

    def __init__(self, root: str, name: str = "default", config: dict[str, Any] | None = None) -> None:
        super().__init__(name, config)
        self.root = root

    @classmethod
    def check_usable(cls, name: str, config: dict[str, Any]) -> None:
        """A local ``path`` must be a directory dosirak can create and write in (tried, then undone).

        A URL's form was checked with the options; its bucket is not contacted here.
        """
        path = config.get("path")
        if not path or is_url(path):
            return
        directory = Path(str(path).removeprefix("file://")).expanduser().absolute()
        problem = disk.unwritable(directory, keep=False)
        if problem is not None:
            raise StackError(f"artifact-store '{name}': --path {directory}: {problem}; "
                             "give a directory dosirak can create and write in")

    def ensure_usable(self) -> None:
        """Raise StackError, naming this component and its root, when the store cannot be written.

        Called when a stack is loaded, before a run records anything. Default (remote
        stores): nothing is contacted, so nothing is checked.
        """

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> BaseArtifactStore:
        """The store ``name`` of a stack, from its config: ``path`` (default: the home's
        ``artifacts`` directory, :attr:`dosirak.settings.Settings.artifact_root`)."""
        return cls(_configured_path(config), name, config=config)

    def location(self, run_id: str, step_name: str, output: str) -> str:
        """Where an output of a step in a run is kept."""
        return f"{self.root.rstrip('/')}/{run_id}/{step_name}/{output}"

    @abstractmethod
    def staging(self, uri: str) -> Any:
        """Context manager yielding a fresh local directory to fill, later published at ``uri``."""

    @abstractmethod
    def publish(self, staged: Path, uri: str) -> None:
        """Move a filled staging directory to ``uri`` atomically, replacing what was there;
        one that fails leaves nothing at ``uri``."""

    @abstractmethod
    def exists(self, uri: str) -> bool:
        """Whether an artifact is stored at ``uri``."""

    @abstractmethod
    def local_copy(self, uri: str) -> Any:
        """Context manager yielding a local directory with the artifact's files."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Remove whatever is stored at ``uri``, a file or a directory (nothing if there is none)."""

    def release_run(self, run_id: str) -> None:
        """Forget the run's staging area once the run is closed (default: nothing to forget)."""

    def log_path(self, run_id: str, step_name: str) -> str:
        """Where a step's log is kept."""
        return f"{self.root.rstrip('/')}/{run_id}/{step_name}/.logs/step.log"

    @abstractmethod
    def write_log(self, uri: str, text: str) -> None:
        """Store a step's whole log text at ``uri``."""

    def open_log(self, uri: str) -> IO[str] | None:
        """A line-buffered file to stream a step's log into as it runs; None (the default)
        when the store takes the whole text at the end, with :meth:`write_log`."""
        return None

    @abstractmethod
    def read_text(self, uri: str, limit: int | None = None) -> str:
        """Up to ``limit`` characters of the text at ``uri`` ('' if it does not exist)."""

    @abstractmethod
    def read_bytes(self, uri: str, offset: int = 0, limit: int | None = None) -> bytes:
        """At most ``limit`` bytes (all, if None) of the file ``uri`` from ``offset``;
        ``b""`` if there is no such file."""

    @abstractmethod
    def size(self, uri: str) -> int | None:
        """The size in bytes of the file ``uri``, None if there is no such file."""

    @abstractmethod
    def list_files(self, uri: str, limit: int | None = None) -> list[FileEntry]:
        """The files below the directory ``uri`` (recursively), sorted by name, at most ``limit``."""

    def local_path(self, uri: str) -> str | None:
        """A path on this machine's filesystem to read ``uri`` in place (memory-mapped, say),
        or None (the default) when its bytes are elsewhere."""
        return None


class LocalArtifactStore(BaseArtifactStore):
    """Artifacts as directories on the local filesystem, published by atomic rename."""

    flavor = "local"

    def __init__(self, root: str, name: str = "default", config: dict[str, Any] | None = None) -> None:
        super().__init__(str(Path(root).expanduser().absolute()), name, config)
        self._made: set[str] = set()

    def ensure_usable(self) -> None:
        """Create the root if needed and write a probe file in it; StackError saying why not.

        An existing directory this process may write in (one stat, one ``access(2)``: every
        run pays it) skips the probe; a write that fails later still says why (disk full, ...).
        """
        if os.path.isdir(self.root) and os.access(self.root, os.W_OK | os.X_OK):
            return
        problem = disk.unwritable(self.root, keep=True)
        if problem is not None:
            raise StackError(
                f"artifact-store '{self.name}' cannot be used: {self.root}: {problem}; register a directory "
                f"dosirak can write (`dosirak artifact-store register NAME --flavor={self.flavor} --path=DIR`) "
                "and put it in the stack")

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> BaseArtifactStore:
        """A local store at ``path``; a URL given as ``path`` (``s3://...``) is opened through
        fsspec, as it always has been, and ``file://`` is dropped."""
        path = _configured_path(config)
        if is_url(path):
            return FsspecArtifactStore.from_config(name, config)
        return cls(path.removeprefix("file://"), name, config=config)

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._made:
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)

    def staging_area(self, uri: str) -> str:
        """Where outputs bound for ``uri`` are staged: ``ROOT/.staging/RUN_ID`` for ``ROOT/RUN_ID/...``.

        The same filesystem as ``uri``, so publishing is one rename; a ``uri`` outside the
        root is staged beside itself.
        """
        rel = os.path.relpath(uri, self.root).split(os.sep)
        if len(rel) < 2 or rel[0] in ("", ".", "..") or rel[0].startswith("."):
            return os.path.dirname(uri)
        return os.path.join(self.root, STAGING_DIR, rel[0])

    @contextmanager
    def staging(self, uri: str) -> Iterator[Path]:
        """A fresh directory in the run's staging area, removed again unless it was published."""
        path = Path(self.staging_area(uri)) / uuid.uuid4().hex
        try:
            self._ensure_dir(os.path.dirname(uri))
            self._ensure_dir(str(path.parent))
            path.mkdir()
        except OSError as exc:
            _raise_disk_full(exc, path, uri)
            raise
        try:
            yield path
        except Exception as exc:
            _raise_disk_full(exc, path, uri)
            raise
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, staged: Path, uri: str) -> None:
        if os.path.lexists(uri):
            # a retry of the same step run: the earlier attempt is replaced whole
            old = os.path.join(os.path.dirname(staged), f"replaced-{uuid.uuid4().hex}")
            os.rename(uri, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(staged, uri)

    def delete(self, uri: str) -> None:
        """Remove the directory or file ``uri``; a symlink is removed, never followed."""
        path = _local(uri)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)

    def release_run(self, run_id: str) -> None:
        if not run_id or run_id.startswith(".") or os.sep in run_id:
            return
        area = os.path.join(self.root, STAGING_DIR, run_id)
        self._made.discard(area)
        if os.path.isdir(area) and not os.path.islink(area):
            shutil.rmtree(area, ignore_errors=True)

    def exists(self, uri: str) -> bool:
        return os.path.isdir(uri)

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[Path]:
        if not os.path.isdir(uri):
            raise ArtifactCorruptError(
                f"artifact directory {uri} is missing; it was deleted or the artifact store moved. "
                "Rerun the step that produced it (`dosirak runs show RUN_ID`)"
            )
        yield Path(uri)

    def write_log(self, uri: str, text: str) -> None:
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def open_log(self, uri: str) -> IO[str]:
        """A line-buffered file to stream a step's log into as it runs (the dashboard tails it)."""
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def read_text(self, uri: str, limit: int | None = None) -> str:
        try:
            with open(_local(uri), encoding="utf-8", errors="replace") as fh:
                return fh.read() if limit is None else fh.read(limit)
        except FileNotFoundError:
            return ""

    def read_bytes(self, uri: str, offset: int = 0, limit: int | None = None) -> bytes:
        _check_range(offset, limit)
        try:
            with open(_local(uri), "rb") as fh:
                fh.seek(offset)
                return fh.read(-1 if limit is None else limit)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return b""

    def size(self, uri: str) -> int | None:
        try:
            st = os.stat(_local(uri))
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def list_files(self, uri: str, limit: int | None = None) -> list[FileEntry]:
        root = _local(uri)
        out: list[FileEntry] = []
        if not os.path.isdir(root):
            return out
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                try:
                    size = os.path.getsize(full)
                except OSError:
                    continue
                out.append(FileEntry(os.path.relpath(full, root).replace(os.sep, "/"), size))
                if limit is not None and len(out) >= limit:
                    return out
        return out

    def local_path(self, uri: str) -> str:
        return _local(uri)


class FsspecArtifactStore(BaseArtifactStore):
    """Artifacts on any fsspec filesystem (``s3://bucket/prefix``, ``gs://...``, ``memory://``)."""

    flavor = "fsspec"

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> BaseArtifactStore:
        """The store at the URL ``path`` with ``storage_options`` (credentials as ``{env:NAME}`` or
        ``{secret:NAME}`` references, resolved when the store is first used, not here)."""
        options = dict(config.get("storage_options") or {})
        store = cls(_configured_path(config), name, config=config, **options)
        _OPENED[store.root] = store  # its URIs are read back with its options (store_for_uri)
        return store

    def __init__(self, root: str, name: str = "default", config: dict[str, Any] | None = None,
                 **storage_options: Any) -> None:
        super().__init__(root.rstrip("/"), name, config)
        self._options = storage_options
        self._fs: Any = None
        self._lock = threading.Lock()
        self._protocols = _protocols(root)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem, opened on first use with the credentials resolved then.

        References (``{env:NAME}``, ``{secret:NAME}``) become values only here, for the
        filesystem; ``self.config`` keeps the references. A missing variable or secret is a
        :class:`~dosirak.errors.CredentialError` raised by the first operation (in a run: by
        the step that writes, so the run is recorded failed with that cause).
        """
        with self._lock:
            if self._fs is None:
                self._fs = self._open()
            return self._fs

    @fs.setter
    def fs(self, value: Any) -> None:
        self._fs = value

    def _open(self) -> Any:
        import fsspec

        from dosirak.stack.credentials import resolve  # lazy: startup: a local store loads no credentials

        options = resolve(self._options, f"{self.component_type} '{self.name}'", at="storage_options")
        fs, _ = fsspec.core.url_to_fs(self.root, **options)
        return fs

    def ensure_usable(self) -> None:
        """On the local filesystem (``file://``), the root must be writable; remote roots are not contacted."""
        if not {"file", "local"} & set(self._protocols):
            return
        root = self.root.removeprefix("file://")
        problem = disk.unwritable(root, keep=True)
        if problem is not None:
            raise StackError(f"artifact-store '{self.name}' cannot be used: {root}: {problem}; register a "
                             "directory dosirak can write and put it in the stack")

    @contextmanager
    def staging(self, uri: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="dosirak-stage-") as tmp:
            try:
                yield Path(tmp)
            except Exception as exc:
                _raise_disk_full(exc, Path(tmp), uri)
                raise

    def delete(self, uri: str) -> None:
        """Remove what is at ``uri``; nothing to remove when the store cannot even be opened (its
        credentials are missing), or when its bucket is missing or denies access altogether:
        nothing can have been put there."""
        try:
            fs = self.fs
        except DosirakError:
            return
        try:
            if fs.exists(uri):
                fs.rm(uri, recursive=True)
        except OSError as exc:
            explained = self._explained(exc)
            if explained is exc:
                raise
            # the bucket cannot be used at all, so nothing was put there; the step's error says why
            log.debug("nothing to remove at %s: %s (%s)", uri, explained, exc)

    def publish(self, staged: Path, uri: str) -> None:
        """Upload the staged files to ``uri``, replacing what was there; an upload that fails
        part-way removes what it had uploaded before the error is raised. A failure caused by
        an ``s3://`` bucket (missing, denying access, unreachable) says so in one line."""
        try:
            self._upload(staged, uri)
        except Exception as exc:
            explained = self._explained(exc)
            if explained is exc:
                raise
            raise explained from None

    def _upload(self, staged: Path, uri: str) -> None:
        self.delete(uri)
        try:
            for path in sorted(staged.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(staged).as_posix()
                    self.fs.put_file(str(path), f"{uri}/{rel}")
        except BaseException:
            try:
                self.delete(uri)
            except Exception:  # noqa: BLE001 - the upload's error is the one to raise
                log.warning("could not remove the partial upload at %s", uri, exc_info=True)
            raise

    def _explained(self, exc: BaseException) -> BaseException:
        """``exc``, or an ArtifactStoreAccessError naming the bucket when an ``s3://`` bucket is what is wrong."""
        if isinstance(exc, DosirakError) or not isinstance(exc, Exception) or "s3" not in self._protocols:
            return exc
        from dosirak.artifacts.s3 import bucket_problem  # lazy: cycle

        problem = bucket_problem(self)
        return exc if problem is None else ArtifactStoreAccessError(problem)

    def exists(self, uri: str) -> bool:
        return bool(self.fs.exists(uri))

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[Path]:
        if not self.fs.exists(uri):
            raise ArtifactCorruptError(f"artifact {uri} is missing from the artifact store")
        with tempfile.TemporaryDirectory(prefix="dosirak-load-") as tmp:
            for remote in self.fs.find(uri):
                rel = remote[len(self.fs._strip_protocol(uri)) :].lstrip("/")
                if not rel or any(part in ("", ".", "..") for part in rel.split("/")):  # keys may say "../"
                    raise ArtifactCorruptError(
                        f"artifact {uri} holds an object named {rel[:200]!r} that would land outside its "
                        "directory; refused (someone wrote it into the store by hand)")
                dest = Path(tmp) / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(dest))
            yield Path(tmp)

    def write_log(self, uri: str, text: str) -> None:
        """Store a step's log; when the bucket or the credentials are what is wrong, the log is not
        stored (the step that wrote failed saying why, in one line) and this says so at DEBUG level."""
        try:
            with self.fs.open(uri, "w") as fh:
                fh.write(text)
        except Exception as exc:
            explained = self._explained(exc)
            if explained is exc and not isinstance(exc, DosirakError):
                raise
            log.debug("step log %s not stored: %s", uri, explained)

    def read_text(self, uri: str, limit: int | None = None) -> str:
        if not self.fs.exists(uri):
            return ""
        with self.fs.open(uri, "r") as fh:
            return str(fh.read() if limit is None else fh.read(limit))

    def read_bytes(self, uri: str, offset: int = 0, limit: int | None = None) -> bytes:
        _check_range(offset, limit)
        if limit == 0:
            return b""
        end = None if limit is None else offset + limit
        try:
            return bytes(self.fs.cat_file(uri, start=offset, end=end))  # one ranged GET
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return b""
        except OSError:
            if (self.size(uri) or 0) <= offset:
                return b""  # past the end, or not a file: S3 answers 416 for such a range
            raise

    def size(self, uri: str) -> int | None:
        try:
            info = self.fs.info(uri)
        except OSError:
            return None
        return int(info.get("size") or 0) if info.get("type") == "file" else None

    def list_files(self, uri: str, limit: int | None = None) -> list[FileEntry]:
        try:
            if self.fs.info(uri).get("type") != "directory":
                return []  # a file is not a directory, as on a local disk
        except OSError:
            return []
        prefix = self.fs._strip_protocol(uri).rstrip("/")
        found = sorted(self.fs.find(uri, detail=True).items())
        entries = [FileEntry(full[len(prefix):].lstrip("/"), int(info.get("size") or 0)) for full, info in found]
        return entries if limit is None else entries[:limit]


def _raise_disk_full(exc: Exception, path: Path, uri: str) -> None:
    """Raise an ArtifactError saying "disk full" if ``exc``, raised while staging ``uri`` in
    ``path``, came from a full disk (numpy, torch and others each word that their own way:
    any error but dosirak's own counts while the disk really is full)."""
    if disk.out_of_space(exc, path) or (not isinstance(exc, DosirakError) and disk.is_full(path)):
        raise ArtifactError(disk.full_message(uri, "writing artifact", exc)) from exc


def _protocols(root: str) -> tuple[str, ...]:
    """The protocols of the fsspec filesystem class for ``root``; ArtifactError naming the package
    to install when no installed package serves its scheme (nothing is opened, no credential read)."""
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
        raise ArtifactError("fsspec is not installed") from exc
    scheme = fsspec.core.split_protocol(root)[0] or "file"
    try:
        kind = fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError) as exc:
        raise ArtifactError(
            f"cannot open artifact store '{root}': {exc}; for {scheme}:// install its fsspec "
            f"package (e.g. `pip install 'dosirak[s3]'` for s3://)"
        ) from exc
    protocol = kind.protocol
    return tuple(protocol) if isinstance(protocol, (tuple, list)) else (str(protocol),)


def is_url(path: str) -> bool:
    """Whether an artifact store path is an fsspec URL (``s3://...``) rather than a local directory (or ``file://``)."""
    return "://" in path and not path.startswith("file://")


def _local(uri: str) -> str:
    """The filesystem path of a local ``uri`` (a path, or a ``file://`` URL)."""
    return uri.removeprefix("file://")


def _configured_path(config: dict[str, Any]) -> str:
    """A store config's ``path``, or the home's artifacts directory."""
    if config.get("path"):
        return str(config["path"])

    return str(get_settings().artifact_root)


def _check_range(offset: int, limit: int | None) -> None:
    if offset < 0 or (limit is not None and limit < 0):
        raise ArtifactError(f"cannot read {limit} bytes from offset {offset}: both must be 0 or more")


_ROOT = LocalArtifactStore("/")
#: fsspec stores built from a component's config in this process, by root: their options
#: (endpoint, credentials) are what their URIs are read back with.
_OPENED: dict[str, FsspecArtifactStore] = {}


def store_for_uri(uri: str) -> BaseArtifactStore:
    """A store able to read ``uri`` wherever it was written (a local path or an fsspec URL).

    A local path never imports fsspec. A URL is read by the store this process built for
    the component whose root holds it (with that component's ``storage_options``), else
    by its filesystem opened with no options (fsspec keeps one instance per URL and
    options, so asking again is cheap).
    """
    if not is_url(uri):
        return _ROOT
    return opened_store_for(uri) or FsspecArtifactStore(uri)


def opened_store_for(uri: str) -> BaseArtifactStore | None:
    """The store this process built whose root holds the URL ``uri`` (the deepest), else None."""
    held = [root for root in list(_OPENED) if uri == root or uri.startswith(root.rstrip("/") + "/")]
    return _OPENED[max(held, key=len)] if held else None


def artifact_store_for(flavor: str, config: dict[str, Any], name: str = "default") -> BaseArtifactStore:
    """Build the artifact store component ``name`` through its flavor, from its config (``path`` or URL)."""
    store: BaseArtifactStore = flavor_class("artifact-store", flavor).from_config(name, config)
    return store


__all__ = ["STAGING_DIR", "BaseArtifactStore", "FileEntry", "FsspecArtifactStore", "LocalArtifactStore",
           "artifact_store_for", "is_url", "opened_store_for", "store_for_uri"]
