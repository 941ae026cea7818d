"""Turn a bundle into a container image, record it, and push it to a registry.

Example::

    from dosirak.bundles.container import build_image, push_image

    image = build_image("fashion_mnist:latest")                   # buildah, podman or docker
    image.reference, image.digest, image.size                     # localhost/fashion_mnist:2026..., sha256:...
    pushed = push_image(image.reference, "127.0.0.1:5000/fashion_mnist")
    pushed.reference                                              # 127.0.0.1:5000/fashion_mnist@sha256:...

:func:`write_context` writes the build context: the bundle, unchanged, as ``bundle/`` (the
image verifies its MANIFEST when it starts), a wheel of the running dosirak as
``dosirak/``, the wheelhouse as ``wheels/`` (or, without one, ``requirements.txt``), and
the ``Dockerfile``. :func:`build_image` builds it with the first builder that works
(:mod:`dosirak.bundles.builders`) on the base image (:mod:`dosirak.bundles.base_image`)
and records the image against its bundle in the metadata store; :func:`push_image` pushes
a recorded image and records the pushed reference and the registry's digest.
"""

from __future__ import annotations

import logging
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dosirak
from dosirak.bundles import builders, store, wheelhouse
from dosirak.bundles.base_image import ensure_base_image
from dosirak.bundles.builders import ImageBuilder, Progress, Reference, parse_reference
from dosirak.bundles.bundle import Bundle
from dosirak.bundles.requirements import Pin, extra_index_urls
from dosirak.errors import BundleError, ImageError
from dosirak.metadata.records import ImageRecord
from dosirak.metadata.store import get_store
from dosirak.names import path_under
from dosirak.settings import get_settings

log = logging.getLogger(__name__)

#: What a build context written by :func:`write_context` holds: only such a directory is replaced.
CONTEXT_ENTRIES = frozenset({"bundle", "Dockerfile", "dosirak", "wheels", "requirements.txt"})
_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+")
_SYSTEM_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,99}")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ImageOptions:
    """How a bundle becomes an image: base, wheelhouse, trust, and where the context goes."""

    base_image: str
    wheelhouse: bool = True
    trusted: bool = False
    system_packages: tuple[str, ...] = ()


def default_reference(name: str, version: str) -> str:
    """``localhost/NAME:VERSION``, the name lower-cased into the image grammar."""
    path = _SEPARATORS.sub("-", name.lower()).strip("-") or "bundle"
    return f"localhost/{path}:{version}"


def python_version() -> str:
    """``MAJOR.MINOR`` of this interpreter: the Python the requirements were pinned with."""
    return ".".join(platform.python_version_tuple()[:2])


def render_dockerfile(*, name: str, version: str, base_image: str, wheelhouse: bool = True,
                      system_packages: tuple[str, ...] | list[str] = (), extra_index_urls: list[str] | None = None) -> str:
    """The Dockerfile of a bundle's image (also written as the bundle's ``env/Dockerfile``)."""
    import jinja2

    parse_reference(base_image, "base image")
    for package in system_packages:
        if not _SYSTEM_PACKAGE.fullmatch(str(package)):
            raise BundleError(f"system package {str(package)[:80]!r} is not a Debian package name")
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("dosirak.bundles", "templates"), keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,  # noqa: S701 - a Dockerfile, not HTML
    ).get_template("Dockerfile.j2")
    return template.render(
        name=name, version=version, dosirak_version=dosirak.__version__, base_image=base_image,
        wheelhouse=wheelhouse, python=python_version(), system_packages=list(system_packages),
        extra_index_urls=extra_index_urls or [],
    )


def bundle_requirements(bundle: Bundle) -> list[str]:
    """The bundle's pinned requirements (``NAME==VERSION``), each checked before it reaches pip."""
    pins = [str(line) for line in bundle.info.get("requirements") or []]
    for line in pins:
        if not _PIN.fullmatch(line):
            raise BundleError(f"bundle {bundle.tag}: requirement {line[:80]!r} is not NAME==VERSION")
    return pins


def bundle_options(bundle: Bundle, *, base_image: str | None = None, wheelhouse: bool = True,
                   trusted: bool = False) -> ImageOptions:
    """Options for ``bundle``: ``base_image`` > the bundle's ``docker.base_image`` > the setting."""
    found = bundle.info.get("docker")
    docker: dict[str, Any] = found if isinstance(found, dict) else {}
    base = base_image or docker.get("base_image") or get_settings().container_base_image
    parse_reference(str(base), "base image")
    packages = tuple(str(p) for p in docker.get("system_packages") or [])
    return ImageOptions(base_image=str(base), wheelhouse=wheelhouse, trusted=trusted, system_packages=packages)


def default_context_dir(bundle: Bundle) -> Path:
    return path_under(get_settings().home / "containers", bundle.name, bundle.version, error=BundleError)


def write_context(bundle: Bundle, context: Path, options: ImageOptions, *, progress: Progress | None = None) -> Path:
    """Write the build context of ``bundle`` into ``context`` (replacing one dosirak wrote there).

    Raises:
        BundleError: ``context`` holds something dosirak did not write.
        ImageError: the dosirak wheel or the wheelhouse cannot be made.
    """
    if context.exists() or context.is_symlink():
        leftovers = {p.name for p in context.iterdir()} if context.is_dir() and not context.is_symlink() else {"?"}
        if leftovers and not leftovers <= CONTEXT_ENTRIES:
            raise BundleError(f"{context} exists and is not a build context dosirak wrote "
                              f"(it holds {', '.join(sorted(leftovers)[:5])}); choose another --output")
        shutil.rmtree(context)
    context.mkdir(parents=True)
    requirements = bundle_requirements(bundle)
    shutil.copytree(bundle.path, context / "bundle", symlinks=True)
    _readable_by_all(context / "bundle")
    own_wheel = wheelhouse.dosirak_wheel(context / "dosirak", progress=progress)
    if options.wheelhouse:
        wheels = wheelhouse.fill(context / "wheels", dosirak_wheel_path=own_wheel, requirements=requirements,
                                 cache=get_settings().home / "containers" / "wheels", progress=progress)
        (context / "wheels" / "requirements.txt").write_text(wheelhouse.hashed_requirements(wheels), encoding="utf-8")
    else:
        lines = sorted(set(requirements) | set(wheelhouse.wheel_requirements(own_wheel)))
        (context / "requirements.txt").write_text(
            "# the bundle's pinned requirements and dosirak's own\n" + "\n".join(lines) + "\n", encoding="utf-8")

    pins_read = [Pin(name=line.partition("==")[0].partition("[")[0], extras="", version=line.partition("==")[2],
                     reason="bundle") for line in requirements]
    (context / "Dockerfile").write_text(render_dockerfile(
        name=bundle.name, version=bundle.version, base_image=options.base_image, wheelhouse=options.wheelhouse,
        system_packages=options.system_packages,
        extra_index_urls=[] if options.wheelhouse else extra_index_urls(pins_read),
    ), encoding="utf-8")
    return context


def _readable_by_all(root: Path) -> None:
    """Modes the image's unprivileged user can read (files the stores wrote 0600 included); the copy only."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_image(
    tag: str,
    *,
    builder: str | None = None,
    base_image: str | None = None,
    wheelhouse: bool = True,
    image: str | None = None,
    trusted: bool | None = None,
    output: Path | None = None,
    no_cache: bool = False,
    progress: Progress | None = None,
) -> ImageRecord:
    """Build the container image of bundle ``tag`` and record it against the bundle.

    Args:
        tag: the bundle (``name:version``, ``name:latest`` or its directory, if recorded).
        builder: ``auto`` (the first of docker, podman, buildah that works), or one of them
            [default: the ``container_builder`` setting].
        base_image: the image to start from [default: the bundle's ``docker.base_image``, else
            the ``container_base_image`` setting]; the default Debian base is made here when missing.
        wheelhouse: install every requirement from wheels taken from this environment
            (offline, exact builds); False installs them from an index by version.
        image: the image reference to build [default: ``localhost/NAME:VERSION``].
        trusted: let the image load pickled models [default: the bundle was built here].
        output: the build context directory [default: ``DOSIRAK_HOME/containers/NAME/VERSION``].
        no_cache: rebuild every layer instead of reusing the builder's cached ones.
        progress: called with each line of the builder's output.

    Raises:
        ImageError: no builder works (the message says where the context was written), the
            base image is missing, or the build failed (with its last lines).
        BundleError: the bundle fails verification or is not in the store.
    """
    path, record = store.resolve(tag)
    bundle = Bundle.open(path, check=True)
    if record is None:
        raise BundleError(f"{path} is not a bundle of this store, so its image could not be recorded; "
                          "`dosirak bundle import` it first")
    options = bundle_options(bundle, base_image=base_image, wheelhouse=wheelhouse,
                             trusted=(not record.imported) if trusted is None else trusted)
    reference = _image_reference(image, bundle)
    context = Path(output) if output else default_context_dir(bundle)
    try:
        chosen = builders.choose(builder or get_settings().container_builder)
    except ImageError as exc:
        write_context(bundle, context, options, progress=progress)
        raise ImageError(f"{exc}; the build context is at {context}") from None
    write_context(bundle, context, options, progress=progress)
    ensure_base_image(chosen, options.base_image, progress=progress)
    log.info("building %s from bundle %s with %s", reference, bundle.tag, chosen.name)
    built = chosen.build(context, str(reference), progress=progress, no_cache=no_cache,
                         build_args={"DOSIRAK_BUNDLE_TRUSTED": "1" if options.trusted else "0"})
    recorded: ImageRecord = get_store().bundles.record_image(
        bundle_id=record.id, reference=built.reference, location="local", digest=built.digest,
        image_id=built.image_id, builder=chosen.name, size=built.size, base_image=options.base_image,
        extra={"context": str(context), "wheelhouse": options.wheelhouse, "trusted": options.trusted},
    )
    log.info("built image %s (%s, %d bytes) of bundle %s", recorded.reference, recorded.digest, recorded.size,
             bundle.tag)
    return recorded


def _image_reference(image: str | None, bundle: Bundle) -> Reference:
    if image is None:
        return parse_reference(default_reference(bundle.name, bundle.version))
    parsed = parse_reference(image, "--tag")
    if parsed.digest:
        raise ImageError(f"--tag {image} names a digest; give IMAGE:TAG (the digest is the build's result)")
    return parsed if parsed.tag else Reference(parsed.name, bundle.version, None)


def images(tag: str | None = None) -> list[ImageRecord]:
    """Images recorded against bundle ``tag`` (or every bundle), newest first."""
    bundle_id = store.get(tag).id if tag else None
    return get_store().bundles.list_images(bundle_id)


def find_image(reference: str) -> ImageRecord:
    """The newest recorded local image built as ``reference``.

    Raises:
        ImageError: no image with that reference was built here.
    """
    for recorded in images():
        if recorded.location == "local" and recorded.reference == reference:
            return recorded
    raise ImageError(f"no image {reference} was built here; `dosirak bundle containerize TAG` builds one "
                     "(`dosirak bundle show TAG` lists a bundle's images)")


def push_image(
    image: str | ImageRecord,
    repository: str,
    *,
    username: str | None = None,
    password: str | None = None,
    builder: str | None = None,
    tls_verify: bool | None = None,
    progress: Progress | None = None,
) -> ImageRecord:
    """Push a built image to ``repository`` and record the pushed reference and the registry's digest.

    Args:
        image: a recorded local image, or its reference (``localhost/NAME:VERSION``).
        repository: ``REGISTRY/PATH`` or ``REGISTRY/PATH:TAG`` [tag default: the image's].
        username, password: a login for the registry, handed to the builder in a temporary
            auth file (never on a command line or in the store); none: the builder's own login.
        builder: the builder to push with [default: the one that built it].
        tls_verify: check the registry's TLS [default: yes, except for a registry on the
            loopback (127.0.0.1, localhost, [::1]), which is reached over plain HTTP].

    Returns:
        The pushed image: ``reference`` is ``REGISTRY/PATH@sha256:...`` and ``extra["tag"]``
        the tag it was pushed as.

    Raises:
        ImageError: the image is unknown or gone from the builder's storage, or the push failed.
    """
    local = image if isinstance(image, ImageRecord) else find_image(image)
    source = parse_reference(local.reference)
    target = parse_reference(repository, "repository")
    if target.digest:
        raise ImageError(f"repository {repository} names a digest; give REGISTRY/PATH[:TAG]")
    destination = Reference(target.name, target.tag or source.tag or "latest", None)
    chosen: ImageBuilder = builders.choose(builder or local.builder)
    if chosen.inspect(local.reference) is None:
        raise ImageError(f"image {local.reference} is recorded but {chosen.name} no longer has it; "
                         f"rebuild it with `dosirak bundle containerize {local.bundle_tag}`")
    domain = destination.domain or "docker.io"
    verify = not builders.is_loopback_registry(destination.domain) if tls_verify is None else tls_verify
    with builders.auth_file(domain, username, password) as auth:
        digest = chosen.push(local.reference, str(destination), tls_verify=verify, auth_file=auth, progress=progress)
    pushed: ImageRecord = get_store().bundles.record_image(
        bundle_id=local.bundle_id, reference=f"{destination.name}@{digest}", location="registry", digest=digest,
        image_id=local.image_id, builder=chosen.name, size=local.size, base_image=local.base_image,
        extra={"tag": str(destination), "source": local.reference},
    )
    log.info("pushed %s as %s", local.reference, pushed.reference)
    return pushed


def describe(recorded: ImageRecord) -> dict[str, Any]:
    """An image record as JSON-able fields (for ``--json`` and the dashboard)."""
    return {"reference": recorded.reference, "location": recorded.location, "digest": recorded.digest,
            "image_id": recorded.image_id, "builder": recorded.builder, "size": recorded.size,
            "base_image": recorded.base_image, "created_at": recorded.created_at.isoformat(),
            "bundle": recorded.bundle_tag, **{k: v for k, v in recorded.extra.items() if k == "tag"}}


__all__ = ["CONTEXT_ENTRIES", "ImageOptions", "build_image", "bundle_options", "bundle_requirements",
           "default_context_dir", "default_reference", "describe", "find_image", "images", "push_image",
           "python_version", "render_dockerfile", "write_context"]
