"""``dosirak serve --api-key-env VAR`` over real HTTP: a real server process on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import dosirak as dk
from dosirak.errors import ClientError
from tests.integration.serving.conftest import SAMPLE, Server, free_port, run_async, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

KEY_A = "alpha-0123456789abcdef"
KEY_B = "bravo-fedcba9876543210"
KEYS_ENV = {"SAMPLE_API_KEYS": f" {KEY_A}, {KEY_B} "}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker serving the sample service behind two API keys (docs and metrics not public)."""
    srv = start_server(tmp_path_factory.mktemp("keyed"), "--workers", "1", "--api-key-env", "SAMPLE_API_KEYS",
                       env=KEYS_ENV)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("headers", [{}, bearer("wrong-key-0123456789"), bearer(KEY_A + "x"), bearer(KEY_A[:-1]),
                                     {"authorization": KEY_A}, {"authorization": f"Basic {KEY_A}"}],
                         ids=["missing", "wrong", "longer", "prefix", "no-scheme", "basic"])
@pytest.mark.parametrize("route", ["/add", "/invocations"])
def test_apis_refuse_a_missing_or_wrong_key_with_401(keyed: Server, route: str, headers: dict[str, str]) -> None:
    response = httpx.post(keyed.url + route, json={"a": 1}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["type"] == "unauthorized" and "Authorization: Bearer" in error["message"]
    assert KEY_A not in response.text and KEY_B not in response.text


def test_each_key_is_accepted(keyed: Server) -> None:
    with httpx.Client(base_url=keyed.url) as http:
        for key in (KEY_A, KEY_B):
            assert http.post("/add", json={"a": 1, "b": 2}, headers=bearer(key)).json() == 3
            assert http.post("/invocations", json=[[1, 1, 1, 1]], headers=bearer(key)).json() == [[0.0, 1.0, 2.0, 3.0]]
        assert http.post("/add", json={"a": 1}, headers={"authorization": f"bearer   {KEY_B}"}).json() == 2


def test_health_routes_stay_open_and_docs_metrics_and_unknown_routes_need_the_key(keyed: Server) -> None:
    with httpx.Client(base_url=keyed.url) as http:
        for route in ("/livez", "/readyz", "/ping"):
            assert http.get(route).status_code == 200, route
        for route in ("/docs", "/openapi.json", "/metrics", "/docs/static/swagger-ui.css", "/nowhere", "/livez/"):
            assert http.get(route).status_code == 401, route
        assert http.get("/docs", headers=bearer(KEY_B)).status_code == 200
        assert http.get("/metrics", headers=bearer(KEY_A)).status_code == 200
        assert http.get("/nowhere", headers=bearer(KEY_A)).status_code == 404
        document = http.get("/openapi.json", headers=bearer(KEY_A)).json()
    assert document["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/add"]["post"]["responses"]["401"]
    assert document["paths"]["/livez"]["get"]["security"] == []


def test_public_docs_and_public_metrics_open_only_those_routes(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1", "--api-key-env", "SAMPLE_API_KEYS", "--public-docs",
                       "--public-metrics", env=KEYS_ENV)
    try:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url) as http:
            for route in ("/docs", "/openapi.json", "/docs/static/swagger-ui.css", "/metrics"):
                assert http.get(route).status_code == 200, route
            assert http.post("/add", json={"a": 1}).status_code == 401
            assert http.get("/nowhere").status_code == 401
    finally:
        assert srv.stop() == 0


def test_the_clients_send_the_api_key(keyed: Server) -> None:
    with dk.ServiceClient(keyed.url, timeout=10, api_key=KEY_B) as client:
        client.wait_ready(timeout=10)
        assert client.add(1, b=5) == 6
        assert client.scale(np.ones((1, 4), np.float32)).tolist() == [[0.0, 1.0, 2.0, 3.0]]
    with dk.ServiceClient(keyed.url, timeout=10) as anonymous:
        assert anonymous.is_ready()
        with pytest.raises(ClientError, match="unauthorized") as info:
            anonymous.call("add", 1)
        assert info.value.status_code == 401

    async def main() -> None:
        async with dk.AsyncServiceClient(keyed.url, api_key=KEY_A) as client:
            assert await client.shout("x") == "X"

    run_async(main)


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dosirak.cli.main", "serve", f"{SAMPLE}:Sample", "--port", str(free_port()), *args]


@pytest.mark.parametrize("value", [None, "", " , ,"], ids=["unset", "empty", "only-commas"])
def test_serve_refuses_to_start_without_keys_in_the_variable(value: str | None) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "SAMPLE_API_KEYS"}
    if value is not None:
        env["SAMPLE_API_KEYS"] = value
    result = subprocess.run(serve_command("--api-key-env", "SAMPLE_API_KEYS"), env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "SAMPLE_API_KEYS" in result.stderr and "listening" not in result.stderr


def test_serve_never_takes_a_key_on_the_command_line_nor_logs_it() -> None:
    result = subprocess.run(serve_command("--api-key-env", KEY_A), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "name of an environment variable" in result.stderr and KEY_A not in result.stderr


def test_a_keyed_server_logs_no_key_and_no_warning(keyed: Server) -> None:
    log = keyed.log.read_text()
    assert KEY_A not in log and KEY_B not in log and "without an API key" not in log
    assert "API key" in log  # says that keys are required, naming the variable only


def test_serve_help_says_what_an_open_address_and_one_worker_cost() -> None:
    result = subprocess.run([sys.executable, "-m", "dosirak.cli.main", "serve", "--help"], capture_output=True,
                            text=True, timeout=60)
    text = " ".join(result.stdout.split())
    assert "--api-key-env" in text and "--public-docs" in text and "--public-metrics" in text
    assert "serves anyone" in text
    assert "kill" in text and "2 workers" in text
