"""A real ``dosirak serve`` subprocess on 127.0.0.1, stopped by the test that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.ports import free_port

T = TypeVar("T")

SAMPLE = Path(__file__).resolve().parents[2] / "serving" / "sample_service.py"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log.read_text()}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return int(self.process.returncode)


def start_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None,
                 spec: str = f"{SAMPLE}:Sample") -> Server:
    port = port or free_port()
    log = tmp_path / f"serve-{port}.log"
    command = [sys.executable, "-m", "dosirak.cli.main", "serve", spec, "--host", "127.0.0.1",
               "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    return Server(process, port, log)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` in a fresh thread: immune to an event loop another library left set."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(main()))
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Two workers serving the sample service, ready."""
    srv = start_server(tmp_path, "--workers", "2")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
