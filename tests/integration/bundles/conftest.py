"""Real images: the cached Debian base, containers run as SageMaker runs them, a loopback registry.

Everything here starts real programs (buildah/podman/docker, runc, docker-registry) and
stops or removes only what it started: containers by the name it gave them, images by the
reference it built, the registry by its PID. The base image is built once per machine and
kept (``scripts/setup.sh --test`` installs the programs).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dosirak.bundles.base_image import ensure_base_image
from dosirak.bundles.builders import ImageBuilder, choose
from dosirak.settings import DEFAULT_CONTAINER_BASE_IMAGE
from tests.bundles._fixtures import free_port

#: How SageMaker starts a container, as far as this machine allows (see shared/CONTAINERS.md).
PODMAN_RUN = ["podman", "--runtime", "/usr/sbin/runc", "run", "--ulimit", "nofile=4096:4096",
              "--ulimit", "nproc=4096:4096"]

TINY_SERVICE = '''
import time

import dosirak as dk


@dk.service(name="tiny")
class Tiny:
    @dk.api
    def double(self, x: float) -> float:
        return 2 * x

    @dk.api
    def shout(self, text: str) -> str:
        return text.upper()

    @dk.api
    def wait(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds
'''


def require_programs(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `bash scripts/setup.sh --test` installs them "
                    "(apt: buildah podman runc mmdebstrap docker-registry)")


@pytest.fixture(scope="session")
def image_builder() -> ImageBuilder:
    """The builder ``containerize`` would choose here, with the default base image in its storage."""
    require_programs("podman", "buildah", "mmdebstrap")
    builder = choose("auto")
    ensure_base_image(builder, DEFAULT_CONTAINER_BASE_IMAGE)  # built once per machine, then kept
    return builder


def write_tiny_service(directory: Path, source: str = TINY_SERVICE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "service.py").write_text(source, encoding="utf-8")
    (directory / "dosirak.yaml").write_text('service: "service.py:Tiny"\ninclude: ["service.py"]\n', encoding="utf-8")
    return directory


@dataclass
class Container:
    """A container this test started (by name), reachable on 127.0.0.1:``port``."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        done = subprocess.run(["podman", "logs", self.name], capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        done = subprocess.run(["podman", "inspect", "--format", "{{.State.Running}}", self.name],
                              capture_output=True, text=True, check=False)
        return done.stdout.strip() == "true"

    def exit_code(self) -> int:
        done = subprocess.run(["podman", "inspect", "--format", "{{.State.ExitCode}}", self.name],
                              capture_output=True, text=True, check=True)
        return int(done.stdout.strip())

    def wait_ping(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ping", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not self.running():
                raise AssertionError(f"container {self.name} exited ({self.exit_code()}):\n{self.logs()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.url}/ping did not answer 200 within {timeout_s} s:\n{self.logs()}")


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """Containers a test starts with :func:`start`; each is removed afterwards (by its name)."""
    started: list[Container] = []
    yield started
    for container in started:
        subprocess.run(["podman", "rm", "-f", "-t", "0", container.name], capture_output=True, check=False)


def start(started: list[Container], image: str, *args: str, port_env: str | None = None,
          publish: int | None = None, env: dict[str, str] | None = None) -> Container:
    """Start ``image`` detached, reachable on a free port of 127.0.0.1.

    ``port_env``: share the host's network (as SageMaker does) and tell the container its
    port through that variable; the server is then told ``--host 127.0.0.1``, since tests
    never listen beyond the loopback. ``publish``: map a free port of 127.0.0.1 to this
    container port instead (the server keeps the image's own 0.0.0.0 inside the container).
    """
    port = free_port()
    environment = dict(env or {})
    if publish is not None:
        network = ["-p", f"127.0.0.1:{port}:{publish}"]
    elif port_env is not None:
        network, environment[port_env] = ["--network", "host"], str(port)
        args = (*args, "--host", "127.0.0.1")
    else:
        raise ValueError("give port_env (host network) or publish (a mapped port)")
    container = Container(name=f"dosirak-test-{uuid.uuid4().hex[:10]}", port=port)
    started.append(container)
    flags = [part for key, value in environment.items() for part in ("-e", f"{key}={value}")]
    subprocess.run([*PODMAN_RUN, "-d", "--name", container.name, *network, *flags, image, *args], check=True,
                   capture_output=True)
    return container


@dataclass
class Registry:
    """A CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, with its own storage."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def manifest_digest(self, name: str, tag: str) -> tuple[str, bytes]:
        """The digest the registry answers for ``name:tag``, and the manifest's bytes."""
        accept = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])
        response = httpx.get(f"http://{self.host}/v2/{name}/manifests/{tag}", headers={"accept": accept}, timeout=10)
        response.raise_for_status()
        return response.headers["docker-content-digest"], response.content


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    require_programs("docker-registry")
    port = free_port()
    storage = tmp_path / "registry"
    storage.mkdir()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {storage}}}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n", encoding="utf-8")
    log = (tmp_path / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"docker-registry did not start:\n{(tmp_path / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield Registry(process=process, port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
