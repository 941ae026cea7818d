"""/docs renders every operation in a real Chromium, with no request leaving 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(180)]

ARTIFACTS_DIR = Path(__file__).resolve().parents[3] / "test-artifacts" / "serving"

@pytest.fixture
def docs_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, "--workers", "1")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_docs_page_renders_every_operation_offline(docs_server: Server, chromium: Any) -> None:
    document = httpx.get(docs_server.url + "/openapi.json").json()
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()
                     if "operationId" in op]
    requested: list[str] = []
    console_errors: list[str] = []
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        page.goto(docs_server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        title = page.inner_text(".info .title")
        paths = page.eval_on_selector_all(".opblock .opblock-summary-path",
                                          "nodes => nodes.map(n => n.getAttribute('data-path'))")
        errors_shown = page.query_selector_all(".errors-wrapper")
    finally:
        context.close()
    assert "sample" in title
    for route in document["paths"]:
        assert route in paths, f"{route} is not rendered; rendered: {paths}"
    assert len(paths) == len(document["paths"]) and len(operation_ids) >= 12
    assert errors_shown == [], "Swagger UI reports errors in the document"
    assert console_errors == []
    hosts = {urlparse(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {f"127.0.0.1:{docs_server.port}"}, requested


def test_swagger_shows_each_api_the_error_examples_of_its_own_codec(docs_server: Server, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    shown: dict[str, str] = {}
    try:
        page = context.new_page()
        page.goto(docs_server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        for route in ("/size", "/scale"):
            block = page.locator(f".opblock:has(.opblock-summary-path[data-path='{route}'])").first
            block.locator(".opblock-summary").click()
            responses = block.locator(".responses-wrapper")
            responses.wait_for(timeout=15_000)
            shown[route] = responses.inner_text()
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / "swagger-error-examples.png"), full_page=True)
    finally:
        context.close()
    assert "expected shape" not in shown["/size"] and "not an image PIL can read" in shown["/size"]
    assert "image/*, multipart/form-data" in shown["/size"]  # its 415 names what it takes
    assert "expected shape (N, 4), got (1, 3)" in shown["/scale"]
    assert "not an image PIL can read" not in shown["/scale"]
