"""Request heads against a real server: over the limits they are a 431, cut off before they grow the worker."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.serving.conftest import Server, start_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("protocol"), "--workers", "1")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def exchange(server: Server, head: bytes, timeout: float = 20) -> bytes:
    """Send a raw request head, then read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_431(answer: bytes, says: str) -> None:
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    error = orjson.loads(body)["error"]
    assert error["type"] == "header_fields_too_large" and says in error["message"] and error["request_id"]


def request(*headers: bytes) -> bytes:
    return b"GET /livez HTTP/1.1\r\nHost: x\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def test_a_head_of_1_mb_is_a_431(one_worker: Server) -> None:
    assert_431(exchange(one_worker, request(b"X-Big: " + b"a" * (1 << 20))), "65536 bytes")
    assert httpx.get(one_worker.url + "/livez").status_code == 200


def test_100000_header_fields_are_a_431(one_worker: Server) -> None:
    answer = exchange(one_worker, request(*(b"X-%d: a" % i for i in range(100_000))))
    assert b" 431 " in answer.split(b"\r\n", 1)[0]


def test_more_than_100_header_fields_are_a_431_and_100_are_served(one_worker: Server) -> None:
    fields = [b"X-%d: a" % i for i in range(98)]  # with Host and Connection: 100
    answer = exchange(one_worker, request(b"Connection: close", *fields))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert_431(exchange(one_worker, request(b"Connection: close", b"X-extra: a", *fields)), "100 header fields")


def test_a_head_under_the_limit_is_served(one_worker: Server) -> None:
    answer = exchange(one_worker, request(b"Connection: close", b"X-Big: " + b"a" * 60_000))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_unfinished_huge_heads_are_cut_off_without_growing_the_worker(one_worker: Server) -> None:
    (worker,) = one_worker.worker_pids()
    before = rss_mb(worker)
    sent: list[int] = []
    peak = [before]

    def feed() -> None:
        """Send up to 100 MB of one header that never ends, until the server stops reading."""
        total = 0
        block = b"a" * 65536
        try:
            with socket.create_connection(("127.0.0.1", one_worker.port), timeout=10) as sock:
                sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ")
                while total < 100 << 20:
                    sock.sendall(block)
                    total += len(block)
        except OSError:
            pass  # reset or closed by the server: what is expected
        sent.append(total)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in threads):
        assert time.monotonic() < deadline, "the server kept reading the unfinished heads"
        peak.append(rss_mb(worker))
        time.sleep(0.02)
    assert max(sent) < 32 << 20, sent  # cut off after the limit (and a short drain), not after 100 MB
    assert max(peak) - before < 30, (before, max(peak))
    assert httpx.get(one_worker.url + "/livez").status_code == 200


def test_the_limits_are_serve_options(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1", "--max-header-bytes", "2048", "--max-headers", "10")
    try:
        srv.wait_ready()
        assert_431(exchange(srv, request(b"X-Big: " + b"a" * 3000)), "2048 bytes")
        assert_431(exchange(srv, request(*(b"X-%d: a" % i for i in range(10)))), "10 header fields")
        assert exchange(srv, request(b"Connection: close", b"X-Big: " + b"a" * 1500)).startswith(b"HTTP/1.1 200 ")
    finally:
        srv.stop()


def _read_response(sock: socket.socket) -> bytes:
    """One chunked response read from a keep-alive connection (what /livez sends); b"" if it was closed."""
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    return data


def test_a_request_sent_on_an_idle_keep_alive_connection_while_stopping_is_answered(tmp_path: Path) -> None:
    """A client's next request may be on the wire when the server stops: it gets an answer, then the close."""
    srv = start_server(tmp_path, "--workers", "1")
    try:
        srv.wait_ready()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(request())
            assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
            srv.process.send_signal(signal.SIGTERM)
            # the worker begins its stop within ~0.1 s; the request comes while the connection is idle
            threading.Event().wait(0.5)
            sock.sendall(request())
            answer = _read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert b"connection: close" in answer.lower()
            assert sock.recv(1) == b""  # then closed
        assert srv.process.wait(timeout=30) == 0
    finally:
        srv.stop()


def test_an_idle_keep_alive_connection_is_closed_soon_after_the_stop(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--workers", "1")
    try:
        srv.wait_ready()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
            sock.sendall(request())
            assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
            started = time.monotonic()
            srv.process.send_signal(signal.SIGTERM)
            assert sock.recv(1) == b""
            assert time.monotonic() - started < 5  # not kept for the keep-alive timeout or the graceful timeout
        assert srv.process.wait(timeout=30) == 0
    finally:
        srv.stop()
