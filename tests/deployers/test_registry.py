"""Which repository a deploy config pushes to, and how it is reached."""

from __future__ import annotations

import pytest

from dosirak.deployers.registry import parse_repository
from dosirak.errors import DeploymentError


@pytest.mark.parametrize(("text", "insecure", "ecr_region"), [
    ("127.0.0.1:5000/echo", True, None),
    ("localhost:5000/team/echo", True, None),
    ("localhost/echo", True, None),
    ("127.evil.example/echo", False, None),
    ("localhost.evil.example:5000/echo", False, None),
    ("registry.example.com/echo", False, None),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/dosirak/echo", False, "eu-west-1"),
])
def test_only_a_loopback_registry_is_plain_http_and_ecr_is_recognised(text: str, insecure: bool,
                                                                      ecr_region: str | None) -> None:
    repository = parse_repository(text)
    assert (repository.insecure, repository.ecr_region) == (insecure, ecr_region)
    assert repository.reference("sha256:" + "a" * 64) == f"{text}@sha256:{'a' * 64}"


@pytest.mark.parametrize("text", ["echo", "Host/UPPER", "host/echo:tag", "host/echo@sha256:" + "a" * 64,
                                  "-host/echo", "host/../echo", "host/echo\n"])
def test_what_is_not_a_repository_is_refused(text: str) -> None:
    with pytest.raises(DeploymentError, match="is not an image repository"):
        parse_repository(text)
