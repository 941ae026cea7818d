from __future__ import annotations

import io

import numpy as np
import orjson
import pytest

from dosirak.errors import BadRequestError, InternalServerError, UnprocessableError, UnsupportedMediaTypeError
from dosirak.serving.codecs.numpy import NdarrayCodec, Tensor

JSON = "application/json"


@pytest.fixture
def codec() -> NdarrayCodec:
    return NdarrayCodec(Tensor(dtype="float32", shape=(-1, 2, 3)))


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_decodes_nested_lists_and_instances_to_the_declared_dtype(codec: NdarrayCodec) -> None:
    rows = [[[1, 2, 3], [4, 5, 6]]]
    for body in (orjson.dumps(rows), orjson.dumps({"instances": rows})):
        array = codec.decode(body, JSON, [])
        assert array.dtype == np.float32 and array.shape == (1, 2, 3)
        assert array[0, 1, 2] == 6


def test_decodes_raw_bytes_with_shape_and_dtype_headers(codec: NdarrayCodec) -> None:
    data = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    headers = [(b"x-dosirak-shape", b"2,2,3"), (b"x-dosirak-dtype", b"float32")]
    array = codec.decode(data.tobytes(), "application/octet-stream", headers)
    np.testing.assert_array_equal(array, data)
    array.flags.writeable = True  # a writable copy, safe for torch.from_numpy


def test_raw_bytes_infer_the_single_free_axis(codec: NdarrayCodec) -> None:
    data = np.ones((3, 2, 3), dtype=np.float32)
    assert codec.decode(data.tobytes(), "application/octet-stream", []).shape == (3, 2, 3)


def test_decodes_npy_and_casts_float64_down(codec: NdarrayCodec) -> None:
    array = codec.decode(npy(np.ones((1, 2, 3))), "application/x-npy", [])
    assert array.dtype == np.float32


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (orjson.dumps([[[1, 2], [4, 5]]]), "expected shape (N, 2, 3), got (1, 2, 2)"),
        (orjson.dumps([[["a", 2, 3], [4, 5, 6]]]), "holds strings"),
        (orjson.dumps([[[None, 2, 3], [4, 5, 6]]]), "null"),
        (orjson.dumps([[[1, 2, 3], [4, 5]]]), "not rectangular"),
        (orjson.dumps({"data": []}), "instances"),
        (orjson.dumps(3), "expected a JSON array"),
        (orjson.dumps([[[1e300, 2, 3], [4, 5, 6]]]), "NaN or infinity"),
    ],
)
def test_refuses_json_that_does_not_fit(codec: NdarrayCodec, body: bytes, message: str) -> None:
    with pytest.raises(UnprocessableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        codec.decode(body, JSON, [])


@pytest.mark.parametrize("body", [b"", b"[[1, 2", b"[NaN]", b"[Infinity]"])
def test_refuses_malformed_or_empty_json(codec: NdarrayCodec, body: bytes) -> None:
    with pytest.raises(BadRequestError):
        codec.decode(body, JSON, [])


def test_refuses_nan_in_binary_bodies_unless_allowed() -> None:
    data = np.array([[np.nan, 1.0]], dtype=np.float32)
    with pytest.raises(UnprocessableError, match="NaN"):
        NdarrayCodec(Tensor("float32", (-1, 2))).decode(npy(data), "application/x-npy", [])
    lenient = NdarrayCodec(Tensor("float32", (-1, 2), allow_nonfinite=True))
    assert np.isnan(lenient.decode(npy(data), "application/x-npy", [])[0, 0])


def test_refuses_floats_for_an_integer_dtype_and_out_of_range_values() -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1,)))
    with pytest.raises(UnprocessableError, match="expected dtype uint8, got float64"):
        codec.decode(b"[1.5]", JSON, [])
    with pytest.raises(UnprocessableError, match="out of range"):
        codec.decode(b"[256]", JSON, [])
    assert codec.decode(b"[255]", JSON, []).dtype == np.uint8


def test_refuses_bad_binary_bodies(codec: NdarrayCodec) -> None:
    with pytest.raises(BadRequestError, match="not a valid .npy"):
        codec.decode(b"\x93NUMPY garbage", "application/x-npy", [])
    with pytest.raises(BadRequestError, match="whole number"):
        codec.decode(b"abc", "application/octet-stream", [])
    with pytest.raises(BadRequestError, match="X-Dosirak-Shape"):
        codec.decode(b"\x00" * 24, "application/octet-stream", [(b"x-dosirak-shape", b"two")])
    with pytest.raises(UnprocessableError, match="cannot have shape"):
        codec.decode(b"\x00" * 24, "application/octet-stream", [(b"x-dosirak-shape", b"5,5")])
    with pytest.raises(BadRequestError, match="empty"):
        codec.decode(b"", "application/x-npy", [])
    with pytest.raises(UnprocessableError, match="expected dtype int64, got float32"):
        NdarrayCodec(Tensor("int64", (-1,))).decode(npy(np.ones(2, np.float32)), "application/x-npy", [])


def test_refuses_other_content_types(codec: NdarrayCodec) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="application/json"):
        codec.decode(b"[]", "text/plain", [])


def test_encodes_json_by_default_and_npy_when_asked(codec: NdarrayCodec) -> None:
    value = np.arange(3, dtype=np.float32)
    body, media = codec.encode(value, "*/*")
    assert media == JSON and orjson.loads(body) == [0.0, 1.0, 2.0]
    body, media = codec.encode(value, "application/x-npy")
    assert media == "application/x-npy"
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), value)
    body, _ = codec.encode(np.arange(6).reshape(2, 3)[:, ::2], "")  # non-contiguous falls back to tolist
    assert orjson.loads(body) == [[0, 2], [3, 5]]


def test_splits_a_batch_result_back_by_rows(codec: NdarrayCodec) -> None:
    batch = codec.concat([np.zeros((1, 2, 3)), np.ones((2, 2, 3))])
    parts = codec.split(batch, [1, 2])
    assert [p.shape[0] for p in parts] == [1, 2] and parts[1].sum() == 12
    with pytest.raises(InternalServerError, match="returned 2 rows for 3 input rows"):
        codec.split(np.zeros((2, 10)), [1, 2])


def test_schema_describes_shape_and_dtype(codec: NdarrayCodec) -> None:
    schema = codec.schema()
    assert schema["type"] == "array" and "minItems" not in schema
    assert schema["items"]["minItems"] == 2 and schema["items"]["items"]["maxItems"] == 3
    assert schema["items"]["items"]["items"]["format"] == "float"
    assert np.asarray(codec.example()).shape == (1, 2, 3)


def test_tensor_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="not a numpy dtype"):
        Tensor(dtype="floaty")
    with pytest.raises(ValueError, match="-1"):
        Tensor(shape=(-2,))
    assert Tensor(dtype="float", shape=(None, 3)).shape == (-1, 3)


def test_json_of_the_declared_inner_shape_decodes_exactly_like_numpy() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 28, 28)))
    images = np.random.default_rng(0).random((5, 28, 28))  # float64 values, rounded to float32 by the codec
    body = orjson.dumps(images.tolist())
    decoded = codec.decode(body, JSON, [])
    assert decoded.dtype == np.float32 and decoded.shape == (5, 28, 28)
    np.testing.assert_array_equal(decoded, np.asarray(orjson.loads(body), dtype=np.float32))


@pytest.mark.parametrize("body", [
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2]]]",  # a short row
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2,3,4]]]",  # a long row
    b"[[[1,2,3],[4,5,[6]]]]",  # a list where a number belongs
    b"[[[1,2,3],[4,5,6]],[7,8]]",  # numbers where rows belong
    b"[[[1,2,3],{}]]",
])
def test_ragged_or_misnested_json_is_refused_with_422(body: bytes) -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 2, 3)))
    with pytest.raises(UnprocessableError, match="not rectangular|expected shape"):
        codec.decode(body, JSON, [])


def test_overflowing_numbers_are_refused_not_silently_infinite() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 2)))
    with pytest.raises(UnprocessableError, match="NaN or infinity"):
        codec.decode(b"[[1, 1e40]]", JSON, [])
