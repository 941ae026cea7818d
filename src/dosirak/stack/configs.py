"""Config models of the built-in flavors (pydantic; imported only to validate or describe)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LocalOrchestratorConfig(BaseModel):
    """The local orchestrator runs steps one after another in the calling process."""

    model_config = ConfigDict(extra="forbid")


class ArtifactStoreConfig(BaseModel):
    """Where artifacts live: a local directory or an fsspec URL (``s3://bucket/prefix``)."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(default=None, description="Directory or URL; default: DOSIRAK_HOME/artifacts")
    storage_options: dict[str, Any] | None = Field(default=None, description="fsspec options (credentials...)")


__all__ = ["ArtifactStoreConfig", "LocalOrchestratorConfig"]
