"""Image repositories for cloud deployments: which one, ECR's creation and login, and auth files.

A deploy config's ``image_repository`` is ``HOST[:PORT]/PATH``, or null for the ECR
repository ``dosirak/NAME`` of the caller's account and region. For an ECR repository
``dosirak deploy build`` creates it when missing and logs in with a token from
``GetAuthorizationToken``: the token is held in memory and handed to the builder's push in
a temporary auth file, deleted afterwards; it is never stored, logged or shown. Any other
registry uses the builder's own login. A registry on the
loopback interface (``127.0.0.1``, ``localhost``, ``[::1]``) is reached over plain HTTP.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dosirak.bundles import store as bundles
from dosirak.bundles.builders import is_loopback_registry
from dosirak.bundles.container import build_image, push_image
from dosirak.deployers.aws import AWS, error_code, translated
from dosirak.deployers.sagemaker import Image
from dosirak.deployers.sagemaker_config import ECR_HOST, REPOSITORY
from dosirak.errors import DeploymentError, ImageError
from dosirak.metadata.store import get_store

if TYPE_CHECKING:
    from collections.abc import Callable

    from dosirak.deployers.sagemaker_config import DeployConfig
    from dosirak.metadata.records import ImageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repository:
    """Where a deployment's image is pushed: ``host/path``, and how to reach it."""

    host: str
    path: str
    ecr_region: str | None = None

    @property
    def uri(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def is_ecr(self) -> bool:
        return self.ecr_region is not None

    @property
    def insecure(self) -> bool:
        """Plain HTTP: only for a registry on the loopback interface (127.x.y.z, localhost)."""
        return is_loopback_registry(self.host)

    def reference(self, digest: str) -> str:
        """``host/path@sha256:...``: the image by digest, as SageMaker is given it."""
        return f"{self.uri}@{digest}"


def parse_repository(text: str) -> Repository:
    """A :class:`Repository` from ``HOST[:PORT]/PATH`` (DeploymentError if it is not one)."""
    found = REPOSITORY.fullmatch(text)
    if not found:
        raise DeploymentError(f"'{text[:80]}' is not an image repository; write HOST[:PORT]/PATH")
    ecr = ECR_HOST.fullmatch(found.group("host"))
    return Repository(found.group("host"), found.group("path"), ecr.group("region") if ecr else None)


def repository_for(config: DeployConfig, aws: AWS | None = None) -> Repository:
    """The configured repository, or ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/dosirak/NAME``."""
    if config.image_repository:
        return parse_repository(config.image_repository)
    aws = aws or AWS(config.region)
    return parse_repository(f"{aws.account_id()}.dkr.ecr.{aws.region}.amazonaws.com/dosirak/{config.name.lower()}")


def ensure_ecr_repository(repository: Repository, aws: AWS) -> bool:
    """Create the ECR repository when it is missing; True when it was created."""
    ecr = aws.client("ecr")
    with translated(f"looking up ECR repository {repository.path}"):
        try:
            ecr.describe_repositories(repositoryNames=[repository.path])
            return False
        except Exception as exc:
            if error_code(exc) != "RepositoryNotFoundException":
                raise
    with translated(f"creating ECR repository {repository.path}"):
        try:
            ecr.create_repository(repositoryName=repository.path, imageScanningConfiguration={"scanOnPush": True},
                                  tags=[{"Key": "dosirak:created-by", "Value": "dosirak deploy build"}])
        except Exception as exc:
            if error_code(exc) == "RepositoryAlreadyExistsException":  # created meanwhile
                return False
            raise
    log.info("created ECR repository %s", repository.uri)
    return True


@dataclass(frozen=True)
class RegistryLogin:
    """A registry login, held in memory only (``repr`` hides the password)."""

    host: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryLogin(host={self.host!r}, username={self.username!r}, password=<hidden>)"


def ecr_login(repository: Repository, aws: AWS) -> RegistryLogin:
    """A login for an ECR registry from ``GetAuthorizationToken`` (valid for 12 hours)."""
    with translated(f"getting an ECR login for {repository.host}"):
        data = aws.client("ecr").get_authorization_token()["authorizationData"][0]
    try:
        username, _, password = base64.b64decode(data["authorizationToken"]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeploymentError(f"ECR answered an authorization token that is not base64 'user:password' ({exc})") from None
    if not password:
        raise DeploymentError("ECR answered an authorization token without a password; retry `dosirak deploy build`")
    return RegistryLogin(repository.host, username, password)


def pushed_images(bundle_tag: str, repository: Repository) -> list[ImageRecord]:
    """Images of the recorded bundle ``bundle_tag`` pushed to ``repository``, newest first (from the store)."""
    record = bundles.get(bundle_tag)
    prefix = f"{repository.uri}@"
    return [i for i in get_store().bundles.list_images(record.id) if i.location == "registry" and i.reference.startswith(prefix)]


def find_pushed(config: DeployConfig, aws: AWS | None) -> Image | None:
    """The newest image of ``config.bundle`` pushed to the config's repository, as the store recorded it."""
    repository = repository_for(config, aws)
    found = pushed_images(bundles.get(config.bundle).tag, repository)  # NAME:latest -> the version it is now
    return Image(repository.uri, found[0].digest) if found else None


def image_for(config: DeployConfig, aws: AWS) -> Image:
    """:func:`find_pushed`, or DeploymentError saying to run ``dosirak deploy build``."""
    image = find_pushed(config, aws)
    if image is None:
        raise DeploymentError(f"no image of bundle {bundles.get(config.bundle).tag} was pushed to "
                              f"{repository_for(config, aws).uri}; run `dosirak deploy build -f CONFIG` first")
    return image


def build_and_push(config: DeployConfig, aws: AWS | None, *,
                   progress: Callable[[str], None] | None = None) -> Image:
    """Build the image of ``config.bundle``, push it to the config's repository, and record it.

    An ECR repository is created when missing and logged in to with ``GetAuthorizationToken``;
    the login goes to the builder's push in a temporary auth file and nowhere else.

    Raises:
        DeploymentError: the push was refused or failed (one line naming the repository).
        ImageError: no builder works, the base image is missing or the build failed.
    """
    say = progress or (lambda line: log.info("%s", line))
    repository = repository_for(config, aws)
    login = None
    if repository.is_ecr:
        ecr_aws = aws if aws is not None and aws.region == repository.ecr_region else AWS(repository.ecr_region)
        if ensure_ecr_repository(repository, ecr_aws):
            say(f"created ECR repository {repository.path} in {repository.ecr_region}")
        login = ecr_login(repository, ecr_aws)
    built = build_image(config.bundle, builder=None if config.builder == "auto" else config.builder,
                        base_image=config.base_image, progress=say)
    say(f"built {built.reference} ({built.digest}, {built.size} bytes); pushing to {repository.uri}")
    try:
        pushed = push_image(built, repository.uri, username=login.username if login else None,
                            password=login.password if login else None, progress=say)
    except ImageError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = lines[-1] if len(lines) > 1 else (lines[0] if lines else "no reason given")
        raise DeploymentError(f"pushing {built.reference} to {repository.uri} failed: {why[:400]}; check that "
                              "the repository exists and that you may push there") from None
    return Image(repository.uri, pushed.digest)


def delete_image(repository: Repository, digest: str, aws: AWS | None = None) -> None:
    """Delete the image ``digest`` from ``repository`` (ECR: BatchDeleteImage; else the registry API).

    Another registry is asked anonymously (``DELETE /v2/PATH/manifests/DIGEST``, plain HTTP on
    the loopback); one that refuses says so, with what to do.
    """
    if repository.is_ecr:
        ecr = (aws if aws is not None and aws.region == repository.ecr_region else AWS(repository.ecr_region))
        with translated(f"deleting image {repository.reference(digest)}"):
            answer = ecr.client("ecr").batch_delete_image(repositoryName=repository.path,
                                                          imageIds=[{"imageDigest": digest}])
        failures = [f for f in answer.get("failures", []) if f.get("failureCode") != "ImageNotFound"]
        if failures:
            raise DeploymentError(f"ECR did not delete {repository.reference(digest)}: "
                                  f"{failures[0].get('failureReason')}")
        return
    import httpx

    scheme = "http" if repository.insecure else "https"
    url = f"{scheme}://{repository.host}/v2/{repository.path}/manifests/{digest}"
    try:
        answer = httpx.delete(url, timeout=30.0)
    except httpx.HTTPError as exc:
        raise DeploymentError(f"cannot reach {repository.host} to delete {repository.reference(digest)}: {exc}") from None
    if answer.status_code not in (202, 404):
        raise DeploymentError(f"{repository.host} refused to delete {repository.reference(digest)} (HTTP "
                              f"{answer.status_code}); delete it with the registry's own tools")


__all__ = ["RegistryLogin", "Repository", "build_and_push", "delete_image", "ecr_login", "find_pushed", "image_for", "ensure_ecr_repository",
           "parse_repository", "pushed_images", "repository_for"]
