"""A bundle's ``env/requirements.txt``: every named package pinned to its installed version.

Packages come from the spec's ``python.packages``, its ``requirements_txt`` and the
libraries the packed models need (``torch`` and ``safetensors`` for a PyTorch model).
A package that is not installed where the build runs, or whose installed version does
not satisfy the spec's constraint, stops the build with an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from dosirak.errors import BundleError

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*?)\s*(;[^#]*)?\s*(#.*)?$")


@dataclass(frozen=True)
class Pin:
    """One pinned requirement and why it is there."""

    name: str
    extras: str
    version: str
    reason: str

    @property
    def line(self) -> str:
        return f"{self.name}{self.extras}=={self.version}"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pin(requirement: str, reason: str) -> Pin:
    """Pin one requirement (``torch``, ``pillow>=10``, ``uvicorn[standard]``) to what is installed."""
    match = _REQ.match(requirement)
    if match is None:
        raise BundleError(f"cannot read the requirement '{requirement}' ({reason}); use NAME, NAME[extra] or NAME>=X")
    name, extras, constraint = match.group(1), match.group(2) or "", (match.group(3) or "").strip()
    try:
        installed = importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        raise BundleError(
            f"package '{name}' ({reason}) is not installed where the bundle is built, so it cannot be pinned; "
            f"install it (`pip install {name}`) or remove it from the spec"
        ) from None
    if constraint:
        _check_constraint(name, installed, constraint, reason)
    return Pin(name=name, extras=extras, version=installed, reason=reason)


def _check_constraint(name: str, installed: str, constraint: str, reason: str) -> None:
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging ships with pip and setuptools
        return
    try:
        spec = SpecifierSet(constraint)
    except InvalidSpecifier:
        raise BundleError(f"invalid version constraint '{constraint}' for '{name}' ({reason})") from None
    if not spec.contains(installed, prereleases=True):
        raise BundleError(
            f"package '{name}' is installed at {installed}, which does not satisfy '{constraint}' ({reason}); "
            "install a matching version or relax the constraint"
        )


def collect(
    packages: Iterable[str],
    requirements_txt: Path | None,
    model_libraries: Iterable[tuple[str, str]],
) -> list[Pin]:
    """Pins for the spec's packages, its requirements file and the models' libraries."""
    pins: dict[str, Pin] = {}

    def add(requirement: str, reason: str) -> None:
        found = pin(requirement, reason)
        pins.setdefault(_canonical(found.name), found)

    for package in packages:
        add(package, "python.packages")
    if requirements_txt is not None:
        try:
            lines = requirements_txt.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise BundleError(f"cannot read python.requirements_txt {requirements_txt}: {exc}") from exc
        for number, raw in enumerate(lines, start=1):
            text = raw.split(" #")[0].strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("-") or "://" in text or text.startswith((".", "/")):
                raise BundleError(
                    f"{requirements_txt} line {number}: '{text}' is not a package name; bundles pin named "
                    "packages only (list local code under `include` instead)"
                )
            add(text, f"{requirements_txt.name} line {number}")
    for dist, why in model_libraries:
        if _canonical(dist) not in pins:
            add(dist, why)
    return sorted(pins.values(), key=lambda p: _canonical(p.name))


def render(pins: list[Pin], header: str) -> str:
    lines = [f"# {header}", "# every package pinned to the version installed where the bundle was built"]
    lines += [f"{p.line}  # {p.reason}" for p in pins]
    return "\n".join(lines) + "\n"


def extra_index_urls(pins: list[Pin]) -> list[str]:
    """Indexes an image build needs for local-version wheels (``torch==2.13.0+cpu``)."""
    if any(p.version.endswith("+cpu") and _canonical(p.name).startswith("torch") for p in pins):
        return ["https://download.pytorch.org/whl/cpu"]
    return []


__all__ = ["Pin", "collect", "extra_index_urls", "pin", "render"]
