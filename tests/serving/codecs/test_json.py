from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import BaseModel

from dosirak.errors import BadRequestError, UnprocessableError, UnsupportedMediaTypeError
from dosirak.serving.codecs.json import JsonCodec

JSON = "application/json"


class Item(BaseModel):
    name: str
    price: float


@pytest.mark.parametrize(
    ("annotation", "body", "expected"),
    [
        (dict, b'{"a": [1, 2]}', {"a": [1, 2]}),
        (list, b"[1, \"x\"]", [1, "x"]),
        (str, b'"hi"', "hi"),
        (int, b"3", 3),
        (float, b"3", 3.0),
        (bool, b"true", True),
        (list[float], b"[1, 2.5]", [1.0, 2.5]),
        (Any, b'{"free": null}', {"free": None}),
    ],
)
def test_decodes_json_types(annotation: Any, body: bytes, expected: Any) -> None:
    assert JsonCodec(annotation).decode(body, JSON, []) == expected


def test_validates_pydantic_models() -> None:
    codec = JsonCodec(Item)
    assert codec.decode(b'{"name": "tea", "price": 2}', JSON, []) == Item(name="tea", price=2.0)
    with pytest.raises(UnprocessableError, match="price: Field required"):
        codec.decode(b'{"name": "tea"}', JSON, [])


@pytest.mark.parametrize(
    ("annotation", "body"),
    [(int, b'"3"'), (float, b'"3.5"'), (str, b"3"), (bool, b'"yes"'), (dict, b"[]"), (list[int], b"[1.5]")],
)
def test_refuses_strings_for_numbers_and_other_mismatches(annotation: Any, body: bytes) -> None:
    with pytest.raises(UnprocessableError):
        JsonCodec(annotation).decode(body, JSON, [])


@pytest.mark.parametrize("body", [b"", b"{", b"[NaN]", b"Infinity", b"{'a': 1}"])
def test_refuses_malformed_json_nan_and_empty_bodies(body: bytes) -> None:
    with pytest.raises(BadRequestError):
        JsonCodec(list[float]).decode(body, JSON, [])


def test_refuses_other_content_types() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        JsonCodec(dict).decode(b"{}", "text/csv", [])


def test_encodes_models_numpy_values_and_plain_json() -> None:
    body, media = JsonCodec(Item).encode(Item(name="a", price=1.5), "")
    assert media == JSON and orjson.loads(body) == {"name": "a", "price": 1.5}
    body, _ = JsonCodec(dict).encode({"score": np.float32(0.5), "ids": np.arange(2)}, "")
    assert orjson.loads(body) == {"score": 0.5, "ids": [0, 1]}


def test_lists_batch_along_their_items() -> None:
    codec = JsonCodec(list[int])
    assert codec.batchable and not JsonCodec(dict).batchable
    assert codec.concat([[1], [2, 3]]) == [1, 2, 3]
    assert codec.split([10, 20, 30], [1, 2]) == [[10], [20, 30]]


def test_schema_references_model_components() -> None:
    codec = JsonCodec(list[Item])
    assert codec.schema() == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    assert set(codec.components()["Item"]["required"]) == {"name", "price"}


def test_encodes_what_orjson_cannot_big_integers_and_lone_surrogates() -> None:
    body, _ = JsonCodec(dict).encode({"big": -24632121959897670011194441728, "s": "\ud85f"}, "")
    import json

    assert json.loads(body) == {"big": -24632121959897670011194441728, "s": "\ud85f"}
