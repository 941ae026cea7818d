"""The build spec of a bundle: ``dosirak.yaml`` next to the service, or the builder's arguments.

Example ``dosirak.yaml``::

    service: "service.py:FashionMNIST"
    name: fashion_mnist
    labels: {framework: pytorch}
    include: ["*.py", "labels.json"]
    exclude: ["tests/"]
    python:
      packages: [torch, pillow]
      requirements_txt: requirements.txt
    models: [fashion_mnist:latest]
    docker:
      base_image: python:3.11-slim
      system_packages: [libgomp1]

``include``/``exclude`` are globs on paths relative to the spec's directory: a pattern
without ``/`` matches a file name at any depth (``*.py``), one ending in ``/`` a directory
at any depth (``tests/``), others the whole relative path (``data/**``, ``**/*.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dosirak.errors import BundleError
from dosirak.untrusted import load_yaml

SPEC_FILE = "dosirak.yaml"


class PythonSpec(BaseModel):
    """Python packages the service needs; each is pinned to the version installed at build time."""

    model_config = ConfigDict(extra="forbid")
    packages: list[str] = Field(default_factory=list)
    requirements_txt: str | None = None


class DockerSpec(BaseModel):
    """How ``env/Dockerfile`` builds the image."""

    model_config = ConfigDict(extra="forbid")
    base_image: str | None = None
    system_packages: list[str] = Field(default_factory=list)


class BuildSpec(BaseModel):
    """Everything ``dosirak bundle build`` needs to know."""

    model_config = ConfigDict(extra="forbid")
    service: str
    name: str | None = None
    description: str = ""
    labels: dict[str, Any] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    python: PythonSpec = Field(default_factory=PythonSpec)
    models: list[str] = Field(default_factory=list)
    docker: DockerSpec = Field(default_factory=DockerSpec)


def make_spec(**values: Any) -> BuildSpec:
    """A :class:`BuildSpec` from keyword values; BundleError says what is wrong."""
    try:
        return BuildSpec.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"invalid bundle build spec: {problems}") from None


def load_spec(path: Path) -> BuildSpec:
    """Read a ``dosirak.yaml`` build spec; BundleError naming the file when it cannot be read or parsed."""
    data = load_yaml(Path(path), what="the build spec", error=BundleError)
    if not isinstance(data, dict):
        raise BundleError(f"{path} must be a mapping with at least `service: FILE.py:Class`")
    return make_spec(**data)


__all__ = ["SPEC_FILE", "BuildSpec", "DockerSpec", "PythonSpec", "load_spec", "make_spec"]
