"""Ports for the servers tests start: free now, and outside the kernel's ephemeral range.

A port the kernel hands out for ``bind(0)`` lies in the ephemeral range, where it may be
given again to any outgoing connection (an HTTP client's source port) before the test's
server binds it seconds later. Ports below that range are never handed out on their own,
so a free one stays free unless another test picks the same one by chance.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that binds now and that the kernel does not hand out to clients."""
    high = min(_ephemeral_low(), 65536) - 1
    for _ in range(200):
        port = random.randint(20000, max(high, 20001))
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found on {host} between 20000 and {high}")
