from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosirak.errors import (
    BadRequestError,
    InternalServerError,
    ServingError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
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
    with pytest.raises(UnprocessableError, match="X-Dosirak-Shape 5,5 needs 25 items, but the 24-byte body holds 6"):
        codec.decode(b"\x00" * 24, "application/octet-stream", [(b"x-dosirak-shape", b"5,5")])
    with pytest.raises(BadRequestError, match="empty"):
        codec.decode(b"", "application/x-npy", [])
    with pytest.raises(UnprocessableError, match="expected dtype int64, got float32"):
        NdarrayCodec(Tensor("int64", (-1,))).decode(npy(np.ones(2, np.float32)), "application/x-npy", [])


def test_a_raw_body_that_does_not_fit_the_declared_shape_says_how_to_declare_it() -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1, 28, 28)))
    with pytest.raises(UnprocessableError) as caught:
        codec.decode(b"\0" * 1696, "application/octet-stream", [])
    message = str(caught.value)
    assert "1696 uint8 items" in message and "(N, 28, 28)" in message and "a multiple of 784" in message
    assert "X-Dosirak-Shape" in message and "X-Dosirak-Dtype" in message and "application/x-npy" in message
    assert "\n" not in message
    # what the message suggests works: the shape and dtype in headers, or the same bytes as .npy
    headers = [(b"x-dosirak-shape", b"2,28,28"), (b"x-dosirak-dtype", b"uint8")]
    assert codec.decode(b"\0" * 1568, "application/octet-stream", headers).shape == (2, 28, 28)
    assert codec.decode(npy(np.zeros((2, 28, 28), np.uint8)), "application/x-npy", []).shape == (2, 28, 28)


def test_a_raw_body_that_does_not_fit_its_shape_header_names_the_header_and_the_counts() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 4)))
    with pytest.raises(UnprocessableError) as caught:
        codec.decode(b"\0" * 24, "application/octet-stream", [(b"x-dosirak-shape", b"2,4")])
    message = str(caught.value)
    assert "X-Dosirak-Shape 2,4" in message and "8 items" in message and "6 float32 items" in message
    assert "application/x-npy" in message


def test_a_raw_body_of_a_partial_item_names_the_dtype_header_and_npy() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 4)))
    with pytest.raises(BadRequestError) as caught:
        codec.decode(b"\0" * 6, "application/octet-stream", [])
    message = str(caught.value)
    assert "6 bytes" in message and "float32" in message
    assert "X-Dosirak-Dtype" in message and "application/x-npy" in message


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
    assert schema["type"] == "array" and schema["minItems"] == 1 and "maxItems" not in schema  # [] has no 3 axes
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


# ------------------------------------------------ the simdjson path for fixed inner sizes
# Bodies of numbers in the declared inner sizes are read by simdjson; everything else, and
# every error, by the orjson path. The two must agree bit for bit, and on every error.


def orjson_only(spec: Tensor) -> NdarrayCodec:
    """The codec with its simdjson path switched off: the reference the fast path must match."""
    codec = NdarrayCodec(spec)
    codec._simdjson = None
    return codec


def outcome(codec: NdarrayCodec, body: bytes) -> tuple[str, Any]:
    try:
        array = codec.decode(body, JSON, [])
    except ServingError as exc:
        return type(exc).__name__, str(exc)
    return "array", (array.dtype.str, array.shape, array.tobytes())


def assert_same_as_orjson(spec: Tensor, body: bytes) -> tuple[str, Any]:
    fast = outcome(NdarrayCodec(spec), body)
    assert fast == outcome(orjson_only(spec), body), body[:300]
    return fast


EDGE_FLOATS = [0.0, -0.0, 1e-45, -1e-45, 1.4e-45, 3.4e38, -3.4e38, 3.4028235e38, 1.1754944e-38, 1.0, 255.0, 0.1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(["float16", "float32", "float64"]),
    rows=st.integers(1, 4),
    data=st.data(),
    as_float32=st.booleans(),
    instances=st.booleans(),
)
def test_fixed_shape_json_decodes_bit_identically_to_the_orjson_path(
    dtype: str, rows: int, data: st.DataObject, as_float32: bool, instances: bool
) -> None:
    numbers = st.one_of(
        st.floats(width=32, allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(EDGE_FLOATS),
        st.integers(-(2**63), 2**64 - 1),  # written without a decimal point
        st.integers(-1000, 1000),
    )
    values = data.draw(st.lists(numbers, min_size=rows * 6, max_size=rows * 6))
    if as_float32:  # what a numpy client sends: float32 values, shortest float32 repr
        with np.errstate(over="ignore"):  # beyond float32: inf, which orjson writes as null
            array = np.array([float(v) for v in values], dtype=np.float32).reshape(rows, 2, 3)
        body = orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)
    else:
        body = orjson.dumps(np.array(values, dtype=object).reshape(rows, 2, 3).tolist())
    if instances:
        body = b'{"instances": ' + body + b"}"
    assert_same_as_orjson(Tensor(dtype, (-1, 2, 3)), body)
    if as_float32 and b"null" not in body:  # the case the fast path is for: it must have read it
        assert NdarrayCodec(Tensor(dtype, (-1, 2, 3)))._from_json_numbers(body) is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="1234567890.eE+-", min_size=1, max_size=30))
def test_any_number_literal_decodes_like_orjson(literal: str) -> None:
    assert_same_as_orjson(Tensor("float32", (-1, 1)), f"[[{literal}]]".encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 3), data=st.data(), instances=st.booleans())
def test_lists_made_ragged_with_the_same_counts_are_answered_as_by_the_orjson_path(
    rows: int, data: st.DataObject, instances: bool
) -> None:
    lists: list[Any] = np.arange(rows * 6).reshape(rows, 2, 3).tolist()
    leaves = [(i, j) for i in range(rows) for j in range(2)]
    (a, b), (c, d) = data.draw(st.lists(st.sampled_from(leaves), min_size=2, max_size=2))
    moved = data.draw(st.integers(0, 3))
    lists[c][d].extend(lists[a][b][:moved])  # numbers moved from one row to another
    del lists[a][b][:moved]
    if data.draw(st.booleans()) and rows > 1:  # or a whole row moved to another image
        lists[-1].append(lists[0].pop())
    body = orjson.dumps({"instances": lists} if instances else lists)
    assert_same_as_orjson(Tensor("float32", (-1, 2, 3)), body)


TOKENS = ["[", "]", "[", "]", ",", ",", " ", "\n", "1", "-0", "2.5", "1e400", "1e-400", "3e38", "9007199254740993",
          "18446744073709551615", "123456789012345678901234567890", '"a"', "null", "true", "false", "{}",
          '{"instances":', '"instances"', ":", "}", "\ufeff", "NaN"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([(-1, 2), (-1, 2, 1), (-1,), (2, 1)]))
def test_any_body_is_answered_exactly_as_by_the_orjson_path(tokens: list[str], shape: tuple[int, ...]) -> None:
    assert_same_as_orjson(Tensor("float32", shape), "".join(tokens).encode())


def valid_and_mangled(rows: list[list[Any]]) -> list[bytes]:
    body = orjson.dumps(rows)
    return [body, b'{"instances": ' + body + b"}", b" \n\t" + body + b"\r\n"]


@pytest.mark.parametrize("body", [
    *valid_and_mangled([[[1, 2, 3], [4, 5, 6]]]),
    b"[[[1,2,3],[[4,5],6,[]]]]",  # nested lists where numbers belong, with the right count of numbers
    b"[[[1,2,3],[4,5,[6]]],[[],[1,2,3]]]",
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2]]]",
    b"[[[1,2,3,4],[5,6]]]", b"[[[1,2,3]],[[4,5,6],[7,8,9],[1,2,3]]]",  # ragged, with the right counts
    b"[[[1,2,3],{\"a\":1,\"b\":2,\"c\":3}]]",  # an object with as many keys as the row has numbers
    b"[[[1,2,3],\"abc\"]]",
    b"[[[1,2,3],[4,5,true]]]", b"[[[1,2,3],[4,5,null]]]", b'[[[1,2,3],[4,5,"6"]]]',
    b"[[[1,2,3],[4,5,1e400]]]", b"[[[1,2,3],[4,5,1e39]]]", b"[[[1,2,3],[4,5,-1e-400]]]",
    b"[]", b"[[]]", b"{}", b'{"instances": []}', b'{"instances": 3}', b'{"data": [[[1,2,3],[4,5,6]]]}',
    b'{"instances": [[[1,2,3],[4,5,6]]], "other": [1]}',  # extra keys: ignored, as orjson does
    b'{"instances": [[[1,2,3],[4,5,6]]], "instances": [[[6,5,4],[3,2,1]]]}',  # a repeated key: the last wins
    b'{"instanc\\u0065s": [[[1,2,3],[4,5,6]]]}',
    b"\xef\xbb\xbf[[[1,2,3],[4,5,6]]]",  # a byte-order mark: orjson refuses it
    b"[[[1,2,3],[4,5,6]]] x", b"[[[1,2,3],[4,5,6]]", b"[[[1,2,3],[4,5,6,]]]",
    b"[[[9007199254740993,1,1],[1,1,1]]]", b'{"instances": [[[9007199254740993,1,1],[1,1,1]]]}',
    b'{"instances": [[[1152921573326323713,1,1],[1,1,1]]]}',  # 2**60 + 2**36 + 1: rounds differently via int64
    b"[[[1152921573326323713,1,1],[1,1,1]]]", b'{"instances": [[[1152921573326323713.0,1,1],[1,1,1]]]}',
    b"[[[18446744073709551615,1,1],[1,1,1]]]", b"[[[-9223372036854775809,1,1],[1,1,1]]]",
    b"[[[123456789012345678901234567890,1,1],[1,1,1]]]",
])
def test_the_simdjson_path_agrees_with_orjson_on_valid_and_invalid_bodies(body: bytes) -> None:
    for spec in (Tensor("float32", (-1, 2, 3)), Tensor("float64", (-1, 2, 3)), Tensor("float32", (1, 2, 3)),
                 Tensor("float32", (-1,))):
        assert_same_as_orjson(spec, body)


def test_the_simdjson_path_reads_numbers_in_the_declared_sizes_and_nothing_else() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 2, 3)))
    for body in valid_and_mangled([[[1, 2.5, 3], [4, 5, 6]], [[0, -0.0, 1e-45], [3.4e38, 7, 8]]]):
        assert codec._from_json_numbers(body) is not None, body
    assert codec._from_json_numbers(b'{"instances": [[[1,2,3],[4,5,6]]]}') is not None  # no decimal point
    for body in (b"[[[1,2,3],[[4,5],6,[]]]]", b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2]]]", b"[]", b"[[[1,2,3],{}]]",
                 b"[[[1,2,3,4],[5,6]]]", b"[[[1,2,3]],[[4,5,6],[7,8,9],[1,2,3]]]",
                 b'{"instances": [[[1,2,3],[4,5,6]]], "other": 1}', b"[[[1,2,3],[4,5,1e400]]]",
                 b'{"instances": [[[1,2,3],[4,5,9007199254740992]]]}'):
        assert codec._from_json_numbers(body) is None, body
    assert NdarrayCodec(Tensor("float32", (-1, 2))).decode(b"[[1, 2]]", JSON, []) is not None
    assert NdarrayCodec(Tensor("float32", (-1, None)))._simdjson is None  # a free inner axis: orjson
    assert NdarrayCodec(Tensor("int64", (-1, 2)))._simdjson is None


def test_nested_lists_where_numbers_belong_are_refused_with_422() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 2, 3)))
    for body in (b"[[[1,2,3],[[4,5],6,[]]]]", b'{"instances": [[[1,2,3],[[4,5],6,[]]]]}'):
        with pytest.raises(UnprocessableError, match="not rectangular|expected shape"):
            codec.decode(body, JSON, [])


def test_a_large_body_decodes_like_orjson() -> None:
    images = np.random.default_rng(1).random((300, 28, 28)).astype(np.float32)
    body = orjson.dumps(images, option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(body) > 1 << 20  # beyond the size whose parser a thread keeps
    kind, (_, shape, raw) = assert_same_as_orjson(Tensor("float32", (-1, 28, 28)), body)
    assert kind == "array" and shape == (300, 28, 28) and raw == images.tobytes()


def test_decoded_arrays_are_writable() -> None:
    array = NdarrayCodec(Tensor("float64", (-1, 2))).decode(b"[[1, 2]]", JSON, [])
    array[0, 0] = 5.0  # torch.from_numpy warns on read-only arrays


def test_several_threads_decode_at_once() -> None:
    codec = NdarrayCodec(Tensor("float32", (-1, 28, 28)))
    rng = np.random.default_rng(2)
    batches = [rng.random((n, 28, 28)).astype(np.float32) for n in (1, 3, 8, 32, 200)]
    bodies = [orjson.dumps(b, option=orjson.OPT_SERIALIZE_NUMPY) for b in batches]

    def decode_all(_: int) -> bool:
        return all(np.array_equal(codec.decode(body, JSON, []), batch)
                   for _ in range(10) for body, batch in zip(bodies, batches, strict=True))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(decode_all, range(16)))


def test_a_parser_still_held_by_an_earlier_document_is_replaced() -> None:
    import simdjson

    from dosirak.serving.codecs.numpy import _parser

    held = _parser(simdjson, 10).parse(b"[[1]]")  # as if an escaped error's traceback kept a proxy
    codec = NdarrayCodec(Tensor("float32", (-1, 2)))
    assert codec.decode(b"[[1, 2]]", JSON, []).tolist() == [[1, 2]]  # answered by orjson this time
    assert codec._from_json_numbers(b"[[3, 4]]").tolist() == [[3, 4]]  # by a fresh parser
    assert held.as_list() == [[1]]


def test_a_thread_keeps_its_parser_for_small_bodies_only() -> None:
    import simdjson

    from dosirak.serving.codecs.numpy import _parser

    assert _parser(simdjson, 1000) is _parser(simdjson, 1000)
    assert _parser(simdjson, 2 << 20) is not _parser(simdjson, 2 << 20)  # its buffers go with the request


# ------------------------------------------------ hostile binary bodies: a 4xx, never a 500


@pytest.mark.parametrize("name", ["(2147483648,)u1", "(2,)u1", "V8", "O", "U4", "M8", "(", "u1,u1", "float33"])
def test_a_dtype_header_that_names_no_plain_number_type_is_a_400(name: str) -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1, 28, 28)))
    headers = [(b"x-dosirak-dtype", name.encode()), (b"x-dosirak-shape", b"1,28,28")]
    with pytest.raises(BadRequestError, match="X-Dosirak-Dtype"):
        codec.decode(b"\x00" * 784, "application/octet-stream", headers)


@pytest.mark.parametrize("shape", [b"100000000000000000000000", b"-5,2", b"1,-1,-1", b"," * 100, b"1," * 70 + b"1"])
def test_a_shape_header_no_array_can_have_is_a_4xx(shape: bytes) -> None:
    codec = NdarrayCodec(Tensor("uint8", None))
    with pytest.raises((BadRequestError, UnprocessableError)):
        codec.decode(b"\x00" * 24, "application/octet-stream", [(b"x-dosirak-shape", shape), (b"x-dosirak-dtype", b"uint8")])


def npy_header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return out.getvalue()


def test_an_npy_header_claiming_more_than_the_body_holds_is_a_400_before_anything_is_allocated() -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1, 28, 28)))
    for shape in ((10**11, 28, 28), (2, 28, 28), (2**62, 2**62)):
        with pytest.raises(BadRequestError, match=r"claims .* but the body holds 784 bytes"):
            codec.decode(npy_header("|u1", shape) + b"\x00" * 784, "application/x-npy", [])
    with pytest.raises(BadRequestError, match="claims"):  # fewer items than the body holds
        codec.decode(npy_header("|u1", (1, 28, 27)) + b"\x00" * 784, "application/x-npy", [])


def test_an_npy_of_a_record_or_object_dtype_is_a_400() -> None:
    codec = NdarrayCodec(Tensor("uint8", None))
    for descr in ("|O", "[('a', '|u1')]", "|V4", "<U1"):
        with pytest.raises(BadRequestError, match=".npy"):
            codec.decode(npy_header(descr, (1,)) + b"\x00" * 4, "application/x-npy", [])


def test_a_fortran_order_npy_decodes_like_numpy_load() -> None:
    data = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    array = NdarrayCodec(Tensor("float32", (-1, 3))).decode(npy(data), "application/x-npy", [])
    np.testing.assert_array_equal(array, data)
    array[0, 0] = 7.0  # writable


def test_json_booleans_are_not_numbers() -> None:
    for dtype in ("uint8", "int64", "float32"):
        codec = NdarrayCodec(Tensor(dtype, (-1, 2)))
        for body in (b"[[true, false]]", b"[[1, true]]", b'{"instances": [[0, false]]}'):
            with pytest.raises(UnprocessableError, match="booleans"):
                codec.decode(body, JSON, [])
    with pytest.raises(UnprocessableError, match="expected dtype uint8, got bool"):
        NdarrayCodec(Tensor("uint8", (-1, 2))).decode(npy(np.ones((1, 2), bool)), "application/x-npy", [])
    assert NdarrayCodec(Tensor("bool", (-1, 2))).decode(b"[[true, false]]", JSON, []).tolist() == [[True, False]]
    assert NdarrayCodec(Tensor("uint8", (-1, 2))).decode(b'[[1, 2]]', JSON, []).tolist() == [[1, 2]]


def test_the_decoded_size_is_read_without_decoding() -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1, 28, 28)))
    assert codec.decoded_size(npy_header("|u1", (10**11, 28, 28)), "application/x-npy", []) == 10**11 * 784
    assert codec.decoded_size(b"\x00" * 784, "application/octet-stream", []) == 784
    assert codec.decoded_size(b"[" * 1000, JSON, []) >= 1000


# ------------------------------------------------ large JSON bodies, decoded in pieces
# A body over a few hundred KiB is cut at the commas between the outer array's items and
# read piece by piece, so that no single call holds the interpreter for long. Every body
# gets the answer a whole-body decode gives: the same array, or an error of the same kind.


def in_pieces(codec: NdarrayCodec, body: bytes, piece_bytes: int) -> tuple[str, Any]:
    try:
        array = codec._from_json_in_pieces(body, piece_bytes)
    except ServingError as exc:
        return type(exc).__name__, str(exc)
    return "array", (array.dtype.str, array.shape, array.tobytes())


#: The one object form a large body may take: ``{"instances": VALUE}`` and nothing else.
ONLY_INSTANCES = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"instances"[ \t\n\r]*:(.*)\}[ \t\n\r]*', re.DOTALL)


def only_instances(body: bytes) -> bool:
    match = ONLY_INSTANCES.fullmatch(body)
    if match is None:
        return False
    try:
        orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return False  # more keys after the value
    return True


def assert_pieces_agree(spec: Tensor, body: bytes) -> None:
    codec = NdarrayCodec(spec)
    whole = outcome(codec, body)
    for piece_bytes in (1, 7, 64):
        cut = in_pieces(codec, body, piece_bytes)
        if body.lstrip(b" \t\n\r").startswith(b"{") and not only_instances(body):
            assert cut[0] in ("BadRequestError", "UnprocessableError"), (body[:300], cut)
        elif whole[0] == "array" or cut[0] == "array":
            assert cut == whole, (body[:300], piece_bytes)
        else:
            assert cut[0] == whole[0], (body[:300], piece_bytes, cut, whole)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40),
       st.sampled_from([(-1, 2), (-1, 2, 1), (-1,), None]),
       st.sampled_from(["float32", "uint8", "int64", None]))
def test_any_body_in_pieces_is_answered_as_the_whole_body(tokens: list[str], shape: tuple[int, ...] | None,
                                                          dtype: str | None) -> None:
    assert_pieces_agree(Tensor(dtype, shape), "".join(tokens).encode())


@pytest.mark.parametrize("body", [
    *valid_and_mangled([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [1, 2, 3]], [[4, 5, 6], [7, 8, 9]]]),
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2]]]", b"[[[1,2,3],[4,5,6]],[[7,8.5,9],[1,2,3]]]",
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2,true]]]", b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2,null]]]",
    b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2,3]]]]", b"[[[1,2,3],[4,5,6]],,[[7,8,9],[1,2,3]]]",
    b"[[[1,2,3],[4,5,6]] [[7,8,9],[1,2,3]]]", b"[[[1,2,3],[4,5,6]],[[7,8,9],[1,2,3]]", b"[[[1,2,3],[4,5,6]],]",
    b"[[[1,2,3],[4,5,300]]]", b'[[[1,2,3],[4,5,"6"]]]', b"[[[1,2,3],{}]]", b"[]", b" [ ] ",
])
def test_bodies_cut_in_pieces_agree_with_the_whole_body(body: bytes) -> None:
    for spec in (Tensor("float32", (-1, 2, 3)), Tensor("uint8", (-1, 2, 3)), Tensor(None, None)):
        assert_pieces_agree(spec, body)


def test_a_large_body_is_read_in_pieces_and_gives_the_same_array() -> None:
    images = np.random.default_rng(3).integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    body = orjson.dumps(images, option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(body) > 4 << 20
    for spec in (Tensor("uint8", (-1, 28, 28)), Tensor("float32", (-1, 28, 28))):
        codec = NdarrayCodec(spec)
        array = codec.decode(body, JSON, [])
        np.testing.assert_array_equal(array, images)
        wrapped = codec.decode(b'{ "instances" :' + body + b" }\n", JSON, [])
        np.testing.assert_array_equal(wrapped, images)


def test_numbers_without_a_fraction_are_integers_as_json_schema_says() -> None:
    codec = NdarrayCodec(Tensor("uint8", (-1, 2)))
    array = codec.decode(b"[[131.0, 2], [0.0, 255.0]]", JSON, [])
    assert array.dtype == np.uint8 and array.tolist() == [[131, 2], [0, 255]]
    for body in (b"[[1.5, 2]]", b"[[1e400, 2]]", b"[[256.0, 2]]"):
        with pytest.raises((UnprocessableError, BadRequestError)):
            codec.decode(body, JSON, [])
    with pytest.raises(UnprocessableError, match="got float32"):  # a binary body says its dtype: floats are floats
        codec.decode(npy(np.array([[3, 1]], np.float32)), "application/x-npy", [])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_the_schemas_float_bound_is_where_numbers_stop_rounding_to_a_finite_value(dtype: str) -> None:
    codec = NdarrayCodec(Tensor(dtype, (-1,)))
    bound = codec.schema()["items"]["exclusiveMaximum"]
    largest = np.finfo(dtype).max
    below = float(np.nextafter(bound, 0))
    for body in (orjson.dumps([below]), orjson.dumps([-below])):
        assert abs(codec.decode(body, JSON, [])[0]) == largest
    for body in (orjson.dumps([bound]), orjson.dumps([-bound])):
        with pytest.raises(UnprocessableError, match="infinity"):
            codec.decode(body, JSON, [])
