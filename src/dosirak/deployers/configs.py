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
    ready_timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for /readyz")
    stop_timeout_s: float = Field(default=30.0, gt=0, description="How long in-flight requests may take at stop")


__all__ = ["LocalDeployerConfig"]
