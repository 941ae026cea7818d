"""A synchronous client for the dashboard app, in-process (httpx over ASGI, no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class AppClient:
    """``client.get("/runs")`` against an ASGI app, addressed to the loopback by default."""

    def __init__(self, app: Any, base_url: str = "http://127.0.0.1:8237") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)
