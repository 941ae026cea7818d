"""moto's S3 server on 127.0.0.1 for the artifact store tests, and what S3 itself lists."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ports import free_port

BUCKET = "dosirak-artifacts"


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` on 127.0.0.1 for the session, with one bucket; its URL."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extra (`pip install -e '.[dev]'` brings moto[server])")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
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
        httpx.put(f"{url}/{BUCKET}", timeout=10).raise_for_status()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def objects(moto_s3: str, config: dict[str, Any]) -> list[str]:
    """Every object key under the store's prefix, as S3 lists it (relative to the prefix)."""
    prefix = config["path"].removeprefix(f"s3://{BUCKET}/") + "/"
    answer = httpx.get(f"{moto_s3}/{BUCKET}", params={"list-type": "2", "prefix": prefix}, timeout=10)
    answer.raise_for_status()
    return sorted(key[len(prefix):] for key in re.findall(r"<Key>([^<]+)</Key>", answer.text))
