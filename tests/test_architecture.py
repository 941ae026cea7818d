"""The arrows of DESIGN.md hold: import-linter's contracts in pyproject.toml are kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:  # pragma: no cover - the dev extra installs it
        pytest.fail("lint-imports is not installed; `pip install -e '.[dev]'`")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_is_named_after_a_concept() -> None:
    banned = {"utils", "helpers", "common", "manager", "misc"}
    offenders = [p for p in (ROOT / "src" / "dosirak").rglob("*.py")
                 if p.stem.strip("_") in banned or p.stem.endswith(("_new", "_v2")) or p.stem.startswith("old_")]
    assert offenders == []


def test_init_modules_hold_no_logic() -> None:
    heavy = []
    for init in (ROOT / "src" / "dosirak").rglob("__init__.py"):
        if init.parent.name == "dosirak":
            continue  # the package root holds the lazy public API table
        text = init.read_text()
        if "def " in text or "class " in text:
            heavy.append(str(init.relative_to(ROOT)))
    assert heavy == []
