"""YAML from outside: bounded in size and in what its aliases expand to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dosirak.errors import BundleIntegrityError
from dosirak.untrusted import load_yaml


def billion_laughs(levels: int = 9) -> str:
    """~500 bytes that expand to 10**levels values through nested aliases."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(billion_laughs())
    started = time.perf_counter()
    with pytest.raises(BundleIntegrityError, match="bundle.yaml at .* expands to more than 1,000,000 values"):
        load_yaml(path, what="bundle.yaml", error=BundleIntegrityError)
    assert time.perf_counter() - started < 2.0


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("x: " + "y" * 2000)
    with pytest.raises(BundleIntegrityError, match="larger than 1000 bytes"):
        load_yaml(path, what="model.yaml", error=BundleIntegrityError, max_bytes=1000)


def test_ordinary_documents_with_a_shared_value_still_load(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: &t [1, 2]\nb: *t\nc: {d: !!str 3}\n")
    assert load_yaml(path, what="x.yaml", error=BundleIntegrityError) == {"a": [1, 2], "b": [1, 2], "c": {"d": "3"}}


@pytest.mark.parametrize("text", ["a: !!python/object:os.system ls\n", "[unclosed\n", b"\xff\xfe".decode("latin-1")])
def test_unsafe_or_broken_yaml_is_an_error_of_the_callers_kind(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(BundleIntegrityError, match="is not valid YAML"):
        load_yaml(path, what="x.yaml", error=BundleIntegrityError)
