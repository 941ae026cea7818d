"""The one walker of type hints: Annotated, unions, tuples, generics, forward references."""

from __future__ import annotations

from typing import Annotated, Any, Optional, TypeVar, Union

import pytest

from dosirak import typehints

T = TypeVar("T")


class Marker:
    pass


MARK = Marker()


def annotated_step(x: Annotated[int, "count", MARK], y: Optional[str], z: float | None = None) -> tuple[  # noqa: UP045
        Annotated[list[int], "ids"], Annotated[dict[str, float], "scores"]]:
    raise NotImplementedError


def unresolvable(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
    raise NotImplementedError


def test_resolve_evaluates_future_annotations_and_keeps_annotated_metadata() -> None:
    hints = typehints.resolve(annotated_step)
    assert hints["x"] == Annotated[int, "count", MARK]
    assert hints["y"] == Optional[str]  # noqa: UP045
    assert hints["return"] == tuple[Annotated[list[int], "ids"], Annotated[dict[str, float], "scores"]]


def test_resolve_raises_name_error_for_an_undefined_name() -> None:
    with pytest.raises(NameError, match="NotDefinedAnywhere"):
        typehints.resolve(unresolvable)


def test_unwrap_splits_annotated_into_type_and_metadata() -> None:
    assert typehints.unwrap(Annotated[int, "count", MARK]) == (int, ("count", MARK))
    assert typehints.unwrap(Annotated[Annotated[int, "a"], "b"]) == (int, ("a", "b"))


def test_unwrap_leaves_other_hints_alone() -> None:
    assert typehints.unwrap(list[int]) == (list[int], ())
    assert typehints.unwrap(None) == (None, ())
    assert typehints.strip(int) is int


@pytest.mark.parametrize("hint", [Optional[int], Union[int, None], int | None])  # noqa: UP007, UP045
def test_optional_union_and_pipe_are_unions_with_none_as_a_member(hint: Any) -> None:
    assert typehints.is_union(hint)
    assert typehints.union_members(hint) == (int, type(None))


def test_non_unions_have_no_members() -> None:
    assert not typehints.is_union(list[int])
    assert typehints.union_members(list[int]) == ()
    assert typehints.union_members(Annotated[int, "x"]) == ()


def test_is_none_accepts_both_spellings() -> None:
    assert typehints.is_none(None)
    assert typehints.is_none(type(None))
    assert not typehints.is_none(int)


def test_arguments_of_generics_see_through_annotated() -> None:
    assert typehints.arguments(list[int]) == (int,)
    assert typehints.arguments(Annotated[dict[str, float], "scores"]) == (str, float)
    assert typehints.arguments(int) == ()


def test_tuple_members_are_the_outputs_of_a_fixed_length_tuple() -> None:
    ret = typehints.resolve(annotated_step)["return"]
    members = typehints.tuple_members(ret)
    assert [typehints.unwrap(m)[1] for m in members] == [("ids",), ("scores",)]
    assert typehints.tuple_members(tuple[int, str]) == (int, str)


@pytest.mark.parametrize("hint", [tuple[int, ...], tuple, list[int], int, Annotated[tuple[int, str], "pair"]])
def test_variable_length_tuples_and_non_tuples_have_no_members(hint: Any) -> None:
    assert typehints.tuple_members(hint) == ()


@pytest.mark.parametrize(("hint", "cls"), [
    (int, int),
    (list[int], list),
    (dict[str, float], dict),
    (Annotated[list[int], "ids"], list),
    (None, type(None)),
    (type(None), type(None)),
    (Annotated[None, "nothing"], type(None)),
    (Marker, Marker),
])
def test_runtime_class_is_the_class_values_are_instances_of(hint: Any, cls: type) -> None:
    assert typehints.runtime_class(hint) is cls


@pytest.mark.parametrize("hint", [Any, object, T, int | None, Optional[str], Annotated[Any, "x"]])  # noqa: UP045
def test_runtime_class_is_none_when_no_single_class_fits(hint: Any) -> None:
    assert typehints.runtime_class(hint) is None
