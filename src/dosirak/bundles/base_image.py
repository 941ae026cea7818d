"""The default base image, made from Debian's own packages when a builder lacks it.

Images of bundles start ``FROM`` a base with Python. Where a registry answers, any base
works (``--base-image python:3.11-slim``, a CUDA image for GPUs). The default,
``localhost/debian-python:bookworm``, needs no registry at all: when the builder does
not have it, :func:`ensure_base_image` makes it once with ``mmdebstrap`` (a Debian
bookworm *minbase* with ``python3``, ``python3-venv`` and ``ca-certificates``, about
225 MB, ~1-2 minutes) and keeps it in the builder's storage for every later build.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

from dosirak.bundles.builders import ImageBuilder, Progress, run
from dosirak.errors import ImageError
from dosirak.settings import DEFAULT_CONTAINER_BASE_IMAGE

log = logging.getLogger(__name__)

#: Debian release and packages of the default base.
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: The Python of that release: the wheelhouse must hold wheels for the same minor version.
DEBIAN_PYTHON = "3.11"


def ensure_base_image(builder: ImageBuilder, reference: str, *, progress: Progress | None = None) -> bool:
    """Make sure ``builder`` has the base image ``reference``; return True when it was built now.

    The default base (:data:`~dosirak.settings.DEFAULT_CONTAINER_BASE_IMAGE`) is built here
    with ``mmdebstrap`` when missing. Another ``localhost/`` reference must already exist
    (nothing can pull it); any other reference is left to the builder to pull.

    Raises:
        ImageError: the base is missing and cannot be made here, or making it failed.
    """
    if reference == DEFAULT_CONTAINER_BASE_IMAGE:
        with _machine_lock():
            if builder.inspect(reference) is not None:
                return False
            _build_debian_base(builder, reference, progress)
            return True
    if reference.startswith("localhost/") and builder.inspect(reference) is None:
        raise ImageError(f"base image {reference} does not exist in {builder.name}'s storage and no registry "
                         f"serves localhost/ images; build it first, or choose another --base-image")
    return False


def _build_debian_base(builder: ImageBuilder, reference: str, progress: Progress | None) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageError(f"the default base image {reference} is missing and mmdebstrap, which makes it, is not "
                         "installed: `apt-get install mmdebstrap`, or choose a base image a registry serves, e.g. "
                         "--base-image python:3.11-slim (or DOSIRAK_CONTAINER_BASE_IMAGE)")
    log.warning("building the base image %s from Debian %s packages with mmdebstrap (once per machine)",
                reference, DEBIAN_SUITE)
    workdir = Path(tempfile.mkdtemp(prefix="dosirak-base-"))
    try:
        rootfs = workdir / "rootfs.tar"
        run([mmdebstrap, "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", DEBIAN_SUITE, str(rootfs)],
            f"mmdebstrap of Debian {DEBIAN_SUITE}", progress=progress)
        (workdir / "Dockerfile").write_text(
            "# Debian bookworm minbase with python3, python3-venv and ca-certificates, made by dosirak\n"
            "FROM scratch\nADD rootfs.tar /\nCMD [\"python3\"]\n", encoding="utf-8")
        builder.build(workdir, reference, progress=progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("built the base image %s", reference)


class _machine_lock:
    """One base build at a time on this machine (builders' storage is per machine, not per home)."""

    def __enter__(self) -> None:
        path = Path(tempfile.gettempdir()) / f"dosirak-base-image-{os.getuid()}.lock"
        try:  # never through a symlink someone planted in the shared temporary directory
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ImageError(f"cannot open the base image lock {path}: {exc}; remove it if it is not a file") from exc
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


__all__ = ["DEBIAN_PACKAGES", "DEBIAN_PYTHON", "DEBIAN_SUITE", "ensure_base_image"]
