"""One serving worker process: load the service, serve the shared socket with uvicorn.

Started by :mod:`dosirak.serving.server` as ``python -m dosirak.serving.worker ...``; not
meant to be run by hand. It tells the supervisor through a pipe when the service class is
imported (``loaded workers=N``) and when ``__init__`` has run (``ready``). It exits 0 after
a graceful shutdown (SIGTERM), 3 when the service cannot be loaded.

It also holds the read end of a "lifeline" pipe whose write end only the supervisor has.
A thread blocks reading it; EOF means the supervisor is gone (even after SIGKILL), and the
worker stops as on SIGTERM: it closes the listening socket at once, lets in-flight
requests finish, and is forced out after the graceful timeout.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from dosirak.errors import DosirakError
from dosirak.serving.protocol import HeadLimits, protocol_class
from dosirak.serving.service import load_service

logger = logging.getLogger(__name__)

EXIT_LOAD_FAILED = 3


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dosirak-serving-worker")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--base-dir", default=None)
    parser.add_argument("--fd", type=int, required=True, help="listening socket inherited from the supervisor")
    parser.add_argument("--pipe", type=int, required=True, help="write end of the status pipe")
    parser.add_argument("--lifeline", type=int, default=None, help="read end of a pipe at EOF once the supervisor dies")
    parser.add_argument("--ready-file", required=True, help="exists while the server is ready (every worker at start; then at least one)")
    parser.add_argument("--graceful-timeout", type=float, default=30.0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--max-header-bytes", type=int, default=HeadLimits.max_bytes)
    parser.add_argument("--max-headers", type=int, default=HeadLimits.max_fields)
    parser.add_argument("--load-first", action="store_true",
                        help="construct the service before accepting connections (other workers serve meanwhile)")
    return parser.parse_args(argv)


def watch_lifeline(fd: int, on_orphaned: Callable[[], None], hard_exit_after_s: float) -> threading.Thread:
    """Call ``on_orphaned`` when ``fd`` reads EOF, then end the process ``hard_exit_after_s`` later."""

    def watch() -> None:
        with suppress(OSError):
            while os.read(fd, 64):  # the supervisor never writes: only EOF (its death) matters
                continue
        logger.warning("the supervisor is gone; stopping this worker")
        on_orphaned()
        threading.Event().wait(hard_exit_after_s)
        logger.error("still running %.0f s after the supervisor died; exiting now", hard_exit_after_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="dosirak-lifeline", daemon=True)
    thread.start()
    return thread


def raised_at(exc: BaseException) -> str:
    """`` (at service.py:7 in __init__)``: where the innermost frame raised ``exc``; '' if unknown."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"


def on_ready(tell: Callable[[str], None]) -> None:
    """The service is constructed: freeze what exists and tell the supervisor.

    ``gc.freeze`` moves the ~170k objects of torch, numpy and the model out of the
    collector's view, so a full collection, which the request path's garbage triggers now
    and then, no longer pauses the event loop for tens of milliseconds (a p99 spike).
    """
    gc.freeze()
    tell("ready")


def main(argv: list[str] | None = None) -> int:
    """Run one worker until SIGTERM; return its exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    level = args.log_level.upper()  # dosirak's own level; other libraries' debug output stays off
    logging.basicConfig(level="INFO" if level == "DEBUG" else level,
                        format=f"%(levelname)s [worker {os.getpid()}] %(name)s: %(message)s")
    logging.getLogger("dosirak").setLevel(level)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    status = os.fdopen(args.pipe, "w", buffering=1)

    def tell(message: str) -> None:
        with suppress(OSError):  # the supervisor is gone; keep serving until told to stop
            status.write(message + "\n")

    stoppers: list[Callable[[], None]] = []  # set once uvicorn runs

    def on_orphaned() -> None:
        if not stoppers:  # still importing the service: nothing to drain
            os._exit(1)
        stoppers[0]()

    if args.lifeline is not None:
        watch_lifeline(args.lifeline, on_orphaned, args.graceful_timeout + 5)

    try:
        definition = load_service(args.spec, base_dir=Path(args.base_dir) if args.base_dir else None)
    except DosirakError as exc:
        logger.debug("the service could not be loaded", exc_info=True)  # the supervisor reports it, in one line
        tell(f"failed {' '.join(str(exc).split())}")
        return EXIT_LOAD_FAILED
    tell(f"loaded workers={definition.workers} name={definition.name}")

    import uvicorn

    from dosirak.serving import auth
    from dosirak.serving.app import ServingApp

    failed: list[BaseException] = []
    ready_file = args.ready_file
    server: uvicorn.Server | None = None

    def on_fatal(exc: BaseException) -> None:
        failed.append(exc)
        tell(f"failed {' '.join(f'{type(exc).__name__}: {exc}'.split())}{raised_at(exc)}")
        if server is not None:
            server.should_exit = True

    try:
        access = auth.policy_from_environment()
    except DosirakError as exc:
        logger.error("%s", exc)
        tell(f"failed {exc}")
        return EXIT_LOAD_FAILED
    if access is not None:
        auth.declare_in_openapi(definition, access)
    app = ServingApp(
        definition,
        all_workers_ready=lambda: os.path.exists(ready_file),
        load_in_background=not args.load_first,
        on_fatal=on_fatal,
        on_ready=lambda: on_ready(tell),
    )
    config = uvicorn.Config(
        auth.protect(app, access),
        loop="uvloop",
        # httptools, heads bounded; a connection accepted once the stop began is drained like the others
        http=protocol_class(HeadLimits(args.max_header_bytes, args.max_headers),
                            stopping=lambda: server is not None and server.should_exit),
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(args.graceful_timeout),
        timeout_keep_alive=5,
        backlog=2048,
        server_header=False,
        date_header=False,
        proxy_headers=False,  # nothing reads the client address; saves a middleware per request
    )
    server = uvicorn.Server(config)
    stoppers.append(lambda: setattr(server, "should_exit", True))
    sock = socket.socket(fileno=args.fd)
    server.run(sockets=[sock])
    return EXIT_LOAD_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
