"""``ServiceClient`` and ``AsyncServiceClient`` against a real ``dosirak serve``: apis as real methods."""

from __future__ import annotations

import inspect
import pydoc
from collections.abc import Iterator
from pathlib import Path

import pytest

import dosirak as dk
from tests.integration.serving.conftest import Server, run_async, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLASHING = Path(__file__).resolve().parents[2] / "serving" / "clashing_service.py"


@pytest.fixture
def clashing(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, "--workers", "1", spec=f"{CLASHING}:Clashing")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_each_api_is_a_bound_method_with_the_apis_signature_and_docstring(server: Server) -> None:
    with dk.ServiceClient(server.url, timeout=10) as client:
        add = client.add
        assert inspect.ismethod(add) and add.__self__ is client and add.__name__ == "add"
        assert str(inspect.signature(add)) == "(a: int, b: int = 1) -> int"
        assert add.__doc__ is not None and add.__doc__.startswith("Add two integers.")
        assert "Add two integers." in pydoc.render_doc(add)
        assert str(inspect.signature(client.scale)) == "(x: 'numpy.ndarray') -> 'numpy.ndarray'"
        assert str(inspect.signature(client.pid)) == "() -> int"
        assert client.add is add  # made once per client
        assert add(2, b=3) == 5
        assert {"add", "scale", "measure", "shout", "pid", "call", "close", "wait_ready"} <= set(dir(client))


def test_a_client_whose_service_is_down_still_lists_its_own_attributes(tmp_path: Path) -> None:
    from tests.ports import free_port

    with dk.ServiceClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        assert {"call", "close", "wait_ready"} <= set(dir(client))


def test_an_attribute_that_is_no_api_says_what_the_client_and_service_have(server: Server) -> None:
    with dk.ServiceClient(server.url, timeout=10) as client:
        with pytest.raises(AttributeError, match="ServiceClient has no attribute 'nope' and the service at .* "
                                                 "has no api 'nope'; its apis: scale, add"):
            client.nope  # noqa: B018
        with pytest.raises(AttributeError, match=r"use close\(\) \(aclose belongs to AsyncServiceClient\)"):
            client.aclose  # noqa: B018


def test_the_async_client_closes_with_close_or_aclose_and_its_methods_carry_signatures(server: Server) -> None:
    async def main() -> None:
        client = dk.AsyncServiceClient(server.url)
        assert await client.shout("x") == "X"
        assert str(inspect.signature(client.add)) == "(a: int, b: int = 1) -> int"
        assert inspect.iscoroutinefunction(client.add) and client.add.__self__ is client
        assert "add" in dir(client)
        await client.close()
        other = dk.AsyncServiceClient(server.url)
        await other.apis()
        await other.aclose()
        async with dk.AsyncServiceClient(server.url) as third:
            with pytest.raises(AttributeError, match="is_ready"):
                third.wait_ready  # noqa: B018

    run_async(main)


def test_apis_named_like_the_clients_own_attributes_are_reached_with_call(clashing: Server) -> None:
    with dk.ServiceClient(clashing.url, timeout=10) as client:
        assert client.call("close", "the door") == "closed the door"
        assert client.call("call", 41) == 42
        assert client.aclose() == "aclosed"  # no attribute of ServiceClient: the api
        assert client.greet("you") == "hello you!"
        assert str(inspect.signature(client.greet)) == "(name: str, punctuation: str = '!') -> str"
        assert inspect.signature(client.close).parameters == {}  # the client's own close
        assert {"aclose", "greet"} <= set(dir(client))

    async def main() -> None:
        async with dk.AsyncServiceClient(clashing.url) as client:
            assert await client.call("aclose") == "aclosed"
            assert await client.call("close", "the gate") == "closed the gate"
            assert await client.greet("all", punctuation="?") == "hello all?"

    run_async(main)
    with dk.ServiceClient(clashing.url, timeout=10) as client:
        client.close()  # the client's close, not the api: later calls fail as on a closed client
        with pytest.raises(RuntimeError):
            client.call("greet", "x")
