"""moto's S3 server on 127.0.0.1 for the artifact store tests, and what S3 itself lists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
