from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosirak.errors import ClientError, ConfigError
from dosirak.serving import auth
from dosirak.serving.app import ServingApp
from dosirak.serving.client import request_headers
from dosirak.serving.service import load_service

HERE = Path(__file__).parent
KEY_A = "alpha-0123456789abcdef"
KEY_B = "bravo-fedcba9876543210"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_API_KEYS", f"{KEY_A},{KEY_B}")
    return "TEST_API_KEYS"


def test_keys_are_read_comma_separated_trimmed_and_deduplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_API_KEYS", f" {KEY_A} ,,{KEY_B},{KEY_A}, ")
    assert auth.read_keys("TEST_API_KEYS") == (KEY_A, KEY_B)


@pytest.mark.parametrize(("value", "message"), [
    (None, "TEST_API_KEYS named by --api-key-env is not set"),
    ("", "holds no key"),
    (" , ", "holds no key"),
    ("short-key", "key 1 in TEST_API_KEYS has 9 characters; use at least 16"),
    (f"{KEY_A},tab\there-0123456789", "key 2 in TEST_API_KEYS holds spaces, control or non-ASCII"),
    (f"{KEY_A},clé-0123456789abcdef", "key 2 in TEST_API_KEYS holds spaces, control or non-ASCII"),
])
def test_unusable_key_variables_are_refused_without_echoing_the_keys(
        monkeypatch: pytest.MonkeyPatch, value: str | None, message: str) -> None:
    monkeypatch.delenv("TEST_API_KEYS", raising=False)
    if value is not None:
        monkeypatch.setenv("TEST_API_KEYS", value)
    with pytest.raises(ConfigError, match=message) as info:
        auth.read_keys("TEST_API_KEYS")
    assert KEY_A not in str(info.value) and "short-key" not in str(info.value)


@pytest.mark.parametrize("name", [KEY_A, "1ABC", "A B", "", "A" * 200])
def test_a_value_that_is_no_variable_name_is_refused_and_not_echoed(name: str) -> None:
    with pytest.raises(ConfigError, match="name of an environment variable") as info:
        auth.read_keys(name)
    assert name == "" or name not in str(info.value)


def test_the_policy_keeps_digests_only_and_never_shows_a_key(keys: str) -> None:
    policy = auth.AccessPolicy.from_env(keys)
    shown = repr(policy) + str(policy)
    assert KEY_A not in shown and KEY_B not in shown and "keys=2" in shown
    assert all(len(d) == 32 and KEY_A.encode() not in d for d in policy.digests)


def test_every_key_is_compared_even_when_the_first_matches(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = auth.AccessPolicy.from_env(keys)
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    assert policy.accepts(KEY_A.encode()) and policy.accepts(KEY_B.encode())
    assert not policy.accepts(KEY_A[:-1].encode()) and not policy.accepts(b"")
    assert compared == [(32, 32)] * 8  # two keys per check, equal lengths whatever was sent


def test_the_workers_receive_the_policy_through_their_environment(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in auth.worker_env(auth.AccessPolicy.from_env(keys, public_metrics=True)).items():
        monkeypatch.setenv(name, value)
    policy = auth.policy_from_environment()
    assert policy is not None and policy.accepts(KEY_B.encode())
    assert (policy.public_docs, policy.public_metrics) == (False, True)
    assert KEY_A not in str(auth.worker_env(policy))
    for name, value in auth.worker_env(None).items():
        monkeypatch.setenv(name, value)
    assert auth.policy_from_environment() is None


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("::", True), ("192.168.1.20", True),
                                              ("example.com", True), ("127.0.0.1", False), ("localhost", False),
                                              ("::1", False), ("[::1]", False), ("127.0.0.2", False)])
def test_listening_beyond_the_loopback_without_a_key_is_a_warning(
        caplog: pytest.LogCaptureFixture, host: str, warned: bool) -> None:
    with caplog.at_level(logging.INFO, logger="dosirak.serving.auth"):
        auth.log_exposure(host, None)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warned
    if warned:
        assert "without an API key" in warnings[0].getMessage() and host in warnings[0].getMessage()


def test_a_keyed_server_says_so_without_the_keys(keys: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dosirak.serving.auth"):
        auth.log_exposure("0.0.0.0", auth.AccessPolicy.from_env(keys))
    [record] = caplog.records
    assert record.levelno == logging.INFO and "$TEST_API_KEYS" in record.getMessage()
    assert KEY_A not in caplog.text and KEY_B not in caplog.text


def guarded(policy: auth.AccessPolicy, check: Any) -> None:
    async def main() -> None:
        definition = load_service("sample_service.py:Sample", base_dir=HERE)
        auth.declare_in_openapi(definition, policy)
        app = ServingApp(definition)
        await app.startup()
        transport = httpx.ASGITransport(app=auth.protect(app, policy))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await check(client)
        await app.shutdown()

    asyncio.run(main())


def test_the_guard_answers_401_with_a_request_id_and_passes_a_valid_key(keys: str) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        denied = await client.post("/add", json={"a": 1}, headers={"x-request-id": "trace-42"})
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == 'Bearer realm="dosirak"'
        assert denied.headers["connection"] == "close" and denied.headers["cache-control"] == "no-store"
        assert denied.json()["error"]["request_id"] == "trace-42" == denied.headers["x-request-id"]
        wrong = await client.post("/add", json={"a": 1}, headers={"authorization": "Bearer " + "x" * 5000,
                                                                  "x-request-id": "bad\x7fid"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
        assert wrong.json()["error"]["request_id"] != "bad\x7fid"
        ok = await client.post("/add", json={"a": 1}, headers={"authorization": f"Bearer {KEY_A}"})
        assert ok.json() == 2
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 401

    guarded(auth.AccessPolicy.from_env(keys), check)


def test_the_openapi_document_declares_the_bearer_scheme_and_its_open_routes(keys: str) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        assert document["security"] == [{"apiKey": []}]
        assert document["paths"]["/ping"]["get"]["security"] == []
        assert document["paths"]["/metrics"]["get"]["security"] == []
        assert "security" not in document["paths"]["/invocations"]["post"]
        assert document["paths"]["/invocations"]["post"]["responses"]["401"]["description"].startswith("Missing")

    guarded(auth.AccessPolicy.from_env(keys, public_docs=True, public_metrics=True), check)


def test_the_client_sends_the_key_as_a_bearer_header_and_refuses_unusable_keys() -> None:
    assert request_headers({"x-a": "1"}, KEY_A) == {"x-a": "1", "authorization": f"Bearer {KEY_A}"}
    assert request_headers(None, None) == {}
    for bad in ("", "two words", "line\nbreak", "clé"):
        with pytest.raises(ClientError, match="api_key must be"):
            request_headers(None, bad)
