"""Plugins: dosirak's own entry points are what importlib.metadata says, read without it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import pytest

from dosirak import plugins

ENTRY_POINTS = """\
# a comment
[dosirak.orchestrators]
local = dosirak.orchestrators.local:LocalOrchestrator
spaced   =   dosirak.orchestrators.ray : RayOrchestrator

# another comment
[dosirak.materializers]
builtins.int = dosirak.artifacts.materializers.builtins:JSONMaterializer
with.extras = dosirak.artifacts.materializers.builtins:JSONMaterializer [numpy]
a.module = dosirak.artifacts.materializers.builtins

[console_scripts]
dosirak = dosirak.cli.main:main
"""


def _as_importlib_gives() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for ep in distribution("dosirak").entry_points:
        found.setdefault(ep.group, {}).setdefault(ep.name, ep.value)
    return found


def _as_read() -> dict[str, dict[str, str]]:
    installed = plugins._own_installed()
    assert installed is not None
    return {group: {name: ep.value for name, ep in eps.items()} for group, eps in installed.items()}


@pytest.fixture
def own_dist_first(tmp_path: Path) -> Iterator[Path]:
    """A ``dosirak-*.dist-info`` holding ENTRY_POINTS, first on ``sys.path``."""
    info = tmp_path / "dosirak-9.9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dosirak\nVersion: 9.9.9\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(tmp_path))
    plugins.clear_cache()
    try:
        yield info
    finally:
        sys.path.remove(str(tmp_path))
        plugins.clear_cache()


def test_the_installed_built_ins_read_directly_are_those_importlib_metadata_gives() -> None:
    plugins.clear_cache()
    assert _as_read() == _as_importlib_gives()


def test_the_first_dist_info_on_the_path_is_read_as_importlib_metadata_reads_it(own_dist_first: Path) -> None:
    assert _as_read() == _as_importlib_gives()
    assert _as_read()["dosirak.orchestrators"]["spaced"] == "dosirak.orchestrators.ray : RayOrchestrator"


def test_a_built_in_read_directly_loads_what_importlib_metadata_loads(own_dist_first: Path) -> None:
    by_importlib = {(ep.group, ep.name): ep for ep in distribution("dosirak").entry_points}
    for group, name in (("dosirak.orchestrators", "local"), ("dosirak.materializers", "with.extras"),
                        ("dosirak.materializers", "a.module")):
        assert plugins._own(group)[name].load() is by_importlib[(group, name)].load()
    assert plugins.spec("orchestrators", "local") == "dosirak.orchestrators.local:LocalOrchestrator"


def test_with_no_dist_info_on_the_path_importlib_metadata_reads_the_built_ins(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    plugins.clear_cache()
    try:
        assert plugins._own_installed() is None
        assert plugins._own("dosirak.orchestrators") == {}  # importlib.metadata finds no dosirak there either
    finally:
        monkeypatch.undo()
        plugins.clear_cache()
