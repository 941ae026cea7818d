"""The dashboard process: bind a socket, write the state file, serve until stopped.

``python -m dosirak.dashboard.server --host 127.0.0.1 --port 8237`` is what ``dosirak up``
starts in the background (``--foreground`` runs the same in the terminal). The socket is
bound before anything else, so a busy port fails at once and ``--port 0`` picks a free
one; the state file (PID, its start time, host, port, URL) is written only once the
socket listens, and removed on exit. The store opens and the templates load in a thread
beside the server, so it answers about half a second sooner. The token comes from the settings
(``DOSIRAK_DASHBOARD_TOKEN``), never from the command line, so ``ps`` does not show it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dosirak import process
from dosirak.dashboard.auth import is_loopback
from dosirak.errors import DashboardError
from dosirak.settings import get_settings

log = logging.getLogger(__name__)

STATE_FILE = "dashboard.json"
LOG_FILE = "dashboard.log"


@dataclass(frozen=True)
class DashboardState:
    """What ``dosirak up`` wrote about a running dashboard."""

    pid: int
    pid_start: int | None
    host: str
    port: int
    url: str
    token_required: bool


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def read_state(run_dir: Path) -> DashboardState | None:
    try:
        data = json.loads(state_path(run_dir).read_text())
        return DashboardState(**data)
    except (OSError, ValueError, TypeError):
        return None


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - displaying, not binding
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise DashboardError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another port with `dosirak up --port N`"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, *, token: str | None, run_dir: Path | None, store_url: str | None = None) -> None:
    """Serve the dashboard on ``host:port`` until SIGTERM/SIGINT."""
    import uvicorn

    from dosirak.dashboard.app import create_app

    if token is None and not is_loopback(host):
        raise DashboardError(f"binding to {host} needs a token; set DOSIRAK_DASHBOARD_TOKEN or use `dosirak up`")
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    app = create_app(store_url=store_url, token=token, loopback_only=is_loopback(host))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    # the socket answers at once; the store and the templates load beside it
    warmer = threading.Thread(target=warm_up, args=(app, run_dir / "template-cache" if run_dir else None, server),
                              name="dashboard-warm-up", daemon=True)
    state = DashboardState(pid=os.getpid(), pid_start=process.start_time(os.getpid()), host=host, port=actual_port,
                           url=url_for(host, actual_port), token_required=token is not None)
    path = state_path(run_dir) if run_dir else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, path)
    log.info("dashboard listening on %s", state.url)
    warmer.start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn drains on SIGTERM, then re-raises it to the handler found before it: make that a clean exit
        signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if path is not None:
            current = read_state(path.parent)
            if current is not None and current.pid == os.getpid():
                path.unlink(missing_ok=True)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def warm_up(app: object, cache_dir: Path | None, server: object = None) -> None:
    """Open the store and load every template now, so the first page is as fast as the rest.

    With ``server``, wait until it listens first: answering comes before warming up.
    """
    from dosirak.dashboard import pages

    deadline = time.monotonic() + 10
    while server is not None and not getattr(server, "started", True) and time.monotonic() < deadline:
        time.sleep(0.005)

    _ = app.state.dashboard.store  # type: ignore[attr-defined]
    env = pages.environment(cache_dir)
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dosirak.dashboard.server", description="Serve the dashboard.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8237)
    parser.add_argument("--no-state", action="store_true", help="do not write the state file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = get_settings()
    try:
        serve(args.host, args.port, token=settings.dashboard_token,
              run_dir=None if args.no_state else settings.run_dir)
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()


__all__ = ["DashboardState", "bind", "main", "read_state", "serve", "state_path", "url_for"]
