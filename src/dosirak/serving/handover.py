"""Handing a server's listening socket to its successor, so a redeployed service keeps its port.

A ``dosirak serve`` started with a control socket (``--control-socket PATH``, a Unix
socket, mode 0600) answers two one-line requests there, from processes of the same user
only (checked with ``SO_PEERCRED``):

* ``ready``: ``1`` when every worker has loaded the service (what ``/readyz`` says), else ``0``;
* ``socket``: ``ok``, with the listening TCP socket itself attached (``SCM_RIGHTS``).

A successor that took the socket (``dosirak serve --fd N``) accepts from the *same*
socket, and so from the same accept queue, as the server it replaces: there is no second
listener for the kernel to hash connections to, and no queue that a closing listener
would reset. The old server stops accepting only when told to stop (SIGTERM), after the
successor answered ``ready``; connections waiting in the queue are then taken by the
successor. Nothing else can bind the port meanwhile (no ``SO_REUSEPORT``).

:func:`take_socket` checks, before it returns a socket, that the control socket's server
is the process the caller expects (its PID) and that the socket received is a listening
TCP socket on the expected port. Linux only (``SO_PEERCRED``); elsewhere
:func:`available` is False and callers bind a new port instead.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from dosirak.errors import SocketHandoverError

logger = logging.getLogger(__name__)

#: Longest control-socket path bound directly; longer ones go through ``/proc/self/fd``.
_MAX_DIRECT_PATH = 100
_CRED = struct.Struct("3i")  # pid, uid, gid
_LINE = 64


def available() -> bool:
    """Whether this platform can hand sockets over (Linux: ``SO_PEERCRED`` and ``/proc/self/fd``)."""
    return hasattr(socket, "SO_PEERCRED") and os.path.isdir("/proc/self/fd")


@contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits a Unix socket address (108 bytes), however deep ``path`` is."""
    if len(os.fsencode(str(path))) < _MAX_DIRECT_PATH:
        yield str(path)
        return
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


def peer(conn: socket.socket) -> tuple[int, int]:
    """``(pid, uid)`` of the process at the other end of a Unix socket (the listener's, seen by a client)."""
    pid, uid, _ = _CRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))
    return pid, uid


def open_control(path: Path) -> socket.socket:
    """Listen on the Unix socket ``path`` (mode 0600), non-blocking; a stale socket file there is replaced."""
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        with _address(path) as address:
            sock.bind(address)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(previous)
    sock.listen(8)
    sock.setblocking(False)
    return sock


def answer(control: socket.socket, listening: socket.socket, *, ready: bool) -> None:
    """Answer one pending request on ``control`` (see the module docstring); a slow peer gets 2 s.

    A peer of another user is refused unanswered and logged.
    """
    try:
        conn, _ = control.accept()
    except (BlockingIOError, InterruptedError):
        return
    with conn:
        conn.settimeout(2.0)
        try:
            pid, uid = peer(conn)
            if uid != os.getuid():
                logger.warning("refused a control request from process %d of user %d", pid, uid)
                return
            request = _read_line(conn)
            if request == b"ready":
                conn.sendall(b"1\n" if ready else b"0\n")
            elif request == b"socket":
                socket.send_fds(conn, [b"ok\n"], [listening.fileno()])
                logger.info("handed the listening socket to process %d", pid)
            else:
                conn.sendall(b"error: unknown request\n")
        except OSError as exc:
            logger.warning("a control request failed: %s", exc)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < _LINE:
        chunk = conn.recv(_LINE)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].strip()


def _ask(path: Path, request: bytes, *, pid: int, timeout_s: float) -> tuple[bytes, list[int]]:
    """Send ``request`` to the control socket at ``path`` served by process ``pid``; the reply and any fds."""
    if not available():
        raise SocketHandoverError("handing a listening socket over needs Linux (SO_PEERCRED)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        with _address(path) as address:
            conn.connect(address)
        server_pid, uid = peer(conn)
        if server_pid != pid or uid != os.getuid():
            raise SocketHandoverError(f"the control socket {path} is served by process {server_pid} (user {uid}), "
                                      f"not by the expected process {pid}; refusing to use it")
        conn.sendall(request + b"\n")
        reply, fds, _, _ = socket.recv_fds(conn, _LINE, 4)
    return reply, fds


def is_ready(path: Path, *, pid: int, timeout_s: float = 2.0) -> bool:
    """Whether the server of process ``pid`` says on its control socket ``path`` that it is ready."""
    try:
        reply, fds = _ask(path, b"ready", pid=pid, timeout_s=timeout_s)
    except (OSError, SocketHandoverError):
        return False
    for fd in fds:
        os.close(fd)
    return reply.startswith(b"1")


def take_socket(path: Path, *, pid: int, host: str, port: int, timeout_s: float = 5.0) -> socket.socket:
    """The listening socket of the server of process ``pid``, asked for on its control socket ``path``.

    Raises:
        SocketHandoverError: the control socket is not served by ``pid`` (or by another user),
            did not hand a socket over, or the socket is not a listening TCP socket on
            ``host:port``. An ``OSError`` when the control socket cannot be reached.
    """
    reply, fds = _ask(path, b"socket", pid=pid, timeout_s=timeout_s)
    if not reply.startswith(b"ok") or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise SocketHandoverError(f"process {pid} did not hand its listening socket over "
                                  f"({reply.decode('utf-8', 'replace').strip() or 'no answer'})")
    sock = socket.socket(fileno=fds[0])
    try:
        check_listening(sock, host=host, port=port)
    except BaseException:
        sock.close()
        raise
    return sock


def check_listening(sock: socket.socket, *, host: str | None = None, port: int | None = None) -> None:
    """Raise SocketHandoverError unless ``sock`` is a listening TCP socket (on ``host:port`` when given)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        raise SocketHandoverError(f"socket fd {sock.fileno()} is not a TCP socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise SocketHandoverError(f"socket fd {sock.fileno()} is not listening")
    bound_host, bound_port = sock.getsockname()[:2]
    if port is not None and bound_port != port:
        raise SocketHandoverError(f"the socket handed over listens on port {bound_port}, not {port}")
    if host is not None:
        with suppress(ValueError):  # a host name: the port is what identifies it
            if ipaddress.ip_address(host) != ipaddress.ip_address(bound_host):
                raise SocketHandoverError(f"the socket handed over listens on {bound_host}, not {host}")


__all__ = ["answer", "available", "check_listening", "is_ready", "open_control", "peer", "take_socket"]
