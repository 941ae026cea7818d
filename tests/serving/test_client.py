"""The client boundary: httpx's failures come out as specific :mod:`dosirak.errors` types."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

import dosirak as dk
from dosirak.errors import ClientError, ServiceTimeoutError, ServiceUnreachableError
from tests.ports import free_port


def _listener(answer: bytes | None) -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that reads a request, then sends ``answer`` and closes (None: stays silent)."""
    sock = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        sock.settimeout(0.1)
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            if answer is None:
                held.append(conn)  # silent: the client must time out
                continue
            conn.sendall(answer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        sock.close()


@pytest.fixture
def hangs_up() -> Iterator[str]:
    yield from _listener(b"")


@pytest.fixture
def silent() -> Iterator[str]:
    yield from _listener(None)


def test_a_refused_connection_raises_service_unreachable() -> None:
    with dk.ServiceClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client:
        with pytest.raises(ServiceUnreachableError, match="is the service running") as caught:
            client.call("predict", 1)
    assert isinstance(caught.value, ClientError)


def test_a_connection_closed_before_any_answer_raises_service_unreachable(hangs_up: str) -> None:
    with dk.ServiceClient(hangs_up, timeout=5) as client:
        with pytest.raises(ServiceUnreachableError):
            client.apis  # noqa: B018


def test_a_service_that_does_not_answer_in_time_raises_service_timeout(silent: str) -> None:
    with dk.ServiceClient(silent, timeout=0.3) as client:
        with pytest.raises(ServiceTimeoutError, match="timed out"):
            client.apis  # noqa: B018


def test_the_async_client_translates_the_same_failures() -> None:
    import asyncio

    async def call() -> None:
        async with dk.AsyncServiceClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client:
            await client.apis()

    with pytest.raises(ServiceUnreachableError):
        asyncio.run(call())
