"""``dosirak serve TARGET``: serve a service over HTTP with supervised workers."""

from __future__ import annotations

import ast
import importlib.machinery
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from dosirak.bundles.serving import open_for_serving
from dosirak.errors import ServiceError


@dataclass(frozen=True)
class ServeTarget:
    """What to serve: a service spec, the directory it is relative to, and worker env."""

    spec: str
    base_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def resolve_target(target: str) -> ServeTarget:
    """Turn the TARGET argument into a :class:`ServeTarget`.

    TARGET is ``FILE.py:Class``, ``module:Class``, or a bundle tag (``name:version``) or
    directory, which :func:`dosirak.bundles.serving.open_for_serving` turns into its service
    spec, its source directory as ``base_dir``, and the environment its workers need.
    """
    bundle = open_for_serving(target)
    if bundle is not None:
        return ServeTarget(spec=bundle.service, base_dir=bundle.source_dir, env=bundle.worker_env())
    check_target(target)
    return ServeTarget(spec=target)


def check_target(target: str) -> None:
    """Refuse a TARGET that names nothing servable, before any worker starts.

    Catches the typical slips without importing anything: no ``:Class``, a file that does
    not exist, a class name the file never defines, a module (or bundle) that is not there.
    A file that defines the name but fails to import is left to the workers (exit status 3).

    Raises:
        ServiceError: What is wrong with TARGET and what to give instead.
    """
    source, sep, attr = target.rpartition(":")
    if not sep or not source or not attr:
        raise ServiceError(f"give the service as FILE.py:Class (or a bundle tag), got '{target}'"
                           + _services_hint(Path(target)))
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ServiceError(f"service file {path} does not exist")
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            return  # the workers report it with the import error
        names = _bound_names(tree)
        if attr not in names and "*" not in names:
            raise ServiceError(f"{path} defines no '{attr}'" + _services_hint(path))
        return
    top = source.partition(".")[0]
    if importlib.machinery.PathFinder.find_spec(top, [os.getcwd(), *sys.path]) is None \
            and top not in sys.builtin_module_names:
        raise ServiceError(f"'{target}' is no bundle (`dosirak bundle list`) and no module '{top}' can be "
                           "imported; give a bundle tag, FILE.py:Class or module:Class")


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name a module binds anywhere (over-approximated); '*' when it cannot tell."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add("*" if alias.name == "*" else (alias.asname or alias.name.partition(".")[0]))
    return names | ({"*"} if "__getattr__" in names else set())


def _services_hint(path: Path) -> str:
    """``; services there: A, B`` for the @service classes of a readable Python file, else ''."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return ""
    found = [node.name for node in tree.body if isinstance(node, ast.ClassDef)
             and any("service" in ast.unparse(d) for d in node.decorator_list)]
    if not found:
        return "; it has no @dk.service class"
    return "; services there: " + ", ".join(f"{path}:{name}" for name in found)


@click.command("serve")
@click.argument("target")
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1; 0.0.0.0 with --sagemaker].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="TCP port [default: 3000; 8080 with --sagemaker].")
@click.option("--workers", type=click.IntRange(min=1, max=256), default=None,
              help="Worker processes [default: the service's workers option]. Each loads its own copy of "
                   "the model; with 2 workers a crashed worker's in-flight requests fail but the other keeps "
                   "answering while it restarts.")
@click.option("--reload", is_flag=True, help="Restart the workers when a .py file next to the service changes.")
@click.option("--sagemaker", is_flag=True, help="Follow the SageMaker container contract (port 8080, all interfaces).")
@click.option("--graceful-timeout", type=click.FloatRange(min=0, max=3600), default=30.0, show_default=True,
              help="Seconds in-flight requests may take to finish on SIGTERM.")
@click.option("--api-key-env", metavar="VAR", default=None,
              help="Require 'Authorization: Bearer KEY', KEY being one of the comma-separated keys (16+ "
                   "characters each) in the environment variable VAR; keys are never taken on the command line. "
                   "/livez, /readyz and /ping stay open. Without it, a --host beyond the loopback serves anyone "
                   "who can reach it.")
@click.option("--public-docs", is_flag=True, help="With --api-key-env: serve /docs and /openapi.json without a key.")
@click.option("--public-metrics", is_flag=True,
              help="With --api-key-env: serve /metrics without a key (for a scraper that cannot send one).")
@click.option("--max-header-bytes", type=click.IntRange(min=1024), default=65536, show_default=True,
              help="Largest request head (request line and header fields); larger ones get 431 and are not read further.")
@click.option("--max-headers", type=click.IntRange(min=8), default=100, show_default=True,
              help="Most header fields in a request; more get 431.")
@click.option("--fd", type=click.IntRange(min=3), default=None, metavar="N",
              help="Serve the inherited listening TCP socket N instead of binding --host/--port (the local "
                   "deployer passes the socket of the server a redeployment replaces); the workers load the "
                   "service before they accept.")
@click.option("--control-socket", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PATH",
              help="Listen on the Unix socket PATH (mode 0600) where a process of the same user can ask whether "
                   "this server is ready and take its listening socket, so a replacement keeps the port.")
def serve(target: str, host: str | None, port: int | None, workers: int | None, reload: bool, sagemaker: bool,
          graceful_timeout: float, api_key_env: str | None, public_docs: bool, public_metrics: bool,
          max_header_bytes: int, max_headers: int, fd: int | None, control_socket: Path | None) -> None:
    """Serve TARGET (FILE.py:Class, or a bundle tag) over HTTP until SIGTERM or Ctrl-C.

    \b
    Routes: POST /<api> per api, GET /docs, /openapi.json, /livez, /readyz, /metrics,
    and the SageMaker contract GET /ping, POST /invocations.

    \b
    Binding beyond the loopback (--host 0.0.0.0, --sagemaker) without --api-key-env
    serves anyone who can reach the address; a WARNING says so at start-up.
    \b
    What a crashed (kill -9) worker costs, measured at 50 connections on 2 cores
    (benchmarks/worker_crash.py): with --workers 1, an outage of 3-6 s (every request
    503 or reset until the restarted worker has loaded the model: 1,200-5,000 failures);
    with 2 workers, only the killed worker's in-flight requests (13-47), no gap over
    0.3 s, and /readyz stays 200: the other worker serves while the new one loads.

    Exits 0 after SIGTERM or Ctrl-C, and 3 when the service cannot be loaded (its import
    or __init__ fails before any worker was ready); one error line names the cause and
    where it was raised (`dosirak -vv serve ...` also prints the traceback).
    A TARGET that names nothing servable (no :Class, no such file, class or module) is
    refused before any worker starts, with status 2.
    """
    from dosirak.serving.auth import AccessPolicy
    from dosirak.serving.protocol import HeadLimits
    from dosirak.serving.server import SAGEMAKER_PORT
    from dosirak.serving.server import serve as run_server

    dosirak_logger = logging.getLogger("dosirak")
    debug = dosirak_logger.isEnabledFor(logging.DEBUG)  # `dosirak -vv serve`: tracebacks of load failures too
    dosirak_logger.setLevel(logging.DEBUG if debug else logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if fd is not None and (host is not None or port is not None or sagemaker):
        raise click.UsageError("--fd serves a socket that is already bound: leave out --host, --port and --sagemaker")
    access = None if api_key_env is None else AccessPolicy.from_env(
        api_key_env, public_docs=public_docs, public_metrics=public_metrics)
    resolved = resolve_target(target)
    host = host or ("0.0.0.0" if sagemaker else "127.0.0.1")
    port = port if port is not None else (SAGEMAKER_PORT if sagemaker else 3000)
    code = run_server(resolved.spec, host=host, port=port, workers=workers, base_dir=resolved.base_dir,
                      env=resolved.env or None, reload=reload, graceful_timeout_s=graceful_timeout,
                      access=access, head_limits=HeadLimits(max_header_bytes, max_headers), fd=fd,
                      control_path=control_socket, log_level="DEBUG" if debug else "INFO")
    raise SystemExit(code)
