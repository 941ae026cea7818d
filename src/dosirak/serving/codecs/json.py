"""JSON values over HTTP: ``dict``, ``list``, ``str``, numbers, ``bool``, pydantic models.

Validation uses pydantic in strict mode, so ``"3"`` is not an ``int`` and a missing field of
a model is a 422 naming the field. NaN and infinity are not JSON and are refused. A
``list[...]`` parameter can be batched: the list is the batch axis.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import orjson

from dosirak.errors import BadRequestError, InternalServerError, UnprocessableError
from dosirak.serving.codecs.base import JSON, RawHeaders, check_media_type, refusals

_REF_TEMPLATE = "#/components/schemas/{model}"
_ACCEPTED = (JSON,)


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    tolist = getattr(value, "tolist", None)  # numpy and torch scalars/arrays
    if tolist is not None:
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _stdlib_dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, default=_default, allow_nan=False, ensure_ascii=True).encode()
    except (TypeError, ValueError) as exc:
        raise InternalServerError(f"the api returned a value JSON cannot carry: {exc}") from None


def _mentions_model(annotation: Any) -> bool:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_mentions_model(arg) for arg in typing.get_args(annotation))


class JsonCodec:
    """Codec for any type pydantic can validate from JSON.

    Args:
        annotation: The declared type (``dict``, ``list[float]``, a ``BaseModel`` ...);
            ``typing.Any`` accepts any JSON.
    """

    kind = "json"
    media_types: tuple[str, ...] = _ACCEPTED

    def __init__(self, annotation: Any = Any) -> None:
        from pydantic import TypeAdapter

        self.annotation = annotation
        self._adapter: Any = TypeAdapter(annotation)
        self._is_any = annotation is Any
        self._use_pydantic_dump = _mentions_model(annotation)
        self.batchable = typing.get_origin(annotation) is list or annotation is list

    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        check_media_type(content_type or JSON, _ACCEPTED)
        if not body:
            raise BadRequestError("the request body is empty; send a JSON document")
        try:
            data = orjson.loads(body)  # refuses NaN/Infinity and malformed JSON
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"malformed JSON: {exc}") from exc
        if self._is_any:
            return data
        from pydantic import ValidationError

        try:
            return self._adapter.validate_json(body, strict=True)
        except ValidationError as exc:
            raise UnprocessableError(_describe(exc)) from None

    def decoded_size(self, body: bytes, content_type: str, headers: RawHeaders) -> int:
        """An estimate: JSON read into Python objects takes up to about 8 times its text."""
        return 8 * len(body)

    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        if self._use_pydantic_dump:
            return self._adapter.dump_json(value), JSON
        try:
            return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY), JSON
        except TypeError:  # integers over 64 bits, lone surrogates: the slow, general encoder
            return _stdlib_dumps(value), JSON

    # batching: a list is its own batch axis
    def batch_size(self, value: Any) -> int:
        return len(value)

    def concat(self, values: list[Any]) -> Any:
        out: list[Any] = []
        for value in values:
            out.extend(value)
        return out

    def split(self, value: Any, sizes: list[int]) -> list[Any]:
        if len(value) != sum(sizes):
            raise InternalServerError(f"the batchable api returned {len(value)} items for {sum(sizes)} inputs")
        out, start = [], 0
        for size in sizes:
            out.append(list(value[start : start + size]))
            start += size
        return out

    def _schema_and_defs(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from pydantic import BaseModel

        schema: dict[str, Any] = self._adapter.json_schema(ref_template=_REF_TEMPLATE, mode=mode)
        defs: dict[str, Any] = schema.pop("$defs", {})
        annotation = self.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            name = str(schema.get("title", annotation.__name__))
            defs[name] = schema
            schema = {"$ref": _REF_TEMPLATE.format(model=name)}
        return schema, defs

    def schema(self, mode: str = "validation") -> dict[str, Any]:
        """JSON Schema of the value; pydantic models are ``$ref`` s to :meth:`components`."""
        return self._schema_and_defs(mode)[0]

    def components(self) -> dict[str, Any]:
        """Named schemas (pydantic models) referenced from :meth:`schema`."""
        defs: dict[str, Any] = {}
        for mode in ("validation", "serialization"):
            defs.update(self._schema_and_defs(mode)[1])
        return defs

    def request_content(self) -> dict[str, Any]:
        return {JSON: {"schema": self.schema()}}

    def response_content(self) -> dict[str, Any]:
        return {JSON: {"schema": self.schema("serialization")}}

    def error_examples(self) -> dict[int, dict[str, str]]:
        """What :meth:`decode` answers to typical bad bodies, by status (see :func:`refusals`)."""
        bad: list[tuple[str, bytes, str, RawHeaders]] = [
            ("malformed JSON", b'{"a": ', JSON, ()),
            ("unsupported content type", b"{}", "text/plain", ()),
        ]
        if not self._is_any:
            bad += [("does not fit the type", body, JSON, ()) for body in (b"{}", b"[]", b"null", b'"text"', b"0")]
        return refusals(self, bad)


def _describe(exc: Any) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        parts.append(f"{where}: {error.get('msg')}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


__all__ = ["JsonCodec"]
