"""The one name grammar, and the check that keeps derived paths below their root."""

from __future__ import annotations

from pathlib import Path

import pytest

import dosirak as dk
from dosirak.errors import BundleError, ConfigError, PipelineError, StepSignatureError
from dosirak.names import check_name, is_valid_name, path_under


@pytest.mark.parametrize("name", ["fashion_mnist", "a", "A1", "model-2.v3", "20261124-153012-123456", "x" * 128])
def test_accepts_names_of_the_grammar(name: str) -> None:
    assert check_name(name, "bundle name") == name


@pytest.mark.parametrize("name", [
    "", ".", "..", "../../../../outside", "a/b", "a\\b", "/abs", "-lead", "_lead", ".hidden", "x" * 129,
    "fm\n", "fm\r", "f m", "fm\0", "naïve", "a:b", None, 12, ["a"], {"a": 1},
])
def test_refuses_everything_else_naming_the_value(name: object) -> None:
    assert not is_valid_name(name)
    with pytest.raises(BundleError, match="invalid bundle name .*1-128 ASCII letters"):
        check_name(name, "bundle name", error=BundleError)


def test_a_trailing_newline_is_not_a_valid_name() -> None:
    # ``re.match("^...$")`` accepts "name\n": the grammar must match the whole string
    with pytest.raises(ConfigError, match=r"'fm\\n'"):
        check_name("fm\n", "model name")


def test_path_under_keeps_paths_below_the_root(tmp_path: Path) -> None:
    assert path_under(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    for parts in [("..",), ("a", "..", ".."), ("/etc",), ("",), (".",), ("a", "../../x")]:
        with pytest.raises(ConfigError, match="refusing path"):
            path_under(tmp_path, *parts)


def test_path_under_refuses_a_symlink_pointing_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(BundleError, match="outside"):
        path_under(root, "link", "x", error=BundleError)


def test_step_and_pipeline_names_become_paths_so_they_follow_the_grammar() -> None:
    def fn() -> int:
        return 1

    with pytest.raises(StepSignatureError, match="invalid step name '../../x'"):
        dk.step(name="../../x")(fn)
    with pytest.raises(PipelineError, match="invalid pipeline name 'a/b'"):
        dk.pipeline(name="a/b")(fn)
