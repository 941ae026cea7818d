"""Integrations: dosirak's optional extras (``torch``, ``sklearn``, ``aws``, ``s3``, ...), installed or not.

An integration is an extra of the installed ``dosirak`` distribution, read from its own
metadata (``Provides-Extra`` and the ``Requires-Dist`` lines marked ``extra == NAME``), so
this list never drifts from ``pyproject.toml``. :func:`install` runs pip in the running
interpreter on the extra's requirement lines themselves (not ``dosirak[NAME]``, which
would ask an index for dosirak, wrong for a source checkout).

Example::

    for integration in integrations():
        print(integration.name, integration.installed, integration.missing)
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dosirak.errors import ConfigError, DosirakError

#: Extras for working on dosirak itself, not integrations a user installs.
NOT_INTEGRATIONS = frozenset({"dev"})
_REQUIREMENT = re.compile(r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*;\s*(?P<marker>.*)")
_EXTRA_MARKER = re.compile(r"""^extra\s*==\s*["'](?P<extra>[A-Za-z0-9._-]+)["']$""")


@dataclass(frozen=True)
class Integration:
    """One extra: its requirement lines and which of them this environment lacks."""

    name: str
    requirements: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def installed(self) -> bool:
        return not self.missing


def _distribution_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return list(metadata("dosirak").get_all("Requires-Dist") or [])
    except PackageNotFoundError:
        raise DosirakError("dosirak is not installed as a distribution (running from a bare source tree?); "
                           "`pip install -e .` it first") from None


def _satisfied(name: str, spec: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(name)
    except PackageNotFoundError:
        return False
    if not spec:
        return True
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion
    except ImportError:  # packaging is not a dependency of dosirak: presence is all it can check then
        return True
    try:
        return SpecifierSet(spec).contains(installed, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True


def integrations() -> list[Integration]:
    """Every integration of the installed dosirak, by name."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for line in _distribution_requirements():
        match = _REQUIREMENT.fullmatch(line)
        marker = _EXTRA_MARKER.match(match.group("marker").strip()) if match else None
        if match is None or marker is None:
            continue
        extra = marker.group("extra")
        if extra in NOT_INTEGRATIONS or match.group("name").lower() == "dosirak":
            continue
        found.setdefault(extra, []).append((line.split(";")[0].strip(), match.group("name"), match.group("spec")))
    return [Integration(name, tuple(r for r, _, _ in reqs), tuple(r for r, n, s in reqs if not _satisfied(n, s)))
            for name, reqs in sorted(found.items())]


def resolve(names: Sequence[str]) -> list[Integration]:
    """The integrations ``names`` name; ConfigError naming an unknown one and the known ones."""
    known = {i.name: i for i in integrations()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown integration(s) {', '.join(repr(n[:40]) for n in unknown)}; known: "
                          f"{', '.join(known)} (`dosirak integration list`)")
    return [known[n] for n in dict.fromkeys(names)]


def pip_command(chosen: Sequence[Integration], *, upgrade: bool = False) -> list[str]:
    """The pip command installing ``chosen`` into this interpreter's environment."""
    requirements = list(dict.fromkeys(r for i in chosen for r in i.requirements))
    return [sys.executable, "-m", "pip", "install", *(["--upgrade"] if upgrade else []), *requirements]


def install(names: Sequence[str], *, upgrade: bool = False, output: Callable[[str], None] | None = None) -> list[Integration]:
    """pip-install the integrations ``names`` into the running environment; their state afterwards.

    Raises:
        ConfigError: an unknown name.
        DosirakError: pip failed (its last lines in the message).
    """
    chosen = resolve(names)
    command = pip_command(chosen, upgrade=upgrade)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    if output is not None:
        for line in lines:
            output(line)
    if done.returncode != 0:
        last = " | ".join(line.strip() for line in lines[-5:] if line.strip())
        raise DosirakError(f"pip could not install {', '.join(i.name for i in chosen)} (status {done.returncode}): "
                           f"{last[-600:]}")
    after = {i.name: i for i in integrations()}
    return [after[i.name] for i in chosen]


__all__ = ["NOT_INTEGRATIONS", "Integration", "install", "integrations", "pip_command", "resolve"]
