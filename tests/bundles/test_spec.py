"""``dosirak.yaml`` build specs: read as hostile input, every problem a BundleError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosirak.bundles.spec import load_spec
from dosirak.errors import BundleError
from tests.hostile_yaml import billion_laughs


def test_a_spec_is_read_into_a_build_spec(tmp_path: Path) -> None:
    path = tmp_path / "dosirak.yaml"
    path.write_text("service: service.py:Svc\nname: fm\n")
    spec = load_spec(path)
    assert (spec.service, spec.name) == ("service.py:Svc", "fm")


def test_a_missing_spec_is_a_bundle_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read the build spec at .*absent.yaml"):
        load_spec(tmp_path / "absent.yaml")


def test_a_syntax_error_says_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "dosirak.yaml"
    path.write_text("service: svc.py:S\ninclude: [a\n")
    with pytest.raises(BundleError, match=f"the build spec at {path} is not valid YAML at line 3, column 1: "):
        load_spec(path)


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dosirak.yaml"
    path.write_text(billion_laughs())
    with pytest.raises(BundleError, match="expands to more than 1,000,000 values"):
        load_spec(path)
