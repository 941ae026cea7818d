"""A service whose api names clash with the clients' own attributes (served by the client tests)."""

from __future__ import annotations

import dosirak as dk


@dk.service(name="clashing")
class Clashing:
    @dk.api
    def close(self, door: str) -> str:
        """Close a door."""
        return f"closed {door}"

    @dk.api
    def call(self, number: int) -> int:
        return number + 1

    @dk.api
    def aclose(self) -> str:
        return "aclosed"

    @dk.api
    def greet(self, name: str, punctuation: str = "!") -> str:
        """Say hello to someone."""
        return f"hello {name}{punctuation}"
