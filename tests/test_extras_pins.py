"""The ``aws`` and ``s3`` extras are pinned to versions that resolve together, and installed as pinned.

aiobotocore (under s3fs) pins botocore to a narrow range and boto3 must sit on that same
botocore; with loose pins pip once picked s3fs 0.4.2 beside boto3 1.44. So the extras pin
exact versions, constraints.txt holds the same pins, and the environment the tests run in
has exactly those (scripts/setup.sh --test installs them: the S3 tests need s3fs).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINNED_EXTRAS = ("aws", "s3")
_PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)\s*$")


def extra_pins() -> dict[str, dict[str, str]]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    out: dict[str, dict[str, str]] = {}
    for extra in PINNED_EXTRAS:
        pins: dict[str, str] = {}
        for requirement in extras[extra]:
            match = _PIN.match(requirement)
            assert match, f"extra {extra}: '{requirement}' is not an exact pin (NAME==VERSION)"
            pins[match[1].lower()] = match[2]
        out[extra] = pins
    return out


def constraint_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = _PIN.match(line.split("#", 1)[0])
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_the_aws_and_s3_extras_pin_every_package_they_bring_and_agree_with_each_other() -> None:
    pins = extra_pins()
    assert {"boto3", "botocore"} <= set(pins["aws"])
    assert {"s3fs", "aiobotocore", "botocore", "fsspec"} <= set(pins["s3"])
    shared = set(pins["aws"]) & set(pins["s3"])
    assert {name: pins["aws"][name] for name in shared} == {name: pins["s3"][name] for name in shared}


def test_constraints_hold_the_same_pins_as_the_extras() -> None:
    constraints = constraint_pins()
    for extra, pins in extra_pins().items():
        for name, version in pins.items():
            assert constraints.get(name) == version, f"constraints.txt: {name} should be =={version} as in [{extra}]"


def test_the_installed_versions_are_the_pinned_ones() -> None:
    for extra, pins in extra_pins().items():
        for name, version in pins.items():
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                raise AssertionError(f"{name} (extra [{extra}]) is not installed: "
                                     "`pip install -c constraints.txt -e '.[dev]'`") from None
            assert installed == version, f"{name} {installed} is installed; [{extra}] pins {version}"


def test_the_test_setup_installs_the_s3_and_aws_extras() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dev = next(r for r in extras["dev"] if r.startswith("dosirak["))
    assert {"aws", "s3"} <= set(dev.removeprefix("dosirak[").removesuffix("]").split(","))
