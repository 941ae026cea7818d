"""Walking a type hint: the one place that reads ``typing`` constructs.

Steps, parameters, materializers and serving codecs all look at users' type hints. They
ask the same few questions, answered here without extra imports:

- :func:`resolve`: a function's hints, forward references (``from __future__ import
  annotations``) evaluated, ``Annotated`` metadata kept;
- :func:`unwrap`: ``Annotated[T, m1, m2]`` → ``(T, (m1, m2))``; :func:`strip` keeps only ``T``;
- :func:`arguments`: the type arguments (``dict[str, int]`` → ``(str, int)``);
- :func:`union_members`: the members of ``Optional[X]``, ``Union[X, Y]`` and ``X | Y``;
- :func:`tuple_members`: the members of a fixed-length ``tuple[A, B]`` (the outputs of a step);
- :func:`runtime_class`: the class a value of the hint is an instance of (``list[int]`` → list).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any


def resolve(func: Callable[..., Any]) -> dict[str, Any]:
    """The type hints of ``func``, forward references evaluated, ``Annotated`` kept.

    Raises:
        NameError: a hint names something the function's module does not define.
        TypeError: a hint is not a valid type expression.
    """
    return typing.get_type_hints(func, include_extras=True)


def unwrap(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, *metadata]`` → ``(T, metadata)``; any other hint → ``(hint, ())``."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *metadata = typing.get_args(hint)
        return base, tuple(metadata)
    return hint, ()


def strip(hint: Any) -> Any:
    """The hint without its ``Annotated`` wrapper (``Annotated[int, "n"]`` → int)."""
    return unwrap(hint)[0]


def arguments(hint: Any) -> tuple[Any, ...]:
    """The type arguments of the hint without its ``Annotated`` wrapper (``list[int]`` → ``(int,)``)."""
    if type(hint) is type:  # a plain class has none
        return ()
    return typing.get_args(strip(hint))


def is_union(hint: Any) -> bool:
    """Whether the hint is ``Union[...]``, ``Optional[...]`` or ``X | Y``."""
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def union_members(hint: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None`` → ``(X, NoneType)``); ``()`` for any other hint."""
    return typing.get_args(hint) if is_union(hint) else ()


def is_none(hint: Any) -> bool:
    """Whether the hint is ``None`` (written ``None`` or ``type(None)``)."""
    return hint is None or hint is type(None)


def tuple_members(hint: Any) -> tuple[Any, ...]:
    """The members of a fixed-length ``tuple[A, B, ...]``; ``()`` for ``tuple[X, ...]`` and non-tuples."""
    if typing.get_origin(hint) is not tuple:
        return ()
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return ()
    return args


def runtime_class(hint: Any) -> type | None:
    """The class values of this hint are instances of, or None when there is no single one.

    ``list[int]`` → list, ``Annotated[T, ...]`` → T's class, ``None`` → NoneType; unions,
    ``Any``, ``object``, TypeVars and other typing constructs → None.
    """
    if type(hint) is type:  # a plain class (int, a user's class, NoneType): the common case, at once
        return hint if hint is not object else None
    hint = strip(hint)
    if is_none(hint):
        return type(None)
    if is_union(hint):
        return None
    origin = typing.get_origin(hint)
    if origin is not None:
        return origin if isinstance(origin, type) else None
    if isinstance(hint, type) and hint not in (object, typing.Any):  # Any is a class since 3.11
        return hint
    return None


__all__ = ["arguments", "is_none", "is_union", "resolve", "runtime_class", "strip", "tuple_members", "union_members", "unwrap"]
