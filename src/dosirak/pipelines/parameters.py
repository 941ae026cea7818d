"""Validating parameters against type hints before anything runs.

Parameters must be JSON-serialisable. Simple hints (int, float, str, bool, None, list[X],
dict[str, X], tuple, Optional/Union, Literal) are checked here without extra imports;
pydantic models and anything richer are validated with pydantic.
"""

from __future__ import annotations

import json
import math
import typing
from typing import Any

from dosirak import typehints
from dosirak.errors import ParameterError

_JSON_TYPES = (str, int, float, bool, type(None), list, dict, tuple)


def check_json(where: str, value: Any) -> None:
    """Raise ParameterError unless ``value`` is JSON-serialisable (finite floats only)."""
    try:
        json.dumps(to_json(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"{where} is {type(value).__name__} {_short(value)}, which is not JSON-serialisable ({exc}); "
            "parameters must be JSON values (numbers, strings, booleans, lists, dicts); pass data "
            "between steps as step outputs instead"
        ) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(where: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against ``annotation``; return it (pydantic models become instances)."""
    if annotation is typing.Any or annotation is None and value is None:
        return value
    ok, converted = _check(value, annotation)
    if ok:
        return converted
    raise ParameterError(
        f"{where} expects {_type_name(annotation)} but got {type(value).__name__} {_short(value)}"
    )


def is_json_type(annotation: Any) -> bool:
    """Whether values of this hint can be parameters (JSON types, pydantic models)."""
    annotation = typehints.strip(annotation)
    if annotation is typing.Any or annotation is object:
        return True
    if typehints.is_union(annotation):
        return all(is_json_type(a) for a in typehints.union_members(annotation))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin is not None:
        return origin in (list, dict, tuple)
    if annotation in _JSON_TYPES:
        return True
    return _is_pydantic_model(annotation)


def _is_pydantic_model(tp: Any) -> bool:
    return isinstance(tp, type) and any(
        f"{b.__module__}.{b.__qualname__}" == "pydantic.main.BaseModel" for b in tp.__mro__
    )


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _check(value: Any, annotation: Any) -> tuple[bool, Any]:
    annotation = typehints.strip(annotation)
    if annotation is typing.Any or annotation is object:
        return True, value
    if typehints.is_union(annotation):
        for member in typehints.union_members(annotation):
            ok, converted = _check(value, member)
            if ok:
                return True, converted
        return False, value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return value in args, value
    if typehints.is_none(annotation):
        return value is None, value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        return math.isfinite(value), float(value)
    if annotation is str:
        return isinstance(value, str), value
    if origin in (list, typing.List) or annotation is list:  # noqa: UP006
        if not isinstance(value, (list, tuple)):
            return False, value
        if not args:
            return True, list(value)
        out = []
        for item in value:
            ok, conv = _check(item, args[0])
            if not ok:
                return False, value
            out.append(conv)
        return True, out
    if origin is tuple or annotation is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return True, tuple(value)
        if len(args) != len(value):
            return False, value
        pairs = [_check(v, a) for v, a in zip(value, args, strict=True)]
        return all(p[0] for p in pairs), tuple(p[1] for p in pairs)
    if origin in (dict, typing.Dict) or annotation is dict:  # noqa: UP006
        if not isinstance(value, dict):
            return False, value
        if not args:
            return True, value
        out_d = {}
        for k, v in value.items():
            ok_k, _ = _check(k, args[0])
            ok_v, conv = _check(v, args[1])
            if not (ok_k and ok_v):
                return False, value
            out_d[k] = conv
        return True, out_d
    if _is_pydantic_model(annotation):
        if isinstance(value, annotation):
            return True, value
        if not isinstance(value, dict):
            return False, value
        from pydantic import ValidationError

        try:
            return True, annotation.model_validate(value)
        except ValidationError as exc:
            raise ParameterError(f"invalid {annotation.__name__}: {exc}") from None
    if isinstance(annotation, type):
        return isinstance(value, annotation), value
    return True, value  # unknown typing construct: accept, JSON check already done


def to_json(value: Any) -> Any:
    """The JSON form of a validated parameter (pydantic models dumped)."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any, annotation: Any) -> Any:
    """The value a step receives for a stored JSON parameter: tuples and pydantic models rebuilt."""
    ok, converted = _check(value, annotation)
    return converted if ok else value


__all__ = ["check_json", "from_json", "is_json_type", "to_json", "validate"]
