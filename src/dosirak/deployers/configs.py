"""Config models of the built-in deployer flavors (pydantic; imported only to validate or describe)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LocalDeployerConfig(BaseModel):
    """The local deployer runs ``dosirak serve`` as a detached process on this machine."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(default="127.0.0.1", description="Address services listen on")
    port: int = Field(default=3000, ge=0, le=65535, description="Default port (0: any free port)")
    port_policy: Literal["next", "fail"] = Field(
        default="next", description="When the port is taken by another process: use the next free one, or fail")
    workers: int | None = Field(
        default=None, ge=1,
        description="Worker processes per service (default: 2 on a machine with 2+ cores, so a crashed worker "
                    "is no outage; else the service's own option)")
    api_keys: str | None = Field(
        default=None, pattern=r"^\{env:[A-Za-z_][A-Za-z0-9_]*\}$",
        description="API keys the services require, as a reference to the environment variable holding them "
                    "(comma-separated): {env:NAME}, never the keys themselves")
    ready_timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for /readyz")
    stop_timeout_s: float = Field(default=30.0, gt=0, description="How long in-flight requests may take at stop")


__all__ = ["LocalDeployerConfig"]
