"""moto's S3 server on 127.0.0.1 for the artifact store tests, and what S3 itself lists."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.ports import free_port

BUCKET = "dosirak-artifacts"


@contextmanager
def running_moto(log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``moto_server`` on 127.0.0.1 (with ``env`` added to its environment) until the block ends; its URL."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extra (`pip install -e '.[dev]'` brings moto[server])")
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{url}/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer within 30 s: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` on 127.0.0.1 for the session, with one bucket; its URL."""
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        httpx.put(f"{url}/{BUCKET}", timeout=10).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def moto_s3_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` that checks credentials (IAM) from its first request: unknown keys are denied."""
    with running_moto(tmp_path_factory.mktemp("moto-auth") / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as url:
        yield url


def objects(moto_s3: str, config: dict[str, Any]) -> list[str]:
    """Every object key under the store's prefix, as S3 lists it (relative to the prefix)."""
    prefix = config["path"].removeprefix(f"s3://{BUCKET}/") + "/"
    answer = httpx.get(f"{moto_s3}/{BUCKET}", params={"list-type": "2", "prefix": prefix}, timeout=10)
    answer.raise_for_status()
    return sorted(key[len(prefix):] for key in re.findall(r"<Key>([^<]+)</Key>", answer.text))


class SlowS3(ThreadingHTTPServer):
    """An HTTP proxy on 127.0.0.1 in front of moto: a slow link to S3 (every PUT held ``delay_s``
    before it is forwarded), or a failing one (PUTs after the first ``fail_after`` answered 403)."""

    daemon_threads = True

    def __init__(self, target: str, *, delay_s: float = 0.0, fail_after: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _SlowS3Handler)
        self.target = urlsplit(target)
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.puts = 0
        self.put_started = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SlowS3Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SlowS3

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += chunk
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _forward(self) -> None:
        body = self._body()
        if self.command == "PUT":
            with self.server.lock:
                self.server.puts += 1
                number = self.server.puts
            self.server.put_started.set()
            if self.server.fail_after is not None and number > self.server.fail_after:
                denied = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                          b"<Message>Access Denied</Message></Error>")
                self._answer(403, [("Content-Type", "application/xml")], denied)
                return
            time.sleep(self.server.delay_s)  # the slow link itself
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
        connection = http.client.HTTPConnection(self.server.target.hostname or "127.0.0.1", self.server.target.port,
                                                timeout=60)
        try:
            connection.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST")
                               else None, headers={**headers, "Content-Length": str(len(body))})
            answer = connection.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection")]
            self._answer(answer.status, kept, data, length=answer.getheader("content-length"))
        finally:
            connection.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes, length: str | None = None) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


@contextmanager
def slow_s3(moto_s3: str, *, delay_s: float = 0.0, fail_after: int | None = None) -> Iterator[SlowS3]:
    """A :class:`SlowS3` proxy in front of ``moto_s3`` until the block ends."""
    proxy = SlowS3(moto_s3, delay_s=delay_s, fail_after=fail_after)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)
