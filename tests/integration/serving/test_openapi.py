"""A real server's /openapi.json: each api's error examples are what that api really answers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ERROR_TYPES = {"400": "bad_request", "408": "timeout", "413": "payload_too_large", "415": "unsupported_media_type",
               "422": "validation_error", "431": "header_fields_too_large", "500": "internal_error",
               "503": "unavailable"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("openapi"), "--workers", "1")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def _messages(document: dict[str, Any], route: str, status: str) -> list[str]:
    media = document["paths"][route]["post"]["responses"][status]["content"]["application/json"]
    values = [media["example"]] if "example" in media else [e["value"] for e in media["examples"].values()]
    assert all(v["error"]["type"] == ERROR_TYPES[status] for v in values), values
    return [v["error"]["message"] for v in values]


def test_error_examples_are_the_answers_of_the_api_they_document(sample: Server) -> None:
    with httpx.Client(base_url=sample.url, timeout=30) as client:
        document = client.get("/openapi.json").json()
        probes = [  # (route, body, content type, status): bad requests a client really sends
            ("/scale", b"[[0, 0, 0]]", "application/json", "422"),
            ("/scale", b"[[1, 2,", "application/json", "400"),
            ("/scale", b"1 2 3", "text/plain", "415"),
            ("/scale", b"\0" * 20, "application/octet-stream", "422"),
            ("/size", b"not an image", "image/png", "400"),
            ("/size", b"{}", "application/json", "415"),
            ("/add", b"{}", "application/json", "422"),
            ("/checksum", b"", "", "400"),
        ]
        for route, body, content_type, status in probes:
            headers = {"content-type": content_type} if content_type else {}
            answer = client.post(route, content=body, headers=headers)
            assert str(answer.status_code) == status, (route, answer.text)
            assert answer.json()["error"]["message"] in _messages(document, route, status), (route, answer.text)
            assert answer.json()["error"]["type"] == ERROR_TYPES[status]
        too_big = client.post("/size", content=b"\0" * (1024 * 1024 + 1), headers={"content-type": "image/png"})
        assert too_big.status_code == 413 and too_big.json()["error"]["message"] in _messages(document, "/size", "413")


def test_an_image_api_shows_no_array_errors_and_an_array_api_no_image_errors(sample: Server) -> None:
    document = httpx.get(sample.url + "/openapi.json", timeout=30).json()
    image = [m for status in document["paths"]["/size"]["post"]["responses"] if status != "200"
             for m in _messages(document, "/size", status)]
    array = [m for status in document["paths"]["/scale"]["post"]["responses"] if status != "200"
             for m in _messages(document, "/scale", status)]
    assert not [m for m in image if "shape" in m or "JSON" in m or "dtype" in m]
    assert "422" not in document["paths"]["/size"]["post"]["responses"]
    assert not [m for m in array if "image" in m]
    assert "expected shape (N, 4), got (1, 3)" in array


def test_the_request_body_of_an_array_api_names_the_headers_and_npy(sample: Server) -> None:
    document = httpx.get(sample.url + "/openapi.json", timeout=30).json()
    text = document["paths"]["/scale"]["post"]["requestBody"]["description"]
    assert "X-Dosirak-Shape: 2,4" in text and "X-Dosirak-Dtype: float32" in text and "application/x-npy" in text
    # and what it says works
    raw = np.arange(8, dtype=np.float32).reshape(2, 4)
    npy = io.BytesIO()
    np.save(npy, raw)
    with httpx.Client(base_url=sample.url, timeout=30) as client:
        by_headers = client.post("/scale", content=raw.tobytes(), headers={
            "content-type": "application/octet-stream", "x-dosirak-shape": "2,4", "x-dosirak-dtype": "float32"})
        by_npy = client.post("/scale", content=npy.getvalue(), headers={"content-type": "application/x-npy"})
    assert by_headers.status_code == 200 and by_npy.status_code == 200
    assert by_headers.json() == by_npy.json()

