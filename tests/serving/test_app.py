from __future__ import annotations

import asyncio
import io
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

import dosirak as dk
from dosirak.serving.app import ServingApp
from dosirak.serving.service import definition_of, load_service

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


def test_wrong_methods_on_an_api_route_are_405_with_an_allow_header() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        for method in ("GET", "PUT", "TRACE"):
            response = await client.request(method, "/scale")
            error_of(response, 405, "method_not_allowed")
            assert response.headers["allow"] == "POST"
        response = await client.post("/livez")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"

    run(check)


def test_a_batch_of_zero_rows_is_a_422_naming_the_problem() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        out = io.BytesIO()
        np.save(out, np.zeros((0, 4), np.float32))
        empty_npy = await client.post("/scale", content=out.getvalue(), headers={"content-type": "application/x-npy"})
        assert "no rows" in error_of(empty_npy, 422, "validation_error")
        raw = await client.post("/scale", content=b"", headers={"content-type": "application/octet-stream",
                                                                 "x-dosirak-shape": "0,4"})
        assert "no rows" in error_of(raw, 422, "validation_error")
        error_of(await client.post("/scale", json=[]), 422, "validation_error")
        assert app.instance.calls == 0  # the model never saw them

    run(check)


def big_png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


def test_a_large_image_is_decoded_while_the_event_loop_keeps_answering() -> None:
    body = big_png(7000, 7000)  # 196 MB once decoded, 150 KB of PNG

    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        big = asyncio.ensure_future(client.post("/size", content=body, headers={"content-type": "image/png"}))
        took: list[float] = []
        while len(took) < 5 and not big.done():  # a few samples: one can meet a busy machine's hiccup
            started = time.perf_counter()
            assert (await client.get("/livez")).status_code == 200
            took.append(time.perf_counter() - started)
        assert len(took) >= 3, f"the decode finished after {len(took)} /livez answers: not large enough to tell"
        assert statistics.median(took) < 0.1, took
        assert (await big).json() == [7000, 7000]

    run(check)


@dk.service(name="tight", max_decoded_mb=20, decode_budget_mb=20)
class Tight:
    @dk.api
    def hold(self, image: Image.Image) -> list[int]:
        """Keep the request (and its decoded image) for half a second."""
        time.sleep(0.5)
        return [image.width, image.height]


def run_tight(check: Check) -> None:
    async def main() -> None:
        app = ServingApp(definition_of(Tight), decode_wait_s=0.2)
        await app.startup()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            await check(client, app)
        await app.shutdown()

    asyncio.run(main())


def test_large_decodes_beyond_the_workers_budget_wait_briefly_then_get_503_with_retry_after() -> None:
    body = big_png(2000, 2000)  # 16 MB decoded: one fits the 20 MB budget, two do not

    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        headers = {"content-type": "image/png"}
        first, second = await asyncio.gather(client.post("/hold", content=body, headers=headers),
                                             client.post("/hold", content=body, headers=headers))
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 503], statuses
        refused = first if first.status_code == 503 else second
        assert "decoding other large requests" in error_of(refused, 503, "unavailable")
        assert int(refused.headers["retry-after"]) >= 1
        assert (await client.post("/hold", content=body, headers=headers)).status_code == 200  # room again

    run_tight(check)


def test_an_image_that_decodes_beyond_max_decoded_mb_is_a_413_before_it_is_decoded() -> None:
    async def check(client: httpx.AsyncClient, app: ServingApp) -> None:
        response = await client.post("/hold", content=big_png(3000, 3000), headers={"content-type": "image/png"})
        assert "max_decoded_mb" in error_of(response, 413, "payload_too_large")

    run_tight(check)
