"""YAML from outside: bounded in size and in what its aliases expand to."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from dosirak.errors import BundleIntegrityError, ConfigError
from dosirak.untrusted import load_yaml, parse_yaml
from tests.hostile_yaml import billion_laughs


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


def test_a_syntax_error_names_the_file_line_and_column_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("parameters: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, what="config file", error=ConfigError)
    message = str(caught.value)
    assert "\n" not in message
    # libyaml says "did not find expected ...", the pure-Python parser "expected ..., but got ..."
    assert re.fullmatch(f"config file at {re.escape(str(path))} is not valid YAML at line 2, column 1: "
                        "(did not find )?expected ',' or ']'.*", message), message


def test_without_what_the_path_alone_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("a: [\n")
    with pytest.raises(ConfigError, match=f"^{path} is not valid YAML at line 2"):
        load_yaml(path, error=ConfigError)


def test_an_unreadable_file_is_the_callers_error_with_its_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*absent.yaml: No such file or directory; make one$"):
        load_yaml(tmp_path / "absent.yaml", error=ConfigError, hint="; make one")


def test_parsed_text_is_bounded_like_a_file() -> None:
    with pytest.raises(ConfigError, match="the generated config expands to more than 1,000,000 values"):
        parse_yaml(billion_laughs(), label="the generated config", error=ConfigError)
    with pytest.raises(ConfigError, match="the generated config is not valid YAML at line 1, column 4"):
        parse_yaml("a: !!python/name:os.system\n", label="the generated config", error=ConfigError)
