from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from dosirak.serving.app import ServingApp
from dosirak.serving.service import load_service

HERE = Path(__file__).parent
Check = Callable[[httpx.AsyncClient, ServingApp], Awaitable[None]]


def run(check: Check, **options: Any) -> None:
    async def main() -> None:
        app = ServingApp(load_service("sample_service.py:Sample", base_dir=HERE), **options)
        await app.startup()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await check(client, app)
        await app.shutdown()

    asyncio.run(main())


def error_of(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    assert error["request_id"] and response.headers["x-request-id"] == error["request_id"]
    return str(error["message"])


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (5, 3)).save(out, format="PNG")
    return out.getvalue()


def test_apis_answer_with_their_declared_types() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        assert (await client.post("/scale", json=[[1, 1, 1, 1]])).json() == [[0.0, 1.0, 2.0, 3.0]]
        response = await client.post("/scale", json={"instances": [[1, 1, 1, 1]]}, headers={"accept": "application/x-npy"})
        assert response.headers["content-type"] == "application/x-npy"
        np.testing.assert_array_equal(np.load(io.BytesIO(response.content)), [[0, 1, 2, 3]])
        assert (await client.post("/add", json={"a": 2})).json() == 3
        assert (await client.post("/measure", json={"x": 3, "y": 4, "label": "p"})).json() == {"distance": 5.0, "label": "p"}
        assert (await client.post("/shout", json="hey")).json() == "HEY"
        assert (await client.post("/size", content=png(), headers={"content-type": "image/png"})).json() == [5, 3]
        assert (await client.post("/size", files={"image": ("a.png", png(), "image/png")})).json() == [5, 3]
        flipped = await client.post("/flip", content=png(), headers={"content-type": "image/png"})
        assert flipped.headers["content-type"] == "image/png" and Image.open(io.BytesIO(flipped.content)).size == (5, 3)
        assert (await client.post("/checksum", content=b"\x01\x02", headers={"content-type": "application/octet-stream"})).json() == 3
        assert (await client.post("/slow", json=0.01)).json() == 0.01
        assert isinstance((await client.post("/pid")).json(), int)
        assert (await client.post("/invocations", json=[[2, 2, 2, 2]])).json() == [[0.0, 2.0, 4.0, 6.0]]

    run(check)


@pytest.mark.parametrize(
    ("route", "kwargs", "status", "error_type", "message"),
    [
        ("/scale", {"content": b"[[1, 2", "headers": {"content-type": "application/json"}}, 400, "bad_request", "malformed JSON"),
        ("/scale", {"json": [[1, 2, 3]]}, 422, "validation_error", r"expected shape \(N, 4\), got \(1, 3\)"),
        ("/scale", {"json": [["a", 1, 2, 3]]}, 422, "validation_error", "holds strings"),
        ("/scale", {"content": b"", "headers": {"content-type": "application/json"}}, 400, "bad_request", "empty"),
        ("/scale", {"content": b"1,2", "headers": {"content-type": "text/csv"}}, 415, "unsupported_media_type", "text/csv"),
        ("/scale", {"content": np.array([[np.nan] * 4], np.float32).tobytes(),
                    "headers": {"content-type": "application/octet-stream", "x-dosirak-shape": "1,4"}},
         422, "validation_error", "NaN"),
        ("/scale", {"content": np.ones((1, 4), np.float64).tobytes(),
                    "headers": {"content-type": "application/octet-stream", "x-dosirak-dtype": "complex64"}},
         422, "validation_error", "must hold numbers"),
        ("/scale", {"content": np.ones((1, 4), np.int64).tobytes(),
                    "headers": {"content-type": "application/octet-stream", "x-dosirak-dtype": "int64"}},
         200, "", ""),
        ("/add", {"json": {"a": "1"}}, 422, "validation_error", "a: Input should be a valid integer"),
        ("/measure", {"json": {"x": 1}}, 422, "validation_error", "label: Field required"),
        ("/measure", {"json": {"x": 1, "y": -1, "label": "p"}}, 422, "validation_error", "greater than or equal to 0"),
        ("/size", {"content": b"not an image", "headers": {"content-type": "image/png"}}, 400, "bad_request", "not an image"),
        ("/size", {"json": {}}, 415, "unsupported_media_type", "image"),
    ],
)
def test_bad_input_gets_a_clear_error_and_the_next_request_succeeds(
    route: str, kwargs: dict[str, Any], status: int, error_type: str, message: str
) -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        response = await client.post(route, **kwargs)
        if status == 200:  # the control case: a valid body of the same kind
            assert response.status_code == 200, response.text
        else:
            assert re.search(message, error_of(response, status, error_type))
        assert (await client.post("/scale", json=[[1, 1, 1, 1]])).status_code == 200

    run(check)


def test_unknown_routes_are_404_and_wrong_methods_405() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        error_of(await client.get("/nowhere"), 404, "not_found")
        response = await client.get("/scale")
        error_of(response, 405, "method_not_allowed")
        error_of(await client.post("/livez"), 405, "method_not_allowed")
        error_of(await client.get("/docs/static/../../etc/passwd"), 404, "not_found")

    run(check)


def test_an_exception_in_the_api_is_a_500_with_a_request_id_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        response = await client.post("/fail", json=1.0, headers={"x-request-id": "req-42"})
        message = error_of(response, 500, "internal_error")
        assert "secret internal detail" not in response.text and "Traceback" not in response.text
        assert "RuntimeError" in message and response.json()["error"]["request_id"] == "req-42"
        assert (await client.post("/add", json={"a": 1})).json() == 2

    run(check)
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_failing_row_in_a_batch_fails_only_its_caller() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        bodies = [[[1, 1, 1, 1]], [[-7, 0, 0, 0]], [[2, 2, 2, 2]]]
        responses = await asyncio.gather(*(client.post("/scale", json=b) for b in bodies))
        assert [r.status_code for r in responses] == [200, 500, 200]

    run(check)


def test_a_slow_api_times_out_with_408() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        assert "the api took too long" in error_of(await client.post("/slow", json=5), 408, "timeout")

    run(check)


async def call_asgi(app: ServingApp, path: str, headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]],
                    delay: float = 0.0) -> tuple[int, dict[str, Any]]:
    """Drive the app with raw ASGI messages; ``delay`` stalls before each body chunk."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if delay:
            await asyncio.sleep(delay)
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""}
    await app(scope, receive, send)
    import orjson

    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_a_body_over_the_limit_is_413_before_it_is_read() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        received: list[int] = []
        headers = [(b"content-type", b"application/json"), (b"content-length", str(5 * 1024 * 1024).encode())]

        async def receive() -> dict[str, Any]:
            received.append(1)
            return {"type": "http.request", "body": b"[", "more_body": True}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": "POST", "path": "/scale", "headers": headers}, receive, send)
        assert sent[0]["status"] == 413 and received == []  # answered without reading the body
        assert (b"connection", b"close") in sent[0]["headers"]
        # a chunked body that grows past the limit is cut off too
        chunk = {"type": "http.request", "body": b"0" * 600_000, "more_body": True}
        status, body = await call_asgi(app, "/scale", [(b"content-type", b"application/json")], [chunk, chunk, chunk])
        assert status == 413 and body["error"]["type"] == "payload_too_large"

    run(check)


def test_a_client_that_sends_its_body_too_slowly_gets_408() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        app._timeout = 0.2
        chunks = [{"type": "http.request", "body": b"[[1,", "more_body": True},
                  {"type": "http.request", "body": b"1,1,1]]", "more_body": False}]
        status, body = await call_asgi(app, "/scale", [(b"content-type", b"application/json")], chunks, delay=0.15)
        assert status == 408 and "too slowly" in body["error"]["message"]

    run(check)


def test_health_metrics_openapi_and_docs() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        assert (await client.get("/livez")).json() == {"status": "alive"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert (await client.get("/ping")).status_code == 200
        await client.post("/scale", json=[[1, 1, 1, 1]])
        metrics = (await client.get("/metrics")).text
        for name in ("dosirak_requests_total", "dosirak_request_duration_seconds_bucket", "dosirak_batch_size_bucket",
                     "dosirak_batch_queue_wait_seconds_bucket", "dosirak_requests_in_flight", "dosirak_request_errors_total"):
            assert name in metrics
        assert (await client.get("/openapi.json")).json()["openapi"] == "3.1.0"
        page = (await client.get("/docs")).text
        assert re.findall(r"(?:src|href)=\"([^\"]+)\"", page) == [
            "/docs/static/swagger-ui.css", "/docs/static/favicon-32x32.png", "/docs/static/swagger-ui-bundle.js"]
        assert "http://" not in page and "https://" not in page and "validatorUrl: null" in page
        bundle = await client.get("/docs/static/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/javascript")

    run(check)


def test_readyz_is_503_until_the_service_has_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_INIT_DELAY", "0.3")

    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        error_of(await client.get("/readyz"), 503, "unavailable")
        error_of(await client.post("/add", json={"a": 1}), 503, "unavailable")
        assert (await client.get("/livez")).status_code == 200
        assert app._load_task is not None
        await app._load_task
        assert (await client.get("/readyz")).status_code == 200

    run(check, load_in_background=True)


def test_readyz_waits_for_every_worker() -> None:
    others_ready = False

    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        nonlocal others_ready
        assert (await client.get("/readyz")).status_code == 503
        others_ready = True
        assert (await client.get("/readyz")).status_code == 200

    run(check, all_workers_ready=lambda: others_ready)
