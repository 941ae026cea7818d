"""Start the dashboard in the background, find it again, stop it: ``dosirak up`` / ``down``.

The dashboard runs as a detached ``python -m dosirak.dashboard.server`` in its own session
(closing the terminal does not stop it). Its state file in the settings' ``run_dir``
names its PID and that process's start time, so ``down`` stops that process and no other,
even after the PID was reused.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from dosirak import process
from dosirak.dashboard.auth import is_loopback
from dosirak.dashboard.server import LOG_FILE, DashboardState, read_state, state_path
from dosirak.errors import DashboardError

SERVER_MODULE = "dosirak.dashboard.server"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Started:
    state: DashboardState
    token: str | None  # the token to print (None when none is needed)
    generated: bool  # True when dosirak made the token up (print it once)
    already_running: bool


def choose_token(host: str, configured: str | None) -> tuple[str | None, bool]:
    """The token for a dashboard on ``host``: the configured one, or a new one beyond loopback."""
    if configured:
        return configured, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def is_ours(state: DashboardState) -> bool:
    """Whether the state file's process is alive and is a dosirak dashboard server."""
    if not process.is_alive(state.pid, state.pid_start):
        return False
    try:
        with open(f"/proc/{state.pid}/cmdline", "rb") as fh:
            return SERVER_MODULE.encode() in fh.read()
    except OSError:
        return True  # no /proc: PID and start time matched already


def running(run_dir: Path) -> DashboardState | None:
    """The dashboard started from this home, if it is still running (stale files are removed)."""
    state = read_state(run_dir)
    if state is None:
        return None
    if is_ours(state):
        return state
    state_path(run_dir).unlink(missing_ok=True)
    return None


def start(host: str, port: int, *, run_dir: Path, configured_token: str | None,
          timeout_s: float = START_TIMEOUT_S) -> Started:
    """Start the dashboard detached and wait until it answers; reuse one already running."""
    existing = running(run_dir)
    if existing is not None:
        return Started(existing, None, False, already_running=True)
    token, generated = choose_token(host, configured_token)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)  # the child reads its settings, and the token, from its environment
    if token is not None:
        env["DOSIRAK_DASHBOARD_TOKEN"] = token
    log_path = run_dir / LOG_FILE
    log_start = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", SERVER_MODULE, "--host", host, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + timeout_s
    state: DashboardState | None = None
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise DashboardError(f"the dashboard exited at start (status {code}): {_tail(log_path, log_start)}")
        state = read_state(run_dir)
        if state is not None and state.pid == child.pid and _answers(state, token):
            return Started(state, token, generated, already_running=False)
        time.sleep(0.02)
    _terminate(child.pid)
    raise DashboardError(f"the dashboard did not answer within {timeout_s:.0f} s; its log says: {_tail(log_path, log_start)}")


def _answers(state: DashboardState, token: str | None) -> bool:
    host = "127.0.0.1" if state.host in ("0.0.0.0", "") else ("::1" if state.host == "::" else state.host)  # noqa: S104
    shown = f"[{host}]" if ":" in host else host
    request = urllib.request.Request(f"http://{shown}:{state.port}/api/v1/health")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=1.0) as response:  # noqa: S310 - our own http URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(run_dir: Path, timeout_s: float = STOP_TIMEOUT_S) -> DashboardState | None:
    """Stop the dashboard of this home (SIGTERM, then SIGKILL); None if none was running."""
    state = running(run_dir)
    if state is None:
        return None
    _terminate(state.pid, timeout_s)
    state_path(run_dir).unlink(missing_ok=True)
    return state


def _terminate(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.is_alive(pid):
            _reap(pid)
            return
        _reap(pid)
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect a child we started ourselves, so it does not linger as a zombie."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, start: int = 0, limit: int = 2000) -> str:
    """The end of what this start wrote to the log (from byte ``start``)."""
    try:
        data = path.read_bytes()[start:][-limit:]
    except OSError:
        return "(no log)"
    return data.decode("utf-8", errors="replace").strip() or "(empty log)"


__all__ = ["Started", "choose_token", "is_ours", "running", "start", "stop"]
