"""Process identity: is a recorded PID still the process we started?

A PID alone is not enough (the kernel reuses them), so dosirak records a PID together
with the process's start time (``/proc/<pid>/stat`` field 22 on Linux) and compares both.
"""

from __future__ import annotations

import os
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


__all__ = ["hostname", "is_alive", "start_time"]
