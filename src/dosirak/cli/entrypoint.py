"""``dosirak image-entrypoint BUNDLE_DIR [serve] [OPTIONS]``: the ENTRYPOINT of a bundle's image.

One image, every way it is started:

* ``docker run IMAGE`` serves on port 3000 (or ``DOSIRAK_PORT``);
* ``docker run IMAGE serve`` (how SageMaker starts a container) serves on 8080, or on
  ``SAGEMAKER_BIND_TO_PORT`` when SageMaker sets it;
* options after that go to ``dosirak serve`` (``docker run IMAGE serve --workers 2``).

Both listen on every interface and verify the bundle's MANIFEST before serving. The
process replaces itself with ``dosirak serve`` (``exec``), so the container's SIGTERM
reaches the server, which drains in-flight requests within :data:`DRAIN_S` seconds.
"""

from __future__ import annotations

import os
import sys

import click

from dosirak.settings import env_value

#: Ports of the two ways in.
PLAIN_PORT = 3000
SAGEMAKER_PORT = 8080
#: How long in-flight requests may take after SIGTERM (SageMaker and ``docker stop`` wait 30 s).
DRAIN_S = 25


def _port(variable: str, default: int) -> int:
    text = env_value(variable)
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise click.UsageError(f"{variable}={text[:20]!r} is not a TCP port (1-65535)")
    return int(text)


@click.command("image-entrypoint", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("bundle_dir", type=click.Path(file_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def entrypoint(bundle_dir: str, args: tuple[str, ...]) -> None:
    """Serve the bundle in BUNDLE_DIR the way the container was started (the image's ENTRYPOINT).

    \b
    (no argument)  serve on 3000, or DOSIRAK_PORT
    serve          serve on 8080, or SAGEMAKER_BIND_TO_PORT (SageMaker's `docker run IMAGE serve`)
    Options after these go to `dosirak serve`.
    """
    rest = list(args)
    if rest and rest[0] == "serve":
        rest.pop(0)
        port = _port("SAGEMAKER_BIND_TO_PORT", SAGEMAKER_PORT)
    else:
        port = _port("DOSIRAK_PORT", PLAIN_PORT)
    if rest and not rest[0].startswith("-"):
        raise click.UsageError(f"this image runs `serve` (SageMaker) or nothing (port {PLAIN_PORT}), not "
                               f"{rest[0][:40]!r}; options after them go to `dosirak serve`")
    argv = [sys.executable, "-m", "dosirak.cli.main", "serve", bundle_dir, "--host", "0.0.0.0", "--port", str(port),
            "--graceful-timeout", str(DRAIN_S), *rest]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
