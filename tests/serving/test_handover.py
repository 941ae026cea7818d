"""Handing a listening socket over a control socket, with real sockets in this process."""

from __future__ import annotations

import os
import selectors
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosirak.errors import SocketHandoverError
from dosirak.serving import handover

pytestmark = pytest.mark.skipif(not handover.available(), reason="socket handover needs Linux (SO_PEERCRED)")


class ControlServer:
    """A control socket answered from a thread, as the supervisor answers it from its loop."""

    def __init__(self, path: Path, listening: socket.socket) -> None:
        self.control = handover.open_control(path)
        self.listening = listening
        self.ready = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.control, selectors.EVENT_READ)
            while not self._stop.is_set():
                if selector.select(timeout=0.05):
                    handover.answer(self.control, self.listening, ready=self.ready)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.control.close()


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


@pytest.fixture
def deep_dir(tmp_path: Path) -> Path:
    """A directory whose control-socket path is longer than a Unix socket address may be."""
    path = tmp_path / ("d" * 60) / ("e" * 60)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def server(deep_dir: Path, listening: socket.socket) -> Iterator[ControlServer]:
    srv = ControlServer(deep_dir / "control.sock", listening)
    yield srv
    srv.close()


def test_the_successor_gets_the_same_socket_and_the_connections_queued_before_the_old_one_closed(
        server: ControlServer, deep_dir: Path, listening: socket.socket) -> None:
    host, port = listening.getsockname()
    taken = handover.take_socket(deep_dir / "control.sock", pid=os.getpid(), host=host, port=port)
    try:
        assert taken.getsockname() == (host, port) and taken.fileno() != listening.fileno()
        clients = [socket.create_connection((host, port), timeout=5) for _ in range(3)]  # queued, not accepted
        listening.close()  # the old server lets go: nothing queued is lost, the queue is the successor's too
        taken.settimeout(5)
        for client in clients:
            conn, _ = taken.accept()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
            conn.close()
            client.close()
    finally:
        taken.close()


def test_the_control_socket_is_private_to_its_user(server: ControlServer, deep_dir: Path) -> None:
    mode = (deep_dir / "control.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_control_socket_served_by_another_process_than_expected_is_refused(
        server: ControlServer, deep_dir: Path, listening: socket.socket) -> None:
    host, port = listening.getsockname()
    with pytest.raises(SocketHandoverError, match=f"not by the expected process {os.getpid() + 1}"):
        handover.take_socket(deep_dir / "control.sock", pid=os.getpid() + 1, host=host, port=port)


def test_a_socket_on_another_address_is_refused(server: ControlServer, deep_dir: Path,
                                                 listening: socket.socket) -> None:
    host, port = listening.getsockname()
    with pytest.raises(SocketHandoverError, match=f"on port {port}, not {port + 1}"):
        handover.take_socket(deep_dir / "control.sock", pid=os.getpid(), host=host, port=port + 1)
    with pytest.raises(SocketHandoverError, match="not 127.0.0.2"):
        handover.take_socket(deep_dir / "control.sock", pid=os.getpid(), host="127.0.0.2", port=port)


def test_ready_is_what_the_server_says_and_false_without_a_server(server: ControlServer, deep_dir: Path) -> None:
    path = deep_dir / "control.sock"
    assert handover.is_ready(path, pid=os.getpid()) is False
    server.ready = True
    assert handover.is_ready(path, pid=os.getpid()) is True
    assert handover.is_ready(path, pid=os.getpid() + 1) is False
    assert handover.is_ready(deep_dir / "nothing.sock", pid=os.getpid()) is False


def test_a_stale_control_socket_file_is_replaced(tmp_path: Path, listening: socket.socket) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, as after a killed server
    srv = ControlServer(path, listening)
    try:
        srv.ready = True
        assert handover.is_ready(path, pid=os.getpid())
    finally:
        srv.close()


def test_only_a_listening_tcp_socket_passes_the_check() -> None:
    with socket.socket() as unbound, pytest.raises(SocketHandoverError, match="not listening"):
        handover.check_listening(unbound)
    with socket.socket(socket.AF_UNIX) as unix, pytest.raises(SocketHandoverError, match="not a TCP socket"):
        handover.check_listening(unix)
