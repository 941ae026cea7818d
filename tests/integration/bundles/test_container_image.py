"""Real images of a small bundle, built, run as SageMaker runs them, stopped, tampered with and pushed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosirak.bundles import store
from dosirak.bundles.builder import build_from_file
from dosirak.bundles.builders import ImageBuilder
from dosirak.bundles.container import build_image, images
from dosirak.errors import ImageError
from dosirak.metadata.records import ImageRecord
from dosirak.metadata.store import close_stores
from dosirak.settings import DEFAULT_CONTAINER_BASE_IMAGE, reset_settings
from tests.integration.bundles.conftest import (
    PODMAN_RUN,
    Container,
    Registry,
    start,
    write_tiny_service,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
DOSIRAK = [sys.executable, "-m", "dosirak.cli.main"]


@pytest.fixture(scope="module")
def tiny_image(image_builder: ImageBuilder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRecord]:
    """An image of the tiny bundle, built once for this module in a home of its own; removed afterwards."""
    home = tmp_path_factory.mktemp("image_home")
    service_dir = write_tiny_service(tmp_path_factory.mktemp("tiny"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOSIRAK_HOME", str(home))
        reset_settings()
        try:
            bundle = build_from_file(service_dir / "dosirak.yaml")
            image = build_image(bundle.tag, image=f"localhost/dosirak-test-tiny:{uuid.uuid4().hex[:8]}")
        finally:
            close_stores()
            reset_settings()
    try:
        yield image
    finally:
        image_builder.remove(image.reference)


def test_the_image_is_recorded_with_its_digest_size_builder_and_base(tiny_image: ImageRecord,
                                                                        image_builder: ImageBuilder) -> None:
    local = image_builder.inspect(tiny_image.reference)
    assert local is not None and local.digest == tiny_image.digest and local.size == tiny_image.size
    assert tiny_image.builder == image_builder.name and tiny_image.base_image == DEFAULT_CONTAINER_BASE_IMAGE
    assert tiny_image.location == "local" and tiny_image.bundle_tag.startswith("tiny:")
    done = subprocess.run(["podman", "image", "inspect", tiny_image.reference], capture_output=True, text=True,
                          check=True)
    config = json.loads(done.stdout)[0]["Config"]
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert config["Entrypoint"] == ["/opt/dosirak/bin/dosirak", "image-entrypoint", "/home/dosirak/bundle"]
    assert config["User"] == "1000:1000"


def test_started_as_sagemaker_does_it_pings_and_routes_invocations_by_custom_attribute(
        tiny_image: ImageRecord, containers: list[Container]) -> None:
    container = start(containers, tiny_image.reference, "serve", port_env="SAGEMAKER_BIND_TO_PORT")
    asked = time.monotonic()
    container.wait_ping()
    assert time.monotonic() - asked < 60
    ping = httpx.get(container.url + "/ping", timeout=2)
    assert ping.status_code == 200
    url = container.url + "/invocations"
    assert httpx.post(url, json=21, headers={ATTRIBUTES: "api=double"}).json() == 42
    assert httpx.post(url, json="hey", headers={ATTRIBUTES: "trace=7,api=shout"}).json() == "HEY"
    assert httpx.post(url, json=0.0, headers={ATTRIBUTES: "api=wait"}).json() == 0.0
    assert httpx.post(url, json=4).json() == 8  # no attribute: the default (first) api
    unknown = httpx.post(url, json=4, headers={ATTRIBUTES: "api=predict"})
    assert unknown.status_code == 404 and "double, shout, wait" in unknown.json()["error"]["message"]
    assert httpx.post(container.url + "/shout", json="own route").json() == "OWN ROUTE"


def test_a_plain_start_serves_on_3000_and_serve_on_8080(tiny_image: ImageRecord, containers: list[Container]) -> None:
    plain = start(containers, tiny_image.reference, publish=3000)
    sagemaker = start(containers, tiny_image.reference, "serve", publish=8080)
    for container in (plain, sagemaker):
        container.wait_ping()
        assert httpx.post(container.url + "/double", json=1.5).json() == 3.0
    assert "listening on http://0.0.0.0:3000" in plain.logs()
    assert "listening on http://0.0.0.0:8080" in sagemaker.logs()
    by_env = start(containers, tiny_image.reference, port_env="DOSIRAK_PORT")
    by_env.wait_ping()


def test_sigterm_lets_the_request_in_flight_finish_and_the_container_exits_within_30_s(
        tiny_image: ImageRecord, containers: list[Container]) -> None:
    container = start(containers, tiny_image.reference, "serve", port_env="SAGEMAKER_BIND_TO_PORT")
    container.wait_ping()
    answer: dict[str, Any] = {}

    def call() -> None:
        response = httpx.post(container.url + "/invocations", json=3.0, headers={ATTRIBUTES: "api=wait"}, timeout=30)
        answer["status"], answer["body"] = response.status_code, response.json()

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(1.0)  # the request is being served when the container is told to stop
    stopped = time.monotonic()
    subprocess.run(["podman", "stop", "-t", "60", container.name], check=True, capture_output=True)
    took = time.monotonic() - stopped
    caller.join(timeout=30)
    assert answer == {"status": 200, "body": 3.0}
    assert took < 30 and container.exit_code() == 0, container.logs()
    assert "draining in-flight requests" in container.logs()


def test_an_image_whose_bundle_was_tampered_with_refuses_to_serve(tiny_image: ImageRecord, image_builder: ImageBuilder,
                                                                    tmp_path: Path) -> None:
    context = tmp_path / "tampered"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {tiny_image.reference}\nUSER 0\n"
        "RUN echo 'def backdoor(): pass' >> /home/dosirak/bundle/src/service.py\nUSER 1000:1000\n")
    reference = f"localhost/dosirak-test-tampered:{uuid.uuid4().hex[:8]}"
    image_builder.build(context, reference)
    try:
        done = subprocess.run([*PODMAN_RUN, "--rm", "--network", "none", reference, "serve"], capture_output=True,
                              text=True, timeout=120, check=False)
    finally:
        image_builder.remove(reference)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "src/service.py" in done.stderr and "MANIFEST" in done.stderr
    assert "listening" not in done.stdout + done.stderr


def test_containerize_pushes_to_a_loopback_registry_and_records_the_digest_it_answers(
        image_builder: ImageBuilder, registry: Registry, tmp_path: Path, dosirak_home: Path) -> None:
    service_dir = write_tiny_service(tmp_path / "tiny")
    tag = build_from_file(service_dir / "dosirak.yaml").tag
    reference = f"localhost/dosirak-test-pushed:{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DOSIRAK_HOME": str(dosirak_home)}
    done = subprocess.run([*DOSIRAK, "bundle", "containerize", tag, "--tag", reference, "--push",
                           f"{registry.host}/team/tiny", "--json"], capture_output=True, text=True, env=env,
                          timeout=900, check=False)
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        pushed_tag = reference.rsplit(":", 1)[1]
        digest, manifest = registry.manifest_digest("team/tiny", pushed_tag)
        assert result["pushed"]["digest"] == digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
        assert result["pushed"]["reference"] == f"{registry.host}/team/tiny@{digest}"
        assert result["image"]["reference"] == reference and result["image"]["builder"] == image_builder.name
        recorded = images(tag)
        assert [(i.location, i.reference) for i in recorded] == [
            ("registry", f"{registry.host}/team/tiny@{digest}"), ("local", reference)]
        shown = subprocess.run([*DOSIRAK, "bundle", "show", tag, "--json"], capture_output=True, text=True, env=env,
                               check=True)
        assert [i["digest"] for i in json.loads(shown.stdout)["images"]] == [digest, recorded[1].digest]
        text = subprocess.run([*DOSIRAK, "bundle", "show", tag], capture_output=True, text=True,
                              env={**env, "COLUMNS": "300"}, check=True).stdout
        assert reference in text and "registry" in text
    finally:
        image_builder.remove(reference)


def test_a_rebuild_after_a_code_only_change_reuses_the_dependency_layers(
        image_builder: ImageBuilder, tmp_path: Path) -> None:
    service_dir = write_tiny_service(tmp_path / "tiny")
    lines: list[str] = []
    first = build_image(build_from_file(service_dir / "dosirak.yaml").tag,
                        image=f"localhost/dosirak-test-rebuilt:{uuid.uuid4().hex[:8]}")
    write_tiny_service(service_dir, (service_dir / "service.py").read_text() + "\n# a code-only change\n")
    second_tag = build_from_file(service_dir / "dosirak.yaml").tag
    second = build_image(second_tag, image=f"localhost/dosirak-test-rebuilt:{uuid.uuid4().hex[:8]}",
                         progress=lines.append)
    try:
        wheelhouse_step, dosirak_step = [i for i, line in enumerate(lines) if "pip install --no-index" in line]
        # the line after a step says whether its layer came from the cache
        assert "Using cache" in lines[wheelhouse_step + 1], lines[wheelhouse_step: wheelhouse_step + 3]
        same_dosirak = _wheel_bytes(first) == _wheel_bytes(second)  # others may edit dosirak's source meanwhile
        assert ("Using cache" in lines[dosirak_step + 1]) is same_dosirak, lines[dosirak_step: dosirak_step + 3]
        assert "COPY bundle/" in "\n".join(lines) and second.digest != first.digest
        assert store.get(second_tag).id == images(second_tag)[0].bundle_id
    finally:
        image_builder.remove(first.reference)
        image_builder.remove(second.reference)


def _wheel_bytes(image: ImageRecord) -> bytes:
    [wheel] = (Path(image.extra["context"]) / "dosirak").glob("dosirak-*.whl")
    return wheel.read_bytes()


def test_a_missing_local_base_image_and_a_base_without_python_are_clear_errors(
        image_builder: ImageBuilder, tmp_path: Path) -> None:
    tag = build_from_file(write_tiny_service(tmp_path / "tiny") / "dosirak.yaml").tag
    with pytest.raises(ImageError, match=r"base image localhost/dosirak-test-missing:1 does not exist in \w+'s storage"):
        build_image(tag, base_image="localhost/dosirak-test-missing:1")
    context = tmp_path / "no-python"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {DEFAULT_CONTAINER_BASE_IMAGE}\nRUN rm -f /usr/bin/python3*\n")
    base = f"localhost/dosirak-test-no-python:{uuid.uuid4().hex[:8]}"
    image_builder.build(context, base)
    try:
        with pytest.raises(ImageError) as caught:
            build_image(tag, base_image=base, image=f"localhost/dosirak-test-unbuilt:{uuid.uuid4().hex[:8]}")
    finally:
        image_builder.remove(base)
    first, *last_lines = str(caught.value).splitlines()
    assert re.fullmatch(r"\w+ build of localhost/dosirak-test-unbuilt:\w+ failed \(exit status \d+\); its last lines:",
                        first)
    assert any("python3" in line and "not found" in line for line in last_lines), last_lines
    assert images(tag) == []  # nothing recorded for a build that failed
