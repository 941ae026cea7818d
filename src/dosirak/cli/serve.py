"""``dosirak serve TARGET``: serve a service over HTTP with supervised workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass(frozen=True)
class ServeTarget:
    """What to serve: a service spec, the directory it is relative to, and worker env."""

    spec: str
    base_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def resolve_target(target: str) -> ServeTarget:
    """Turn the TARGET argument into a :class:`ServeTarget`.

    Today TARGET is ``FILE.py:Class`` or ``module:Class``. This is the one hook for bundles:
    a bundle tag (``name:version``) or directory resolves to its service spec, its source
    directory as ``base_dir``, and the environment its workers need.
    """
    from dosirak.bundles.store import serve_parts

    bundle = serve_parts(target)
    if bundle is not None:
        spec, base_dir, env = bundle
        return ServeTarget(spec=spec, base_dir=base_dir, env=env)
    return ServeTarget(spec=target)


@click.command("serve")
@click.argument("target")
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1; 0.0.0.0 with --sagemaker].")
@click.option("--port", type=int, default=None, help="TCP port [default: 3000; 8080 with --sagemaker].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: the service's workers option].")
@click.option("--reload", is_flag=True, help="Restart the workers when a .py file next to the service changes.")
@click.option("--sagemaker", is_flag=True, help="Follow the SageMaker container contract (port 8080, all interfaces).")
@click.option("--graceful-timeout", type=float, default=30.0, show_default=True,
              help="Seconds in-flight requests may take to finish on SIGTERM.")
def serve(target: str, host: str | None, port: int | None, workers: int | None, reload: bool, sagemaker: bool,
          graceful_timeout: float) -> None:
    """Serve TARGET (FILE.py:Class, or a bundle tag) over HTTP until SIGTERM or Ctrl-C.

    \b
    Routes: POST /<api> per api, GET /docs, /openapi.json, /livez, /readyz, /metrics,
    and the SageMaker contract GET /ping, POST /invocations.

    Exits 0 after SIGTERM or Ctrl-C, and 3 when the service cannot be loaded (its import
    or __init__ fails before any worker was ready); the log's ERROR line names the cause.
    """
    import logging

    from dosirak.serving.server import SAGEMAKER_PORT
    from dosirak.serving.server import serve as run_server

    logging.getLogger("dosirak").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    resolved = resolve_target(target)
    host = host or ("0.0.0.0" if sagemaker else "127.0.0.1")
    port = port if port is not None else (SAGEMAKER_PORT if sagemaker else 3000)
    code = run_server(resolved.spec, host=host, port=port, workers=workers, base_dir=resolved.base_dir,
                      env=resolved.env or None, reload=reload, graceful_timeout_s=graceful_timeout)
    raise SystemExit(code)
