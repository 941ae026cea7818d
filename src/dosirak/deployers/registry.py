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

from dosirak.deployers.aws import AWS, error_code, translated
from dosirak.deployers.sagemaker_config import ECR_HOST, REPOSITORY
from dosirak.errors import DeploymentError

if TYPE_CHECKING:
    from dosirak.deployers.sagemaker import Image
    from dosirak.deployers.sagemaker_config import DeployConfig
    from dosirak.metadata.records import ImageRecord

log = logging.getLogger(__name__)
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


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
        """Plain HTTP: only for a registry on the loopback interface."""
        name = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host.split("]")[0] + "]"
        return name.startswith(_LOOPBACK_HOSTS)

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
    from dosirak.bundles import store as bundles
    from dosirak.metadata.store import get_store

    record = bundles.get(bundle_tag)
    prefix = f"{repository.uri}@"
    return [i for i in get_store().list_images(record.id) if i.location == "registry" and i.reference.startswith(prefix)]


def image_for(config: DeployConfig, aws: AWS) -> Image:
    """The image of ``config.bundle`` pushed to the config's repository, as the store recorded it.

    DeploymentError when none was pushed, saying to run ``dosirak deploy build``.
    """
    from dosirak.bundles import store as bundles
    from dosirak.deployers.sagemaker import Image

    repository = repository_for(config, aws)
    tag = bundles.get(config.bundle).tag  # NAME:latest -> the version it is now
    found = pushed_images(tag, repository)
    if found:
        return Image(repository.uri, found[0].digest)
    raise DeploymentError(f"no image of bundle {tag} was pushed to {repository.uri}; run "
                          f"`dosirak deploy build -f CONFIG` first")


__all__ = ["RegistryLogin", "Repository", "ecr_login", "image_for", "ensure_ecr_repository",
           "parse_repository", "pushed_images", "repository_for"]
