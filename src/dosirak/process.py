"""Process identity: is a recorded PID still the process we started?

A PID alone is not enough (the kernel reuses them), so dosirak records a PID together
with the process's start time (``/proc/<pid>/stat`` field 22 on Linux) and compares both.
A temporary file or directory can carry the same identity in its name
(:func:`owner_tag`), so whoever finds it later can tell whether its writer still runs
(:func:`owner_alive`).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` in clock ticks since boot, or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int | None, recorded_start: int | None = None) -> bool:
    """Whether ``pid`` runs and, when ``recorded_start`` is given, is the same process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False
    if recorded_start is not None:
        current = start_time(pid)
        if current is not None and current != recorded_start:
            return False
    return True


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    state = data[data.rfind(b")") + 2 : data.rfind(b")") + 3]
    return state == b"Z"


def hostname() -> str:
    return socket.gethostname()


_OWNER = re.compile(r"([0-9a-f]{8})-([0-9]+)-([0-9]+)-")


def _host_key() -> str:
    return hashlib.sha256(hostname().encode()).hexdigest()[:8]


def owner_tag() -> str:
    """``HOST-PID-START``: a prefix for the name of a temporary file this process writes.

    ``HOST`` is a short hash of the hostname (any hostname fits in a file name this way),
    ``START`` the kernel start time of this process (0 if unknown).
    """
    pid = os.getpid()
    return f"{_host_key()}-{pid}-{start_time(pid) or 0}"


def owner_alive(name: str) -> bool | None:
    """Whether the process named by a name starting with :func:`owner_tag` still runs.

    None when that cannot be told here: the name carries no tag, or a process on another host wrote it.
    """
    found = _OWNER.match(name)
    if found is None or found.group(1) != _host_key():
        return None
    return is_alive(int(found.group(2)), int(found.group(3)) or None)


__all__ = ["hostname", "is_alive", "owner_alive", "owner_tag", "start_time"]
