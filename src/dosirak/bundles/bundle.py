"""A bundle on disk: an immutable, checksummed directory a server can run as is.

::

    bundle.yaml          name, version, creation time, service, apis (with schemas), models
                         (versions and hashes), labels, Python and dosirak versions, lineage
    src/                 the service's source files
    models/NAME/VERSION/ each model version, exactly as the model store keeps it
    env/requirements.txt every named package pinned to the version installed at build time
    env/Dockerfile       the image recipe (`dosirak bundle containerize`)
    openapi.json         the service's OpenAPI document
    MANIFEST             SHA-256 and size of every other file

Opening a bundle verifies its manifest and refuses a bundle written by a newer dosirak.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dosirak
from dosirak.bundles.manifest import VerifyReport, verify
from dosirak.errors import BundleError, BundleIntegrityError, BundleVersionError
from dosirak.names import check_name
from dosirak.untrusted import load_yaml

log = logging.getLogger(__name__)

BUNDLE_FILE = "bundle.yaml"
#: Layout version written into ``bundle.yaml``; a bundle with a higher one is refused.
FORMAT_VERSION = 1


def new_version(now: datetime | None = None) -> str:
    """A version id that sorts by creation time: ``20261124-153012-123456`` (UTC, microseconds)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%d-%H%M%S-%f")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in str(text).split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def read_bundle_yaml(root: Path) -> dict[str, Any]:
    """The parsed ``bundle.yaml`` of the bundle at ``root``.

    Raises:
        BundleIntegrityError: it is missing or not a mapping.
        BundleVersionError: it was written by a newer dosirak than this one.
    """
    path = root / BUNDLE_FILE
    if not path.is_file():
        raise BundleIntegrityError(f"{root} is not a bundle: it has no {BUNDLE_FILE}")
    data = load_yaml(path, what=BUNDLE_FILE, error=BundleIntegrityError)
    if not isinstance(data, dict) or "name" not in data or "version" not in data:
        raise BundleIntegrityError(f"{path} does not describe a bundle (no name/version)")
    fmt = data.get("format_version", 0)
    built_by = str(data.get("dosirak_version", "0"))
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        raise BundleVersionError(
            f"bundle {data['name']}:{data['version']} was built by dosirak {built_by} (bundle format {fmt}); "
            f"this dosirak {dosirak.__version__} reads format {FORMAT_VERSION} at most: upgrade dosirak"
        )
    if _version_tuple(built_by)[:2] > _version_tuple(dosirak.__version__)[:2]:
        raise BundleVersionError(
            f"bundle {data['name']}:{data['version']} was built by a newer dosirak ({built_by}) than this one "
            f"({dosirak.__version__}); upgrade dosirak to use it"
        )
    check_info(data, path)
    return data


def check_info(data: dict[str, Any], path: Path) -> None:
    """Refuse a ``bundle.yaml`` whose names or paths could lead outside the bundle or the store.

    The name and version become ``<bundles_root>/NAME/VERSION``; the service file is
    imported from ``src/``; each model is read from its ``path``. All come from a file
    that may have been crafted, so each is checked against the name grammar or to be a
    plain relative path before anything uses it.
    """
    where = f"{path}: "
    check_name(data.get("name"), "bundle name", error=BundleIntegrityError)
    version = check_name(data.get("version"), "bundle version", error=BundleIntegrityError)
    if version == "latest":
        raise BundleIntegrityError(f"{where}'latest' cannot be a bundle version: it always means the newest one")
    service = data.get("service")
    file_part, sep, attr = str(service).rpartition(":")
    if not isinstance(service, str) or not sep or not attr.isidentifier() or not _relative(file_part):
        raise BundleIntegrityError(f"{where}service {service!r} is not FILE.py:Class with a relative FILE inside src/")
    models = data.get("models") or []
    if not isinstance(models, list):
        raise BundleIntegrityError(f"{where}'models' must be a list")
    for model in models:
        if not isinstance(model, dict):
            raise BundleIntegrityError(f"{where}each entry of 'models' must be a mapping")
        check_name(model.get("name"), "model name", error=BundleIntegrityError)
        check_name(str(model.get("version")), "model version", error=BundleIntegrityError)
        if not _relative(model.get("path")):
            raise BundleIntegrityError(f"{where}model path {model.get('path')!r} must be a relative path inside the bundle")


def _relative(value: object) -> bool:
    """A non-empty relative POSIX path with no ``..``, backslash or NUL (it stays below its root)."""
    if not isinstance(value, str) or not value or "\\" in value or "\0" in value:
        return False
    parts = value.split("/")
    return not value.startswith("/") and ".." not in parts and all(parts)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle directory.

    Example::

        bundle = Bundle.open(path)          # verifies the MANIFEST and the format version
        bundle.tag, bundle.service          # ('fashion_mnist:20261124-...', 'service.py:FashionMNIST')
    """

    path: Path
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def version(self) -> str:
        return str(self.info["version"])

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    def __str__(self) -> str:
        return self.tag

    @property
    def service(self) -> str:
        """``FILE.py:Class`` relative to :attr:`src_dir`."""
        return str(self.info["service"])

    @property
    def src_dir(self) -> Path:
        return self.path / "src"

    @property
    def models(self) -> list[dict[str, Any]]:
        return list(self.info.get("models") or [])

    def verify(self) -> VerifyReport:
        """Re-check every file against the MANIFEST (BundleIntegrityError names a bad file)."""
        return verify(self.path)

    @classmethod
    def open(cls, path: Path, *, check: bool = True) -> Bundle:
        """Open the bundle at ``path``; with ``check``, verify its manifest first."""
        path = Path(path)
        if not path.is_dir():
            raise BundleError(f"{path} is not a bundle directory")
        if check:
            verify(path)
        return cls(path=path, info=read_bundle_yaml(path))


__all__ = ["BUNDLE_FILE", "FORMAT_VERSION", "Bundle", "check_info", "new_version", "read_bundle_yaml"]
