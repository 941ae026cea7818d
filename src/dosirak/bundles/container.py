"""Turn a bundle into a container image: write the Docker build context, build if an engine answers.

The context is a directory holding the bundle's ``env/Dockerfile`` as ``Dockerfile`` and
an exact copy of the bundle as ``bundle/`` (so the image can verify its MANIFEST). When no
Docker engine answers, the context is left in place and the result says so: no build is
ever reported that did not run.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dosirak.bundles import store
from dosirak.errors import BundleError
from dosirak.names import path_under

#: What a build context written by :func:`containerize` holds: only such a directory is replaced.
_CONTEXT_ENTRIES = frozenset({"bundle", "Dockerfile"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerizeResult:
    """Where the context is, and whether (and as what) an image was built."""

    context: Path
    image: str
    built: bool
    reason: str = ""


def image_name(name: str, version: str) -> str:
    """A Docker image reference for a bundle (repository names must be lowercase)."""
    return f"{name.lower()}:{version}"


def docker_engine_answers(timeout_s: float = 10.0) -> tuple[bool, str]:
    """Whether ``docker info`` reaches an engine; otherwise why not."""
    docker = shutil.which("docker")
    if docker is None:
        return False, "the docker client is not installed"
    try:
        done = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`docker info` failed: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return False, f"no Docker engine answers ({detail[-1] if detail else 'docker info failed'})"
    return True, ""


def containerize(tag_or_path: str, *, output: Path | None = None, trusted: bool | None = None,
                 build: bool = True) -> ContainerizeResult:
    """Write the build context for a bundle and run ``docker build`` when an engine answers.

    Args:
        tag_or_path: the bundle.
        output: the context directory (default ``<home>/containers/NAME/VERSION``); replaced if present.
        trusted: let the image load pickled models; default: the bundle was built here.
        build: run ``docker build`` when possible (False: only write the context).

    Raises:
        BundleError: ``docker build`` ran and failed.
    """
    from dosirak.settings import get_settings

    path, record = store.resolve(tag_or_path)
    bundle = store.open_bundle(path, check=True)
    if output:
        context = Path(output)
    else:
        context = path_under(get_settings().home / "containers", bundle.name, bundle.version, error=BundleError)
    if context.exists():
        leftovers = {p.name for p in context.iterdir()} if context.is_dir() else {"?"}
        if leftovers and not leftovers <= _CONTEXT_ENTRIES:
            raise BundleError(f"{context} exists and is not a build context dosirak wrote "
                              f"(it holds {', '.join(sorted(leftovers)[:5])}); choose another --output")
        shutil.rmtree(context)
    context.mkdir(parents=True)
    shutil.copytree(bundle.path, context / "bundle", symlinks=True)
    shutil.copyfile(bundle.path / "env" / "Dockerfile", context / "Dockerfile")
    image = image_name(bundle.name, bundle.version)
    if trusted is None:
        trusted = record is not None and not record.imported
    if not build:
        return ContainerizeResult(context=context, image=image, built=False, reason="not asked to build")
    ok, why = docker_engine_answers()
    if not ok:
        log.warning("%s; the build context is at %s", why, context)
        return ContainerizeResult(context=context, image=image, built=False, reason=why)
    command = ["docker", "build", "-t", image, "--build-arg", f"DOSIRAK_BUNDLE_TRUSTED={1 if trusted else 0}",
               str(context)]
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise BundleError(f"`{' '.join(command)}` failed with status {done.returncode}; see its output above")
    return ContainerizeResult(context=context, image=image, built=True)


__all__ = ["ContainerizeResult", "containerize", "docker_engine_answers", "image_name"]
