"""SageMaker's ``POST /invocations``: routed by ``X-Amzn-SageMaker-Custom-Attributes: api=NAME``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

import dosirak as dk
from dosirak.serving.app import ServingApp
from dosirak.serving.service import ServiceDefinition, definition_of, load_service

HERE = Path(__file__).parent
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
Check = Callable[[httpx.AsyncClient], Awaitable[None]]


def run(definition: ServiceDefinition, check: Check) -> None:
    async def main() -> None:
        app = ServingApp(definition)
        await app.startup()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            await check(client)
        await app.shutdown()

    asyncio.run(main())


def sample() -> ServiceDefinition:
    return load_service("sample_service.py:Sample", base_dir=HERE)


def test_invocations_goes_to_the_api_named_by_the_custom_attributes_header() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        added = await client.post("/invocations", json={"a": 2}, headers={ATTRIBUTES: "api=add"})
        assert added.status_code == 200, added.text
        assert added.json() == 3
        shouted = await client.post("/invocations", json="hey", headers={ATTRIBUTES: "trace=1, api=shout ,x=y"})
        assert shouted.json() == "HEY"

    run(sample(), check)


def test_invocations_without_an_api_attribute_goes_to_the_default_api() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        for headers in ({}, {ATTRIBUTES: "trace=1"}, {ATTRIBUTES: ""}):
            response = await client.post("/invocations", json=[[2, 2, 2, 2]], headers=headers)
            assert response.json() == [[0.0, 2.0, 4.0, 6.0]], headers

    run(sample(), check)


@pytest.mark.parametrize("value", ["api=nope", "api=", "api=" + "a" * 5000, "api=add/../scale"])
def test_an_unknown_api_attribute_is_a_404_naming_the_apis(value: str) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        response = await client.post("/invocations", json={"a": 2}, headers={ATTRIBUTES: value})
        assert response.status_code == 404, response.text
        message = response.json()["error"]["message"]
        assert "add, " in message and "shout" in message
        assert len(message) < 2000  # the client's value is not echoed at length

    run(sample(), check)


def test_a_service_with_one_api_answers_invocations_with_it() -> None:
    @dk.service(name="single")
    class Single:
        @dk.api
        def double(self, x: float) -> float:
            return 2 * x

    definition = definition_of(Single)

    async def check(client: httpx.AsyncClient) -> None:
        assert (await client.post("/invocations", json=2.0)).json() == 4.0
        assert (await client.post("/invocations", json=2.0, headers={ATTRIBUTES: "api=double"})).json() == 4.0
        assert (await client.post("/invocations", json=2.0, headers={ATTRIBUTES: "api=other"})).status_code == 404

    run(definition, check)
