"""Integrations: dosirak's optional extras (``torch``, ``sklearn``, ``aws``, ``s3``, ...), installed or not.

An integration is an extra of the installed ``dosirak`` distribution, read from its own
metadata (``Provides-Extra`` and the ``Requires-Dist`` lines marked ``extra == NAME``), so
this list never drifts from ``pyproject.toml``. :func:`install` runs pip in the running
interpreter on the extra's requirement lines themselves (not ``dosirak[NAME]``, which
would ask an index for dosirak, wrong for a source checkout), with the same pins as
``scripts/setup.sh``: a source checkout's ``constraints.txt``, and for a torch not yet
installed, PyTorch's CPU wheel index (``TORCH_INDEX_URL``) when it answers within 5 s
(else the default index's build, said in one line).

Example::

    for integration in integrations():
        print(integration.name, integration.installed, integration.missing)
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dosirak.errors import ConfigError, DosirakError
from dosirak.settings import get_settings

#: Extras for working on dosirak itself, not integrations a user installs.
NOT_INTEGRATIONS = frozenset({"dev"})
_REQUIREMENT = re.compile(r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*;\s*(?P<marker>.*)")
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
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


#: Seconds PyTorch's wheel index has to answer (name lookup included) before it is skipped.
PROBE_SECONDS = 5.0


def checkout_constraints() -> Path | None:
    """The ``constraints.txt`` of the source checkout dosirak runs from (None for an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    constraints = root / "constraints.txt"
    return constraints if constraints.is_file() and (root / "pyproject.toml").is_file() else None


def index_answers(url: str, timeout_s: float = PROBE_SECONDS) -> str | None:
    """None when the package index ``url`` serves ``url/torch/`` within ``timeout_s``; else why not.

    The probe runs in a daemon thread so that a name lookup that hangs (not bound by
    urlopen's timeout) costs ``timeout_s`` at most.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout_s,
                                        context=ssl.create_default_context()) as response:
                outcome.append(None if 200 <= response.status < 300 else f"HTTP {response.status}")
        except Exception as exc:  # noqa: BLE001 - any failure means: do not use this index
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=probe, daemon=True, name="dosirak-index-probe")
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"no answer within {timeout_s:g} s"


@dataclass(frozen=True)
class InstallPlan:
    """The pip command for some integrations, and what was decided on the way (lines to show)."""

    chosen: tuple[Integration, ...]
    command: tuple[str, ...]
    notes: tuple[str, ...]


def plan(chosen: Sequence[Integration], *, upgrade: bool = False, torch_index_url: str | None = None,
         constraints: Path | None = None) -> InstallPlan:
    """How pip installs ``chosen`` into this interpreter's environment, with setup.sh's pins.

    Args:
        chosen: The integrations to install.
        upgrade: Pass ``--upgrade``.
        torch_index_url: Where a torch not yet installed comes from, if that index answers
            (``''``: the default index); default :attr:`Settings.torch_index_url`.
        constraints: The constraints file; default :func:`checkout_constraints`.
    """
    requirements = list(dict.fromkeys(r for i in chosen for r in i.requirements))
    command = [sys.executable, "-m", "pip", "install", *(["--upgrade"] if upgrade else [])]
    notes: list[str] = []
    constraints = constraints if constraints is not None else checkout_constraints()
    if constraints is not None:
        command += ["-c", str(constraints)]
    if any(_requirement_name(r) == "torch" for i in chosen for r in i.missing):
        if torch_index_url is None:
            torch_index_url = get_settings().torch_index_url
        why = index_answers(torch_index_url) if torch_index_url else "TORCH_INDEX_URL is empty"
        if why is None:
            command += ["--extra-index-url", torch_index_url]
            notes.append(f"torch: from {torch_index_url} (the CPU build)")
        else:
            notes.append(f"torch: skipping {torch_index_url or 'the CPU index'} ({why}); the default index's "
                         "build (on PyPI for Linux, the multi-GB CUDA one)")
    return InstallPlan(tuple(chosen), (*command, *requirements), tuple(notes))


def _requirement_name(line: str) -> str:
    match = _REQUIREMENT_NAME.match(line.strip())
    return match.group(0).lower() if match else ""


def pip_command(chosen: Sequence[Integration], *, upgrade: bool = False) -> list[str]:
    """The pip command installing ``chosen`` into this interpreter's environment (see :func:`plan`)."""
    return list(plan(chosen, upgrade=upgrade).command)


def install(names: Sequence[str], *, upgrade: bool = False, output: Callable[[str], None] | None = None) -> list[Integration]:
    """pip-install the integrations ``names`` into the running environment; their state afterwards.

    Raises:
        ConfigError: an unknown name.
        DosirakError: pip failed (its last lines in the message).
    """
    return run(plan(resolve(names), upgrade=upgrade), output=output)


def run(chosen_plan: InstallPlan, *, output: Callable[[str], None] | None = None) -> list[Integration]:
    """Run an :class:`InstallPlan`'s pip command; the integrations' state afterwards (see :func:`install`)."""
    chosen = chosen_plan.chosen
    done = subprocess.run(list(chosen_plan.command), capture_output=True, text=True, check=False)
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


__all__ = ["NOT_INTEGRATIONS", "PROBE_SECONDS", "InstallPlan", "Integration", "checkout_constraints", "index_answers",
           "install", "integrations", "pip_command", "plan", "resolve", "run"]
