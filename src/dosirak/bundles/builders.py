"""Image builders: docker (an engine that answers), podman, buildah, driven through their CLIs.

``containerize`` asks :func:`choose` for a builder: the one named (``--builder`` or the
``container_builder`` setting), or the first that works of docker, podman and buildah.
Each builder builds a context into local storage, inspects an image there (id, digest,
size), pushes it to a registry and reads the pushed digest back, and removes an image.
podman and buildah share their storage, so an image one builds the other sees.

How to add a builder: subclass :class:`ImageBuilder`, set ``name``, and implement
``problem``, ``build_command``, ``inspect``, ``push`` and ``remove``; then list it in
:data:`BUILDERS`.

Every command's output is shown through ``progress`` as it runs (when given) and its last
lines are kept, so a failing build or push says why in its error.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dosirak.errors import ImageError
from dosirak.settings import child_environment

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: How many of a failed command's last output lines its error shows.
TAIL_LINES = 25
_LOOPBACK = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$")

# The distribution reference grammar (github.com/distribution/reference), without IPv6 hosts.
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_MAX_REFERENCE = 255


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: ``[DOMAIN/]PATH[:TAG][@DIGEST]``."""

    name: str
    tag: str | None
    digest: str | None

    @property
    def domain(self) -> str | None:
        first, sep, _rest = self.name.partition("/")
        return first if sep and ("." in first or ":" in first or first == "localhost") else None

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str, what: str = "image reference") -> Reference:
    """Check ``text`` against the image reference grammar (it reaches a Dockerfile and a command line).

    Raises:
        ImageError: it is not a reference (spaces, newlines, upper case in the path, a leading ``-`` ...).
    """
    match = _REFERENCE.fullmatch(text) if isinstance(text, str) and len(text) <= _MAX_REFERENCE else None
    if match is None:
        shown = repr(text[:80]) if isinstance(text, str) else repr(text)
        raise ImageError(f"{what} {shown} is not an image reference; write [REGISTRY/]PATH[:TAG], lower-case path, "
                         "e.g. localhost/fashion_mnist:1 or 127.0.0.1:5000/team/fashion_mnist")
    return Reference(match["name"], match["tag"], match["digest"])


def is_loopback_registry(domain: str | None) -> bool:
    """Whether a registry host is on this machine's loopback (reached over plain HTTP)."""
    return domain is not None and _LOOPBACK.match(domain) is not None


@dataclass(frozen=True)
class LocalImage:
    """An image in a builder's local storage."""

    reference: str
    image_id: str
    digest: str
    size: int


class ImageBuilder:
    """One way to build and push images. ``name`` is what ``--builder`` takes."""

    name = ""
    program = ""

    def executable(self) -> str | None:
        return shutil.which(self.program)

    def problem(self) -> str | None:
        """None when this builder can build here, else one line saying why not."""
        raise NotImplementedError

    def build_command(self, context: Path, reference: str, build_args: Mapping[str, str],
                      no_cache: bool = False) -> list[str]:
        """The command building ``context`` into ``reference``, reusing cached layers unless ``no_cache``."""
        raise NotImplementedError

    def inspect(self, reference: str) -> LocalImage | None:
        """The image ``reference`` names in local storage, or None."""
        raise NotImplementedError

    def push(self, reference: str, destination: str, *, tls_verify: bool, auth_file: Path | None,
             progress: Progress | None = None) -> str:
        """Push ``reference`` to ``destination`` (``REGISTRY/PATH:TAG``); return the registry's digest."""
        raise NotImplementedError

    def remove(self, reference: str) -> None:
        """Remove ``reference`` from local storage (its layers stay while other images use them)."""
        raise NotImplementedError

    def build(self, context: Path, reference: str, *, build_args: Mapping[str, str] | None = None,
              no_cache: bool = False, progress: Progress | None = None) -> LocalImage:
        """Build ``context`` (a directory with a ``Dockerfile``) into ``reference``.

        Raises:
            ImageError: the build failed; the message holds its last output lines.
        """
        command = self.build_command(context, reference, build_args or {}, no_cache)
        run(command, f"{self.name} build of {reference}", progress=progress)
        image = self.inspect(reference)
        if image is None:
            raise ImageError(f"{self.name} reported a successful build but has no image {reference}")
        return image

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class DockerBuilder(ImageBuilder):
    """A Docker engine, through the ``docker`` client (BuildKit or the classic builder)."""

    name = program = "docker"

    def problem(self) -> str | None:
        docker = self.executable()
        if docker is None:
            return "the docker client is not installed"
        done = quiet([docker, "info", "--format", "{{.ServerVersion}}"], timeout_s=10)
        if done is None or done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() if done else ["it did not answer in 10 s"]
            return f"no Docker engine answers ({lines[-1] if lines else 'docker info failed'})"
        return None

    def build_command(self, context: Path, reference: str, build_args: Mapping[str, str],
                      no_cache: bool = False) -> list[str]:
        return ["docker", "build", *(["--no-cache"] if no_cache else []), "-t", reference, *_build_args(build_args),
                str(context)]

    def inspect(self, reference: str) -> LocalImage | None:
        done = quiet(["docker", "image", "inspect", "--format", "{{json .}}", reference])
        if done is None or done.returncode != 0:
            return None
        data = json.loads(done.stdout)
        return LocalImage(reference=reference, image_id=str(data["Id"]), digest=str(data["Id"]),
                          size=int(data.get("Size") or 0))

    def push(self, reference: str, destination: str, *, tls_verify: bool, auth_file: Path | None,
             progress: Progress | None = None) -> str:
        env = {"DOCKER_CONFIG": str(auth_file.parent)} if auth_file else None
        run(["docker", "tag", reference, destination], f"docker tag {destination}")
        try:
            run(["docker", "push", destination], f"docker push to {destination}", progress=progress, env=env)
            done = quiet(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", destination])
        finally:
            quiet(["docker", "image", "rm", destination])
        name = parse_reference(destination).name
        digests = json.loads(done.stdout) if done is not None and done.returncode == 0 else []
        for entry in digests or []:
            repo, _, digest = str(entry).partition("@")
            if repo == name:
                return digest
        raise ImageError(f"docker pushed {destination} but reports no digest for it; see `docker image inspect`")

    def remove(self, reference: str) -> None:
        quiet(["docker", "image", "rm", reference])


class _ContainersStorageBuilder(ImageBuilder):
    """podman and buildah: daemonless, sharing the containers/storage image store."""

    def problem(self) -> str | None:
        program = self.executable()
        if program is None:
            return f"{self.program} is not installed"
        # `version` answers without taking the storage lock, which a build elsewhere may hold for minutes
        done = quiet([program, "version"], timeout_s=30)
        if done is None or done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() if done else ["it did not answer in 30 s"]
            return f"{self.program} does not run ({lines[-1] if lines else 'failed'})"
        return None

    def inspect(self, reference: str) -> LocalImage | None:
        if shutil.which("buildah"):  # reports the manifest digest of a local image; podman's Size is the same sum
            done = quiet(["buildah", "inspect", "--type", "image", reference])
            if done is None or done.returncode != 0:
                return None
            data = json.loads(done.stdout)
            manifest = json.loads(data["Manifest"])
            size = sum(int(layer.get("size") or 0) for layer in manifest.get("layers") or [])
            size += int((manifest.get("config") or {}).get("size") or 0)
            return LocalImage(reference=reference, image_id=str(data["FromImageID"]),
                              digest=str(data["FromImageDigest"]), size=size)
        done = quiet([self.program, "image", "inspect", "--format", "{{json .}}", reference])
        if done is None or done.returncode != 0:
            return None
        info = json.loads(done.stdout)
        if isinstance(info, list):
            info = info[0]
        return LocalImage(reference=reference, image_id=str(info["Id"]), digest=str(info["Digest"]),
                          size=int(info.get("Size") or 0))

    def push(self, reference: str, destination: str, *, tls_verify: bool, auth_file: Path | None,
             progress: Progress | None = None) -> str:
        with _private_dir() as scratch:
            digest_file = scratch / "digest"
            command = [self.program, "push", f"--tls-verify={'true' if tls_verify else 'false'}",
                       "--digestfile", str(digest_file)]
            if auth_file is not None:
                command += ["--authfile", str(auth_file)]
            run([*command, reference, f"docker://{destination}"], f"{self.program} push to {destination}",
                progress=progress)
            digest = digest_file.read_text(encoding="utf-8").strip() if digest_file.is_file() else ""
        if not re.fullmatch(_DIGEST, digest):
            raise ImageError(f"{self.program} pushed {destination} but wrote no digest ({digest[:80]!r})")
        return digest

    def remove(self, reference: str) -> None:
        quiet([self.program, "rmi", reference])


class PodmanBuilder(_ContainersStorageBuilder):
    name = program = "podman"

    def build_command(self, context: Path, reference: str, build_args: Mapping[str, str],
                      no_cache: bool = False) -> list[str]:
        return ["podman", "build", "--layers", *(["--no-cache"] if no_cache else []), "--network", "host",
                "-t", reference, *_build_args(build_args), str(context)]


class BuildahBuilder(_ContainersStorageBuilder):
    name = program = "buildah"

    def build_command(self, context: Path, reference: str, build_args: Mapping[str, str],
                      no_cache: bool = False) -> list[str]:
        return ["buildah", "bud", "--layers", *(["--no-cache"] if no_cache else []), "--isolation", "chroot",
                "--network", "host", "-t", reference, *_build_args(build_args), str(context)]


#: Every builder, in the order ``auto`` tries them.
BUILDERS: dict[str, type[ImageBuilder]] = {"docker": DockerBuilder, "podman": PodmanBuilder,
                                           "buildah": BuildahBuilder}


def choose(name: str = "auto") -> ImageBuilder:
    """The builder ``name`` names, or for ``auto`` the first of docker, podman, buildah that works.

    Raises:
        ImageError: the named builder does not work here, or (auto) none does; the message
            says why for each.
    """
    if name != "auto" and name not in BUILDERS:
        raise ImageError(f"unknown image builder {name!r}; use auto, {', '.join(BUILDERS)}")
    candidates = list(BUILDERS) if name == "auto" else [name]
    reasons: list[str] = []
    for candidate in candidates:
        builder = BUILDERS[candidate]()
        why = builder.problem()
        if why is None:
            if reasons:
                log.info("building with %s (%s)", candidate, "; ".join(reasons))
            return builder
        reasons.append(f"{candidate}: {why}")
    raise ImageError("no image builder works here (" + "; ".join(reasons) + "); install one (docker, podman "
                     "or buildah)" + ("" if name == "auto" else " or choose another with --builder"))


def run(command: Sequence[str], what: str, *, progress: Progress | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[str]:
    """Run ``command``, showing its output through ``progress``; return its last lines.

    Raises:
        ImageError: it could not start or exited non-zero; the message holds its last lines.
    """
    log.debug("running %s", " ".join(command))
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace",
                                   env=child_environment(dict(env or {})), cwd=cwd)
    except OSError as exc:
        raise ImageError(f"{what}: cannot run {command[0]}: {exc}") from exc
    with process:
        for line in process.stdout or ():
            line = line.rstrip("\n")
            tail.append(line)
            if progress is not None:
                progress(line)
    if process.returncode != 0:
        shown = "\n".join(f"  {line}" for line in tail)
        raise ImageError(f"{what} failed (exit status {process.returncode}); its last lines:\n{shown}")
    return list(tail)


def quiet(command: Sequence[str], *, timeout_s: float = 120) -> subprocess.CompletedProcess[str] | None:
    """Run a short query command and capture its output; None if it could not run in time."""
    try:
        return subprocess.run(list(command), capture_output=True, text=True, errors="replace", timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("%s failed: %s", command[0], exc)
        return None


def _build_args(values: Mapping[str, str]) -> list[str]:
    return [part for key, value in sorted(values.items()) for part in ("--build-arg", f"{key}={value}")]


@contextmanager
def _private_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="dosirak-image-"))  # mode 0700
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def auth_file(registry: str, username: str | None, password: str | None) -> Iterator[Path | None]:
    """A temporary registry auth file (mode 0600, in a private directory) for one push; None without a login.

    docker reads it as ``DOCKER_CONFIG/config.json``, podman and buildah through ``--authfile``.
    The password never appears on a command line, in a log or in the store; the file is
    removed when the block ends.
    """
    if not username and not password:
        yield None
        return
    if not username or not password:
        raise ImageError(f"a login for {registry} needs both a username and a password")

    with _private_dir() as directory:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        path = directory / "config.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"auths": {registry: {"auth": token}}}, fh)
        yield path


__all__ = ["BUILDERS", "BuildahBuilder", "DockerBuilder", "ImageBuilder", "LocalImage", "PodmanBuilder", "Reference",
           "auth_file", "choose", "is_loopback_registry", "parse_reference", "run"]
