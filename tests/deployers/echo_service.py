"""A tiny service the deployer tests serve (no model needed)."""

from __future__ import annotations

import os

import dosirak as dk

if os.environ.get("ECHO_FAIL_AT_IMPORT"):
    raise RuntimeError("echo service refuses to start: ECHO_FAIL_AT_IMPORT is set")


@dk.service(name="echo")
class Echo:
    @dk.api
    def double(self, x: float) -> float:
        return x * 2
