"""A tiny service the dashboard's browser tests deploy, to follow its link to Swagger UI."""

from __future__ import annotations

import dosirak as dk


@dk.service(name="echo")
class Echo:
    @dk.api
    def double(self, x: float) -> float:
        return x * 2
