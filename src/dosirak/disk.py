"""A full disk, recognised whatever it looks like, and told to the user as "disk full";
and a directory that cannot be written at all (:func:`unwritable`), told before anything is written.

A write that runs out of space fails in several disguises:

* ``OSError`` with errno ``ENOSPC`` (or ``EDQUOT``: over quota) from a plain write;
* numpy's ``OSError("N requested and M written")``, a short write without an errno;
* SQLite's ``SQLITE_FULL`` ("database or disk is full");
* SQLite's ``SQLITE_IOERR`` ("disk I/O error"), e.g. when it cannot grow the shared-memory
  file of a WAL database on a full disk.

The first and the third always mean out of space. The other two are called "disk full"
only when the filesystem really has less than :data:`FULL_BELOW` left, so an unrelated
I/O error is still reported as itself.

Example::

    try:
        write(path)
    except OSError as exc:
        if disk.out_of_space(exc, path):
            raise ArtifactError(disk.full_message(path, "writing artifact", exc)) from exc
        raise
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path

from dosirak.units import human_size

#: A filesystem with less than this left is full (a failed write of a page or a block).
FULL_BELOW = 1 << 20
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_SHORT_WRITE = re.compile(r"\b\d+ requested and \d+ written\b")
_SQLITE_FULL = 13
_SQLITE_IOERR = 10


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes still free for writing on the filesystem holding ``path`` (or its nearest existing parent).

    None when no part of the path exists or the filesystem cannot say.
    """
    here = Path(path)
    for candidate in (here, *here.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        if st.f_blocks == 0:
            return None  # a pseudo-filesystem (/proc, /sys): no blocks to run out of
        return st.f_bavail * st.f_frsize
    return None


def unwritable(directory: str | os.PathLike[str], *, keep: bool) -> str | None:
    """Why ``directory`` cannot hold dosirak's files, or None when it can.

    Creates the directory (and missing parents) and writes and removes a probe file in it:
    the only answer that holds for root, read-only mounts, quotas and pseudo-filesystems
    alike. With ``keep=False`` the directories this made are removed again, so that a check
    leaves no trace.
    """
    path = Path(directory)
    missing: list[Path] = []
    here = path
    while not os.path.lexists(here) and here != here.parent:
        missing.append(here)
        here = here.parent
    if not here.is_dir():
        return f"{here} is not a directory"
    made: list[Path] = []
    try:
        for parent in reversed(missing):
            parent.mkdir()
            made.append(parent)
        fd, probe = tempfile.mkstemp(prefix=".dosirak-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot {'create' if len(made) < len(missing) else 'write in'} it ({exc.strerror or exc})"
    finally:
        if not keep:
            for parent in reversed(made):
                with contextlib.suppress(OSError):
                    parent.rmdir()
    return None


def is_full(path: str | os.PathLike[str]) -> bool:
    """Whether the filesystem holding ``path`` has less than :data:`FULL_BELOW` left."""
    free = free_bytes(path)
    return free is not None and free < FULL_BELOW


def out_of_space(exc: BaseException, path: str | os.PathLike[str]) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk holding ``path`` is full."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        verdict = _verdict(current)
        if verdict == "full" or (verdict == "maybe" and is_full(path)):
            return True
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper keeps the driver's error here
        pending += [current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None]
    return False


def _verdict(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        if exc.errno in _NO_SPACE:
            return "full"
        if exc.errno is None and _SHORT_WRITE.search(str(exc)):
            return "maybe"
        return "no"
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        return "full" if primary == _SQLITE_FULL else "maybe" if primary == _SQLITE_IOERR else "no"
    return "no"


def full_message(path: str | os.PathLike[str], doing: str, cause: BaseException | None = None) -> str:
    """What to tell the user when ``doing`` (e.g. "writing artifact") at ``path`` ran out of space."""
    free = free_bytes(path)
    left = "an unknown amount" if free is None else human_size(free)
    because = f": {type(cause).__name__}: {cause}" if cause is not None else ""
    return (f"disk full: {doing} {path} failed ({left} left on its filesystem){because}; free some space "
            "there (`dosirak gc` removes the files no run, model or bundle refers to) and try again")


__all__ = ["FULL_BELOW", "free_bytes", "full_message", "is_full", "out_of_space", "unwritable"]
