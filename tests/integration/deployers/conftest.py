"""Real stand-ins for the cloud: moto's server on 127.0.0.1 (AWS) and Debian's docker-registry (images).

moto answers SageMaker, sagemaker-runtime (canned replies), ECR (repositories and tokens,
no image storage), STS and Application Auto Scaling; boto3 reaches it through
``AWS_ENDPOINT_URL``, so the product code runs unchanged. Images are pushed to a real
registry on loopback (plain HTTP, as for any registry on 127.0.0.1).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_answers(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout_s} s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server -p PORT`` on 127.0.0.1 for the whole session; its URL."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the dev extra (`pip install -e '.[dev]'` brings moto[server])")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answers(f"{url}/moto-api/", proc, log)
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh moto account: AWS_ENDPOINT_URL at moto, dummy credentials, no profile; the region."""
    httpx.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return "us-east-1"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1; its ``host:port``."""
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.fail("docker-registry is missing: `apt-get install -y docker-registry` (scripts/setup.sh --test)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_answers(f"http://127.0.0.1:{port}/v2/", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@dataclass(frozen=True)
class PushedImage:
    repository: str
    digest: str


def push_tiny_image(registry: str, repository_path: str, tmp_path: Path, content: str) -> PushedImage:
    """Build a one-file image with buildah and push it to ``registry``; the digest read back from the push."""
    buildah = shutil.which("buildah")
    if buildah is None:
        pytest.fail("buildah is missing: `apt-get install -y buildah` (scripts/setup.sh --test)")
    local = f"localhost/dosirak-test-{uuid.uuid4().hex[:12]}:1"
    (tmp_path / "payload.txt").write_text(content)

    def run(*args: str) -> str:
        done = subprocess.run([buildah, *args], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"buildah {' '.join(args)}: {done.stderr[-1000:]}")
        return done.stdout.strip()

    container = run("from", "scratch")
    try:
        run("copy", container, str(tmp_path / "payload.txt"), "/payload.txt")
        run("commit", "-q", container, local)
    finally:
        run("rm", container)
    digest_file = tmp_path / "digest"
    try:
        run("push", "--tls-verify=false", "--digestfile", str(digest_file), local,
            f"docker://{registry}/{repository_path}:1")
    finally:
        run("rmi", local)
    return PushedImage(f"{registry}/{repository_path}", digest_file.read_text().strip())
