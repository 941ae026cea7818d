"""How an ndarray api is described in its OpenAPI document: schemas, examples, the request body's text.

Kept apart from :mod:`dosirak.serving.codecs.numpy`, which decodes requests: nothing here
runs on a request's path except :func:`shape_text` and :func:`header_example`, which the
codec's error messages share with the documentation so that both say the same.
"""

from __future__ import annotations

from math import prod
from typing import Any

from dosirak.errors import UnprocessableError
from dosirak.serving.codecs.base import JSON, OCTET_STREAM, RawHeaders, refusals


def shape_text(shape: tuple[int, ...]) -> str:
    """A declared shape as people read it: ``(N, 28, 28)``, N for a free axis."""
    return "(" + ", ".join("N" if d == -1 else str(d) for d in shape) + ")"


def header_example(shape: tuple[int, ...] | None) -> str:
    """An ``X-Dosirak-Shape`` value that fits ``shape`` (two rows on a free axis): ``2,28,28``."""
    return ",".join("2" if d == -1 else str(d) for d in shape) if shape else "2,3"


def array_schema(np: Any, dtype: Any, shape: tuple[int, ...] | None) -> dict[str, Any]:
    """JSON Schema of an array of ``dtype`` and ``shape`` as nested lists."""
    if shape is None:
        return {"type": "array", "items": {}, "description": "an n-dimensional array of numbers (nested lists)"}
    schema: dict[str, Any] = item_schema(np, dtype)
    for axis, size in reversed(list(enumerate(shape))):
        level: dict[str, Any] = {"type": "array", "items": schema}
        if size >= 0:
            level["minItems"] = level["maxItems"] = size
        elif axis < len(shape) - 1:  # [] cannot stand for an axis with axes below it
            level["minItems"] = 1
        schema = level
    return schema


def item_schema(np: Any, dtype: Any) -> dict[str, Any]:
    """JSON Schema of one number of ``dtype`` (None: any number)."""
    if dtype is None:
        return {"type": "number"}
    if dtype.kind == "b":
        return {"type": "boolean"}
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return {"type": "integer", "minimum": int(info.min), "maximum": int(info.max)}
    info = np.finfo(dtype)
    if dtype.itemsize >= 8:
        return {"type": "number", "format": "double", "minimum": -float(info.max), "maximum": float(info.max)}
    # a JSON number rounds to the largest finite value up to half a step above it, and to
    # infinity (refused) from there: that is the bound, not the largest value itself
    step = 2.0 ** (int(info.maxexp) - 1 - int(info.nmant))  # between the largest value and the one below it
    bound = float(info.max) + step / 2
    return {"type": "number", "format": "float", "exclusiveMinimum": -bound, "exclusiveMaximum": bound}


def zeros_example(np: Any, dtype: Any, shape: tuple[int, ...] | None) -> Any:
    """Nested lists of zeros that fit the declaration (one row on a free axis)."""
    fitting = tuple(1 if d == -1 else d for d in (shape or (1, 3)))
    return np.zeros(fitting, dtype=dtype or np.float32).tolist()


def request_description(dtype: str | None, shape: tuple[int, ...] | None) -> str:
    """The request body's text: the declared shape and dtype, and the three ways to send the array."""
    declared = []
    if shape is not None:
        declared.append(f"shape {shape_text(shape)}")
    if dtype is not None:
        declared.append(f"dtype `{dtype}`")
    return (
        f"An array{' of ' + ' and '.join(declared) if declared else ''}, sent one of three ways: "
        "`application/json`, nested lists or `{\"instances\": [...]}`; "
        f"`application/octet-stream`, the raw C-order bytes with the headers `X-Dosirak-Shape: {header_example(shape)}` "
        f"(one axis may be -1, inferred) and `X-Dosirak-Dtype: {dtype or 'float32'}` (either may be left out when "
        "this api declares it); or `application/x-npy`, a `.npy` file as `numpy.save` writes it (no pickles). "
        "Send `Accept: application/x-npy` to get the result as `.npy`."
    )


def error_examples(codec: Any) -> dict[int, dict[str, str]]:
    """What an :class:`~dosirak.serving.codecs.numpy.NdarrayCodec` answers to typical bad bodies, by status.

    The messages are the codec's own: a wrong shape is checked by the codec (on a
    broadcast array, which takes no memory), every other example is a body it decodes.
    """
    np, dtype, shape = codec._np, codec._dtype, codec._shape
    bad: list[tuple[str, bytes, str, RawHeaders]] = [
        ("malformed JSON", b"[[1, 2,", JSON, ()),
        ("unsupported content type", b"1 2 3", "text/plain", ()),
        ("not numbers", b'["text"]', JSON, ()),
    ]
    if dtype is not None and dtype.kind in "iu":
        bad.append(("wrong dtype", b"[0.5]", JSON, ()))
    out: dict[int, dict[str, str]] = {}
    if shape:
        fixed = [i for i, d in enumerate(shape) if d >= 0]
        wrong = [1 if d == -1 else d for d in shape]
        if fixed:
            wrong[fixed[0]] = wrong[fixed[0]] - 1 if wrong[fixed[0]] > 0 else 1
        else:
            wrong.append(1)
        try:
            codec._check(np.broadcast_to(np.zeros((), dtype=dtype or np.float32), wrong))  # refused on its shape
        except UnprocessableError as exc:
            out[422] = {"wrong shape": str(exc)}
        items = prod(d for d in shape if d >= 0)
        if dtype is not None and shape.count(-1) == 1 and 1 < items <= 1 << 20:
            bad.append(("raw body of another size", b"\0" * (dtype.itemsize * (items + 1)), OCTET_STREAM, ()))
    for status, examples in refusals(codec, bad).items():
        out.setdefault(status, {}).update(examples)
    return out


__all__ = ["array_schema", "error_examples", "header_example", "item_schema", "request_description", "shape_text",
           "zeros_example"]
