"""``dosirak deploy run-local``: run a bundle's image as SageMaker will, and check the contract.

SageMaker starts a container as ``docker run IMAGE serve``, sends ``GET /ping`` until it
answers 200 (an endpoint whose container does not is the classic "did not pass the ping
health check" failure), then ``POST /invocations`` with the caller's body and headers, and
``SIGTERM`` when it replaces or deletes the endpoint. :func:`check_image` does the same
on this machine, before anyone pays for an instance:

- the image built for the config's bundle (the one ``dosirak deploy build`` pushed) runs
  with ``serve``, the config's environment, host networking, and ``SAGEMAKER_BIND_TO_PORT``
  when the port is not 8080, under podman (with runc when present) or docker;
- ``/ping`` must answer 200 once ready, each time within 2 s;
- every api of the bundle is called through ``/invocations`` by
  ``X-Amzn-SageMaker-Custom-Attributes: api=NAME``, with a sample body (the api's OpenAPI
  example, a tiny PNG for an image api, or the caller's own) and must answer 2xx;
- an unknown api name must be a 4xx that names the apis;
- ``SIGTERM`` must stop the container within 35 s.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosirak.bundles import store as bundles
from dosirak.deployers.local import port_is_free, tail
from dosirak.deployers.sagemaker import resolve_environment
from dosirak.deployers.sagemaker_client import bundle_openapi
from dosirak.errors import DeploymentError
from dosirak.metadata.store import get_store

if TYPE_CHECKING:
    from dosirak.deployers.sagemaker_config import DeployConfig
    from dosirak.metadata.records import ImageRecord

log = logging.getLogger(__name__)

PING_LIMIT_S = 2.0
STOP_LIMIT_S = 35.0
_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


@dataclass(frozen=True)
class Check:
    """One contract check: what was checked, whether it held, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class ContractReport:
    """Every check made on ``image``; ``ok`` when all held."""

    image: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def local_image(config: DeployConfig) -> ImageRecord:
    """The image to run: the local build of the config's bundle, the pushed one's source when known."""
    record = bundles.get(config.bundle)
    images = get_store().bundles.list_images(record.id)
    pushed = [i for i in images if i.location == "registry"]
    local = [i for i in images if i.location == "local"]
    if pushed:
        source = pushed[0].extra.get("source")
        local = [i for i in local if i.reference == source] or local
    if not local:
        raise DeploymentError(f"no image of bundle {record.tag} was built here; run `dosirak deploy build -f CONFIG` "
                              "(or `dosirak bundle containerize`) first")
    return local[0]


def runner_command() -> list[str]:
    """How containers are run here: podman (with runc when installed; crun fails on hybrid cgroups) or docker."""
    podman = shutil.which("podman")
    if podman:
        runc = shutil.which("runc") or ("/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else None)
        return [podman, *(["--runtime", runc] if runc else []), "run", "--rm", "--network", "host",
                "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    docker = shutil.which("docker")
    if docker:
        return [docker, "run", "--rm", "--network", "host"]
    raise DeploymentError("neither podman nor docker is installed; `apt-get install podman runc` to run images here")


def sample_bodies(openapi: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    """A body and content type for each api of an OpenAPI document (None-free: apis with no sample are left out)."""
    from dosirak.serving.client import operations

    bodies: dict[str, tuple[bytes, str]] = {}
    for name, op in operations(openapi).items():
        content = ((openapi["paths"][op.route]["post"].get("requestBody") or {}).get("content")) or {}
        if op.input is None or op.input_mode == "none":
            bodies[name] = (b"", "application/json")
        elif "application/json" in content and "example" in content["application/json"]:
            bodies[name] = (json.dumps(content["application/json"]["example"]).encode(), "application/json")
        elif "image/png" in content:
            bodies[name] = (_tiny_png(), "image/png")
    return bodies


def _tiny_png() -> bytes:
    """A valid 28x28 grey PNG, written without PIL (zlib and the PNG chunk layout)."""
    width = height = 28
    raw = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def check_image(config: DeployConfig, *, port: int = 8080, timeout_s: float = 300.0,
                samples: dict[str, tuple[bytes, str]] | None = None,
                progress: Callable[[str], None] | None = None) -> ContractReport:
    """Run the config's image as SageMaker does and check the contract; see the module docstring."""
    say = progress or (lambda line: log.info("%s", line))
    image = local_image(config)
    if not port_is_free("127.0.0.1", port):
        raise DeploymentError(f"port {port} is in use here; pass --port with a free one (the container gets it as "
                              "SAGEMAKER_BIND_TO_PORT)")
    openapi = bundle_openapi(bundles.get(config.bundle).id) or {}
    bodies = {**sample_bodies(openapi), **(samples or {})}
    env = resolve_environment(config)
    if port != 8080:
        env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    name = f"dosirak-run-local-{uuid.uuid4().hex[:12]}"
    command = runner_command() + ["--name", name]
    for key in env:
        command += ["-e", key]  # values pass through the environment, never on the command line
    command += [image.reference, "serve"]
    report = ContractReport(image=image.reference)
    with tempfile.TemporaryDirectory(prefix="dosirak-run-local-") as tmp:
        log_path = Path(tmp) / "container.log"
        say(f"running {image.reference} serve on port {port}")
        with log_path.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **env})
        try:
            _check_running(report, proc, f"http://127.0.0.1:{port}", bodies, openapi, timeout_s, log_path, say)
            _check_sigterm(report, proc, log_path, say)
        finally:
            _remove(proc, command[0], name)
    return report


def _tail(path: Path, lines: int = 8) -> str:
    return " | ".join(tail(path, lines).splitlines())


def _check_running(report: ContractReport, proc: subprocess.Popen[bytes], url: str,
                   bodies: dict[str, tuple[bytes, str]], openapi: dict[str, Any], timeout_s: float, log_path: Path,
                   say: Callable[[str], None]) -> None:
    import httpx

    from dosirak.serving.client import operations

    start = time.monotonic()
    with httpx.Client(timeout=PING_LIMIT_S) as client:
        while True:
            if proc.poll() is not None:
                report.checks.append(Check("ping", False, f"the container exited ({proc.returncode}) before /ping "
                                           f"answered 200: {_tail(log_path)}"))
                return
            try:
                if client.get(f"{url}/ping").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - start > timeout_s:
                report.checks.append(Check("ping", False, f"/ping did not answer 200 within {timeout_s:g} s: "
                                           f"{_tail(log_path)}"))
                return
            time.sleep(0.25)
        ready = time.monotonic() - start
        say(f"/ping answered 200 after {ready:.1f} s")
        slowest = 0.0
        for _ in range(5):
            began = time.monotonic()
            try:
                ok = client.get(f"{url}/ping").status_code == 200
            except httpx.HTTPError:
                ok = False
            slowest = max(slowest, time.monotonic() - began) if ok else float("inf")
        report.checks.append(Check("ping", slowest < PING_LIMIT_S,
                                   f"200 once ready ({ready:.1f} s after start); 5 more pings, slowest "
                                   f"{slowest * 1000:.0f} ms (limit {PING_LIMIT_S:g} s)"))
        names = list(operations(openapi))
        for api in names:
            if api not in bodies:
                report.checks.append(Check(f"invocations api={api}", False, "no sample body for this api; pass "
                                           f"--sample {api}=@FILE"))
                continue
            body, content_type = bodies[api]
            try:
                answer = client.post(f"{url}/invocations", content=body, timeout=60.0,
                                     headers={"content-type": content_type, _ATTRIBUTES: f"api={api}"})
            except httpx.HTTPError as exc:
                report.checks.append(Check(f"invocations api={api}", False, f"no answer: {exc}"))
                continue
            shown = " ".join(answer.text[:120].split())
            report.checks.append(Check(f"invocations api={api}", answer.status_code < 300,
                                       f"HTTP {answer.status_code}: {shown}"))
        try:
            unknown = client.post(f"{url}/invocations", content=b"{}", timeout=30.0,
                                  headers={"content-type": "application/json", _ATTRIBUTES: "api=no_such_api"})
            named = all(n in unknown.text for n in names)
            report.checks.append(Check("invocations api=no_such_api", 400 <= unknown.status_code < 500 and named,
                                       f"HTTP {unknown.status_code}: {' '.join(unknown.text[:160].split())}"))
        except httpx.HTTPError as exc:
            report.checks.append(Check("invocations api=no_such_api", False, f"no answer: {exc}"))


def _check_sigterm(report: ContractReport, proc: subprocess.Popen[bytes], log_path: Path,
                   say: Callable[[str], None]) -> None:
    if proc.poll() is not None:
        return
    say("sending SIGTERM")
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # podman and docker pass it on to the container
    try:
        code = proc.wait(STOP_LIMIT_S)
    except subprocess.TimeoutExpired:
        report.checks.append(Check("SIGTERM", False, f"still running {STOP_LIMIT_S:g} s after SIGTERM: "
                                   f"{_tail(log_path)}"))
        return
    report.checks.append(Check("SIGTERM", True, f"exited with status {code} after {time.monotonic() - began:.1f} s"))


def _remove(proc: subprocess.Popen[bytes], runner: str, name: str) -> None:
    """Make sure the container is gone (killed and removed by the name given to it)."""
    if proc.poll() is None:
        subprocess.run([runner, "rm", "-f", name], capture_output=True, timeout=60, check=False)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


__all__ = ["Check", "ContractReport", "check_image", "local_image", "runner_command", "sample_bodies"]
