"""Config models of the built-in flavors (pydantic; imported only to validate or describe)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LocalOrchestratorConfig(BaseModel):
    """The local orchestrator runs steps in the calling process, independent ones at once on threads."""

    model_config = ConfigDict(extra="forbid")
    max_parallel: int | None = Field(default=None, ge=1, le=1024,
                                     description="How many steps may run at once; 1: one after another; "
                                                 "default: the number of CPU cores")


class RayOrchestratorConfig(BaseModel):
    """The ray orchestrator runs each step as a Ray task."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, description="auto, ray://HOST:10001 or HOST:6379 of a running "
                                                          "cluster; default: a local Ray started for each run")
    runtime_env: dict[str, Any] | None = Field(default=None, description="Ray's runtime_env for the steps' workers "
                                                                         "(pip, env_vars, working_dir...)")

    @field_validator("address")
    @classmethod
    def _address_form(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        rest = value.removeprefix("ray://")
        host, sep, port = rest.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in "/@ "):
            raise ValueError(f"{value!r} is not a Ray address; give auto, ray://HOST:10001 or HOST:6379")
        return value


class ArtifactStoreConfig(BaseModel):
    """Where artifacts live: a local directory or an fsspec URL (``s3://bucket/prefix``)."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(default=None, description="Directory or URL; default: DOSIRAK_HOME/artifacts")
    storage_options: dict[str, Any] | None = Field(default=None, description="fsspec options (credentials...)")

    @field_validator("path")
    @classmethod
    def _path_form(cls, value: str | None) -> str | None:
        return None if value is None else check_path_form(value)


class S3ArtifactStoreConfig(BaseModel):
    """Artifacts in an S3 bucket (AWS, MinIO, any S3 API); credentials only as references."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="s3://BUCKET[/PREFIX]")
    endpoint_url: str | None = Field(default=None, description="S3 API URL (MinIO...); default: AWS_ENDPOINT_URL or AWS")
    region: str | None = Field(default=None, description="Region name; default: boto's (AWS_DEFAULT_REGION...)")
    access_key_id: str | None = Field(default=None, description="{env:NAME} or {secret:NAME}; default: boto's chain")
    secret_access_key: str | None = Field(default=None, description="{env:NAME} or {secret:NAME}; default: boto's chain")
    session_token: str | None = Field(default=None, description="{env:NAME} or {secret:NAME}")

    @field_validator("path")
    @classmethod
    def _s3_path(cls, value: str) -> str:
        check_path_form(value)
        bucket = value.removeprefix("s3://").split("/", 1)[0]
        if not value.startswith("s3://") or not _BUCKET.fullmatch(bucket):
            raise ValueError(f"'{value[:100]}' is not s3://BUCKET[/PREFIX] with a valid bucket name "
                             "(3-63 lowercase letters, digits, '.', '-')")
        return value.rstrip("/")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"'{value[:100]}' is not an http:// or https:// URL")
        return value


#: An S3 bucket name.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

#: ``PROTOCOL://REST``, where PROTOCOL may chain fsspec protocols (``simplecache::s3``).
_URL = re.compile(r"^(?P<protocols>[a-z][a-z0-9+.-]*(?:::[a-z][a-z0-9+.-]*)*)://(?P<rest>.*)$", re.DOTALL)


def check_path_form(value: str) -> str:
    """``value`` if it has the form of a directory or fsspec URL; ValueError saying what is wrong.

    Only the form: a URL's protocol must be one fsspec knows and something must follow
    ``://`` (no bucket is contacted); a path must be non-empty text without control
    characters. Whether a local directory can be written is checked separately.
    """
    if not value.strip():
        raise ValueError("is empty; give a directory or a URL (s3://bucket/prefix)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("contains control characters")
    if "://" not in value:
        return value
    match = _URL.match(value)
    if match is None:
        raise ValueError(f"'{value[:100]}' is not a URL of the form PROTOCOL://LOCATION (e.g. s3://bucket/prefix)")
    import fsspec

    known = set(fsspec.available_protocols())
    for protocol in match["protocols"].split("::"):
        if protocol not in known:
            raise ValueError(f"protocol '{protocol}' is not one fsspec knows (e.g. s3, gs, az, memory, file)")
    if not match["rest"].strip("/"):
        raise ValueError(f"'{value[:100]}' names no location after '://' (e.g. s3://bucket/prefix)")
    return value


__all__ = ["ArtifactStoreConfig", "LocalOrchestratorConfig", "RayOrchestratorConfig", "S3ArtifactStoreConfig",
           "check_path_form"]
