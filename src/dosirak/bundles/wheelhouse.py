"""Wheels for an image: dosirak itself, and every requirement as it is installed here.

An image never installs dosirak from an index by version: :func:`dosirak_wheel` makes a
wheel of the dosirak that is running (``pip wheel`` of its source tree for an editable
install, else a wheel repacked from its installed files), so the image serves with the
very code that built it.

:func:`fill` gathers a wheelhouse: the dosirak wheel's dependencies and the bundle's
pinned requirements, resolved by ``pip wheel`` under constraints that pin every package
to the version installed in this environment, with this environment's pip configuration
(its indexes, ``find-links`` and caches). The image then installs with ``--no-index``:
the build needs no network and gets exactly the builds that ran here (the CPU build of
PyTorch, for example). Wheels are also kept in ``DOSIRAK_HOME/containers/wheels``, so a
wheel pip had to build from a source archive is the same file in every later build and
the image's dependency layer is reused.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import platform
import re
import shutil
import sys
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from dosirak.bundles.builders import Progress, run
from dosirak.errors import ImageError

log = logging.getLogger(__name__)

_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SKIPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
#: Fixed timestamp of repacked wheel members, so the same files make the same wheel.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(args: Sequence[str], what: str, progress: Progress | None) -> None:
    if importlib.util.find_spec("pip") is None:
        raise ImageError(f"{what} needs pip in the environment that runs dosirak ({sys.executable}); "
                         "install it (`python -m ensurepip`) or use --no-wheelhouse")
    run([sys.executable, "-m", "pip", *args], what, progress=progress)


def dosirak_wheel(dest: Path, *, progress: Progress | None = None) -> Path:
    """A wheel of the running dosirak, written into ``dest``; its path.

    Raises:
        ImageError: the wheel cannot be made (the message says why).
    """
    dist = metadata.distribution("dosirak")
    source = _source_tree(dist)
    dest.mkdir(parents=True, exist_ok=True)
    if source is not None:
        args = ["wheel", "--no-deps", "--quiet", "-w", str(dest), str(source)]
        if importlib.util.find_spec("hatchling") is not None:
            args.insert(1, "--no-build-isolation")
        _pip(args, f"building a wheel of dosirak from {source}", progress)
    else:
        repack(dist, dest)
    wheels = sorted(dest.glob("dosirak-*.whl"))
    if len(wheels) != 1:
        raise ImageError(f"expected one dosirak wheel in {dest}, found {len(wheels)}")
    return wheels[0]


def _source_tree(dist: metadata.Distribution) -> Path | None:
    """The project directory of an editable (or directory) install, else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    url = str(data.get("url") or "")
    if "dir_info" not in data or not url.startswith("file://"):
        return None
    path = Path(unquote(urlparse(url).path))
    return path if (path / "pyproject.toml").is_file() else None


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """A wheel made from an installed distribution's files (pure Python), written into ``dest``.

    What pip installed under ``site-packages`` goes back in, with a fresh ``RECORD``;
    scripts outside it are left out (pip recreates them from ``entry_points.txt``).
    """
    name, version = canonical(dist.metadata["Name"]).replace("-", "_"), dist.version
    records: list[str] = []
    files = [f for f in dist.files or [] if f.parts and f.parts[0] != ".." and "__pycache__" not in f.parts
             and not f.name.endswith(".pyc")]
    info_dir = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), f"{name}-{version}.dist-info")
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files, key=str):
            arcname = file.as_posix()
            if file.parts[0] == info_dir and file.name in _SKIPPED_METADATA:
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(zipfile.ZipInfo(arcname, _EPOCH), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
            records.append(f"{arcname},sha256={digest},{len(data)}")
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(zipfile.ZipInfo(f"{info_dir}/RECORD", _EPOCH), "\n".join(records) + "\n")
    return wheel


def wheel_requirements(wheel: Path) -> list[str]:
    """The unconditional ``Requires-Dist`` lines of a wheel (its dependencies without extras)."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    lines = [line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]
    return [line for line in lines if "extra ==" not in line and "extra==" not in line]


def installed_constraints() -> tuple[list[str], list[Path]]:
    """``NAME==VERSION`` of every distribution installed here, and directories of wheels installed from files.

    dosirak itself and editable or directory installs are left out (no index has them).
    """
    pins: dict[str, str] = {}
    links: set[Path] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonical(name) == "dosirak" or canonical(name) in pins:
            continue
        direct = dist.read_text("direct_url.json")
        if direct:
            try:
                data = json.loads(direct)
            except ValueError:
                continue
            url = str(data.get("url") or "")
            if "archive_info" in data and url.startswith("file://") and url.endswith(".whl"):
                links.add(Path(unquote(urlparse(url).path)).parent)
            else:
                continue
        pins[canonical(name)] = f"{name}=={dist.version}"
    return sorted(pins.values()), sorted(links)


def fill(dest: Path, *, dosirak_wheel_path: Path, requirements: Sequence[str], cache: Path,
         progress: Progress | None = None) -> dict[str, Path]:
    """Put into ``dest`` a wheel of every package the image needs; return their ``NAME==VERSION`` pins and files.

    The wheels are dosirak's dependencies and ``requirements`` (the bundle's pins), each at
    the version installed here, resolved by ``pip wheel`` with this environment's pip
    configuration. dosirak's own wheel is not among them.

    Raises:
        ImageError: this environment cannot give wheels for a Linux image, or pip failed
            (the message holds its last lines).
    """
    if sys.platform != "linux":
        raise ImageError(f"the wheelhouse takes wheels from this environment, which runs on {sys.platform}, not "
                         "Linux; build the image on Linux or use --no-wheelhouse (the image then installs from an index)")
    dest.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    pins, links = installed_constraints()
    constraints = dest.parent / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    args = ["wheel", "--progress-bar", "off", "-w", str(dest), "-c", str(constraints), "--find-links", str(cache)]
    for link in links:
        args += ["--find-links", str(link)]
    try:
        _pip([*args, str(dosirak_wheel_path), *requirements],
             f"gathering the wheelhouse (pip wheel for Python {platform.python_version()})", progress)
    finally:
        constraints.unlink(missing_ok=True)
    (dest / dosirak_wheel_path.name).unlink(missing_ok=True)
    found: dict[str, tuple[str, Path]] = {}
    for wheel in sorted(dest.glob("*.whl")):
        match = _WHEEL_NAME.match(wheel.name)
        if match is None:
            raise ImageError(f"pip wrote a wheel whose name cannot be read: {wheel.name}")
        if not (cache / wheel.name).exists():
            shutil.copyfile(wheel, cache / wheel.name)
        found[canonical(match["name"])] = (f"{match['name']}=={match['version']}", wheel)
    return dict(sorted(found.values()))


def hashed_requirements(wheels: dict[str, Path]) -> str:
    """A requirements file pinning each wheel by version and SHA-256 (for ``pip install --require-hashes``)."""
    lines = ["# every package the image installs, each a wheel in this directory, pinned by its SHA-256"]
    for pin, wheel in wheels.items():
        digest = hashlib.sha256()
        with wheel.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        lines.append(f"{pin} --hash=sha256:{digest.hexdigest()}")
    return "\n".join(lines) + "\n"


__all__ = ["canonical", "dosirak_wheel", "fill", "hashed_requirements", "installed_constraints", "repack",
           "wheel_requirements"]
