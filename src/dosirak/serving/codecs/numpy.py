"""numpy arrays over HTTP: JSON nested lists, raw bytes with shape headers, or ``.npy``.

Declare an array's dtype and shape with :class:`Tensor` in ``Annotated``::

    @dk.api(batchable=True)
    def predict(self, images: Annotated[np.ndarray, dk.Tensor(dtype="float32", shape=(-1, 28, 28))]) -> np.ndarray:
        ...

Requests may be sent as

* ``application/json``: nested lists, or ``{"instances": <nested lists>}``;
* ``application/octet-stream``: the raw C-order bytes, with headers ``X-Dosirak-Shape:
  1,28,28`` and ``X-Dosirak-Dtype: float32`` (either may be left out when the declaration
  fixes it);
* ``application/x-npy``: a ``.npy`` file as written by :func:`numpy.save` (no pickles).

Responses are JSON nested lists, or ``.npy`` when the request says
``Accept: application/x-npy``.

JSON ``true``/``false`` are not numbers: they are refused unless the declared dtype is
``bool``; a number without a fraction (``131.0``) fits an integer dtype, as JSON Schema says. A ``.npy`` body is read from its header, which must claim exactly the bytes that
follow it, before anything is allocated. A JSON body over 1 MiB is cut at the commas
between the outer array's items and read about 256 KiB at a time, so that no single call
holds the interpreter for long; it gets the answer the whole body would get, except that
such a body must be an array, or an object whose only key is ``"instances"``.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from itertools import chain
from math import prod
from typing import Any

import orjson

from dosirak.errors import BadRequestError, InternalServerError, UnprocessableError
from dosirak.serving.codecs import ndarray_openapi
from dosirak.serving.codecs.base import JSON, NPY, OCTET_STREAM, RawHeaders, check_media_type, header
from dosirak.serving.codecs.json_pieces import JSON_SPACE, cut_points, outer_array
from dosirak.serving.codecs.ndarray_openapi import header_example, shape_text

SHAPE_HEADER = b"x-dosirak-shape"
DTYPE_HEADER = b"x-dosirak-dtype"
_ACCEPTED = (JSON, OCTET_STREAM, NPY)
_ORJSON_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_BOM = b"\xef\xbb\xbf"
_OPEN = ord("[")
_EXACT = 2.0**53  # integers below it are exact doubles, so every parse rounds them alike
_REUSED_PARSER_BYTES = 1 << 20  # larger bodies get a parser of their own, freed after
_PARSERS = threading.local()  # one simdjson parser per thread, made on first use
_PIECEWISE_BYTES = 1 << 20  # JSON bodies larger than this are read in pieces
_PIECE_BYTES = 64 << 10  # about this much JSON per piece
_DTYPE_KINDS = "biufc"  # what a raw or .npy body may hold (complex is refused later, with 422)


@dataclass(frozen=True)
class Tensor:
    """The declared dtype and shape of an ndarray parameter or result.

    Args:
        dtype: A numpy dtype name (``"float32"``, ``"int64"``, ``"uint8"``, ``"bool"``);
            None accepts any numeric dtype.
        shape: One entry per axis: a fixed size, or ``-1`` for any size. None accepts any
            shape. For a batchable api the first axis is the batch axis and should be -1.
        allow_nonfinite: Accept NaN and infinities in float arrays (refused by default).

    Example::

        Annotated[np.ndarray, dk.Tensor(dtype="float32", shape=(-1, 28, 28))]
    """

    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    allow_nonfinite: bool = False

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(-1 if d is None else int(d) for d in self.shape))
            if any(d < -1 for d in self.shape):
                raise ValueError(f"Tensor shape {self.shape}: use -1 for a free axis, sizes >= 0 otherwise")
        if self.dtype is not None:
            import numpy as np

            try:
                object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
            except TypeError as exc:
                raise ValueError(f"Tensor dtype '{self.dtype}' is not a numpy dtype name") from exc


class NdarrayCodec:
    """Codec for ``numpy.ndarray`` values, checked against a :class:`Tensor` declaration."""

    kind = "ndarray"
    media_types: tuple[str, ...] = _ACCEPTED

    def __init__(self, spec: Tensor | None = None) -> None:
        import numpy as np

        self.spec = spec or Tensor()
        self._np = np
        self._dtype = np.dtype(self.spec.dtype) if self.spec.dtype else None
        self._shape = self.spec.shape
        self._float_target = self._dtype is not None and self._dtype.kind == "f"
        #: JSON true/false are refused: the declared dtype is a number type other than bool.
        self._numbers_only = self._dtype is not None and self._dtype.kind != "b"
        shape = self._shape
        #: Declared sizes of the inner axes when all are fixed: nested lists then go
        #: straight into a flat array after a length check per level (no shape discovery).
        self._inner: tuple[int, ...] | None = (
            shape[1:] if self._float_target and shape and all(d >= 0 for d in shape[1:]) else None
        )
        self._simdjson: Any = None
        if self._inner is not None and self._dtype is not None and self._dtype.itemsize <= 8:
            import simdjson

            self._simdjson = simdjson  # JSON of that shape is read by _from_json_numbers
            inner = self._inner
            #: Per row of the outer list: how many lists it holds, and how many numbers.
            self._lists_per_row = sum(prod(inner[:depth]) for depth in range(len(inner)))
            self._numbers_per_row = prod(inner)

    # ---------------------------------------------------------------- decoding
    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        media = check_media_type(content_type or JSON, _ACCEPTED)
        if media == JSON:
            return self._from_json(body)
        if media == NPY:
            return self.validate(self._from_npy(body))
        return self._from_raw(body, headers)

    def decoded_size(self, body: bytes, content_type: str, headers: RawHeaders) -> int:
        """Bytes the decoded array may take, read without decoding (a ``.npy`` header's claim).

        A JSON body counts as the most numbers it can hold (one per two bytes), each read as
        8 bytes, then held again at the declared item size.
        """
        media = check_media_type(content_type or JSON, _ACCEPTED)
        if media == NPY:
            shape, _, dtype = self._npy_header(io.BytesIO(body))
            return int(prod(shape) * dtype.itemsize)
        if media == JSON:
            return (len(body) // 2 + 1) * (8 + (self._dtype.itemsize if self._dtype is not None else 8))
        return len(body)

    def _from_json(self, body: bytes) -> Any:
        if not body:
            raise BadRequestError("the request body is empty; send a JSON array or {\"instances\": [...]}")
        if len(body) > _PIECEWISE_BYTES:
            return self._from_json_in_pieces(body, _PIECE_BYTES)
        return self._check(self._cast(self._json_array(body), whole_floats=True))

    def _json_array(self, body: bytes, direct: bool | None = None) -> Any:
        """The array a JSON body holds, not yet checked against the declaration.

        ``direct``: read the numbers straight into the declared float dtype, as for a whole
        body of nothing but numbers; False reads them as numpy infers their dtype (the
        general path); None decides from ``body`` itself.
        """
        if self._simdjson is not None and direct is not False:
            fast = self._from_json_numbers(body)
            if fast is not None:
                return fast
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"malformed JSON: {exc}") from exc
        if isinstance(data, dict):
            if "instances" not in data:
                raise UnprocessableError("expected a JSON array, or an object with the array under 'instances'")
            data = data["instances"]
        if not isinstance(data, list):
            raise UnprocessableError(f"expected a JSON array, got {type(data).__name__}")
        np = self._np
        if self._numbers_only and (b"true" in body or b"false" in body) and _holds_bool(data):
            raise UnprocessableError(f"the array holds booleans (true/false); send {self._dtype} numbers")
        if direct is None:
            direct = self._float_target and _only_numbers(body)
        if direct:
            # the common case in one pass: numbers straight to the declared float dtype
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused by validate
                    array = self._from_fixed_lists(data) if self._inner is not None else None
                    return array if array is not None else np.asarray(data, dtype=self._dtype)
            except (ValueError, TypeError):
                pass  # ragged: the general path below says so
        try:
            return np.asarray(data)
        except ValueError as exc:  # ragged nesting
            raise UnprocessableError(f"the array is not rectangular: {exc}") from exc

    def _from_json_in_pieces(self, body: bytes, piece_bytes: int) -> Any:
        """The checked array of a large JSON body, read piece by piece (see the module docstring).

        Every piece is parsed even after one was refused, so that a malformed body is a 400
        wherever the fault is, as when it is parsed whole. Numbers are read as the whole
        body would be: straight into the declared float dtype when it holds nothing but
        numbers, else each piece as numpy infers it, then all in the dtype numpy would
        infer for the whole (``numpy.result_type`` of the pieces), then cast.
        """
        np = self._np
        start, end = outer_array(body)
        bounds = [start, *cut_points(np, body, start, end, piece_bytes), end]
        direct = self._float_target and _only_numbers(body)
        parts: list[Any] = []
        refused: UnprocessableError | None = None
        for left, right in zip(bounds, bounds[1:], strict=False):
            time.sleep(0)  # hand the interpreter to a waiting thread (the event loop) now, not in 5 ms
            piece = b"[" + body[left + 1 : right] + b"]"
            if len(bounds) > 2 and not piece[1:-1].strip(JSON_SPACE):
                raise BadRequestError(f"malformed JSON: an empty item in the array after byte {left}")
            if refused is None:
                try:
                    part = self._json_array(piece, direct)
                    parts.append(self._cast(part, whole_floats=True) if direct else self._numbers(part))
                    continue
                except UnprocessableError as exc:
                    refused, parts = exc, []
            try:
                orjson.loads(piece)
            except orjson.JSONDecodeError as exc:
                raise BadRequestError(f"malformed JSON after byte {left}: {exc}") from exc
        if refused is not None:
            raise refused
        if not direct:
            whole = np.result_type(*parts)
            parts = [self._cast(parts[i].astype(whole, copy=False), whole_floats=True) for i in range(len(parts))]
        if len(parts) == 1:
            return self._check(parts[0])
        try:
            array = np.concatenate(parts)
        except ValueError as exc:  # the pieces' rows differ in shape: ragged
            raise UnprocessableError(f"the array is not rectangular: {exc}") from exc
        return self._check(array)

    def _from_json_numbers(self, body: bytes) -> Any:
        """A JSON body of numbers in the declared inner sizes as an array, or None for anything else.

        simdjson parses the body and ``as_buffer`` copies every number out as a double in
        one C loop, about three times faster than building Python floats with orjson.
        ``as_buffer`` flattens any nesting (``[[1, 2], [3]]`` gives three numbers), so the
        nesting is proven first: the length of every list above the numbers, and the count
        of ``[`` in the body, one per list, which leaves no list where a number belongs.
        Anything else returns None and the orjson path answers exactly as before: malformed
        JSON, a byte-order mark, an empty outer list, ragged or misnested lists, strings,
        null, booleans, objects other than ``{"instances": [...]}``, integers beyond 64 bits,
        and, under ``"instances"`` with no decimal point in the body, magnitudes of 2**53 and
        more: there the orjson path rounds all-integer lists from int64, not from doubles.
        """
        if body.startswith(_BOM):  # orjson refuses it, simdjson skips it
            return None
        simdjson, np = self._simdjson, self._np
        parser = _parser(simdjson, len(body))
        try:
            doc = parser.parse(body)
        except ValueError:  # malformed JSON
            return None
        except RuntimeError:  # an integer beyond 64 bits, or the parser still held by an escaped error's proxies
            _PARSERS.parser = None
            return None
        wrapped = isinstance(doc, simdjson.Object)
        if wrapped:
            doc = doc.get("instances") if len(doc) == 1 else None
        if not isinstance(doc, simdjson.Array) or not len(doc):
            return None
        rows = len(doc)
        inner: tuple[int, ...] = self._inner or ()
        try:
            if inner and not _lists_fit(doc, inner):
                return None
            if np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == _OPEN) != 1 + rows * self._lists_per_row:
                return None
            values = np.frombuffer(doc.as_buffer(of_type="d"), dtype=np.float64)
        except TypeError:  # a number where a list belongs, or a non-number among the numbers
            return None
        if values.size != rows * self._numbers_per_row:
            return None
        if wrapped and b"." not in body and max(values.max(), -values.min()) >= _EXACT:
            return None  # maybe all integers: orjson's path would round them from int64, not from doubles
        with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused by validate
            return values.astype(self._dtype).reshape((rows, *inner))

    def _from_fixed_lists(self, data: list[Any]) -> Any:
        """Nested lists of the declared inner sizes as an array, or None when they do not fit.

        Each level's lengths are checked (so ragged input never lands here), then the numbers
        are read in one pass by ``numpy.fromiter``; a list where a number belongs raises
        TypeError or ValueError, and the caller falls back to the general path.
        """
        inner = self._inner
        if inner is None:
            return None
        level: list[Any] = data
        total = len(data)
        last = len(inner)
        for depth, size in enumerate(inner, start=1):
            if set(map(len, level)) != {size}:
                return None
            total *= size
            if depth < last:
                level = list(chain.from_iterable(level))
        items = chain.from_iterable(level) if last else iter(level)
        flat = self._np.fromiter(items, dtype=self._dtype, count=total)
        return flat.reshape((len(data), *inner))

    def _from_raw(self, body: bytes, headers: RawHeaders) -> Any:
        np = self._np
        dtype_name = header(headers, DTYPE_HEADER)
        if dtype_name:
            try:
                dtype = np.dtype(dtype_name)
            except (TypeError, ValueError, SyntaxError):
                dtype = None
            if dtype is None or not _plain(dtype):
                raise BadRequestError(f"X-Dosirak-Dtype '{dtype_name[:100]}' does not name a plain number type; "
                                      "send a name like float32, int64, uint8 or bool")
        elif self._dtype is not None:
            dtype = self._dtype
        else:
            raise BadRequestError(f"send the array's dtype in the X-Dosirak-Dtype header, e.g. 'float32', "
                                  f"or {self._npy_advice()}")
        read_as = "" if dtype_name else " (the api's dtype: no X-Dosirak-Dtype header was sent)"
        if len(body) % dtype.itemsize:
            raise BadRequestError(f"the body has {len(body)} bytes, not a whole number of {dtype} items "
                                  f"({dtype.itemsize} bytes each){read_as}; {self._raw_advice()}")
        array = np.frombuffer(bytearray(body), dtype=dtype)
        shape_value = header(headers, SHAPE_HEADER)
        shape: tuple[int, ...]
        if shape_value:
            try:
                shape = tuple(int(part) for part in shape_value.replace("x", ",").split(",") if part.strip())
            except ValueError as exc:
                raise BadRequestError(f"X-Dosirak-Shape '{shape_value[:100]}' is not a list of integers like 1,28,28") from exc
            if any(d < -1 for d in shape) or shape.count(-1) > 1:
                raise BadRequestError(f"X-Dosirak-Shape {shape_value[:100]}: sizes are >= 0, with at most one -1 (inferred)")
        elif self._shape is not None and self._shape.count(-1) <= 1:
            shape = self._shape
        else:
            raise BadRequestError(f"send the array's shape in the X-Dosirak-Shape header, e.g. '1,28,28', "
                                  f"or {self._npy_advice()}")
        try:
            array = array.reshape(shape)
        except (ValueError, OverflowError) as exc:
            fixed = prod(d for d in shape if d != -1)
            need = f"a multiple of {fixed} items" if -1 in shape and fixed else f"{fixed} items"
            held = f"{array.size} {dtype} items{read_as}"
            if shape_value:
                what = f"X-Dosirak-Shape {shape_value[:100]} needs {need}, but the {len(body)}-byte body holds {held}"
            else:
                what = (f"the {len(body)}-byte body holds {held}, which do not fit the shape {shape_text(shape)} "
                        f"this api declares ({need})")
            raise UnprocessableError(f"{what}; {self._raw_advice()}") from exc
        return self.validate(array)

    def _raw_advice(self) -> str:
        """How to send a raw array this api reads: the two headers, or a ``.npy`` file."""
        shape = header_example(self._shape)
        dtype = self._dtype.name if self._dtype is not None else "float32"
        return (f"send its layout in the headers X-Dosirak-Shape (e.g. {shape}) and X-Dosirak-Dtype (e.g. {dtype}), "
                f"or {self._npy_advice()}")

    @staticmethod
    def _npy_advice() -> str:
        return "send the array as a .npy file (numpy.save) with Content-Type: application/x-npy"

    def _npy_header(self, stream: io.BytesIO) -> tuple[tuple[int, ...], bool, Any]:
        """``(shape, fortran_order, dtype)`` from a ``.npy`` header; 400 if it is not one of plain numbers."""
        np = self._np
        try:
            version = np.lib.format.read_magic(stream)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"version {version[0]}.{version[1]} is not read here")
            shape, fortran_order, dtype = read(stream)
        except (ValueError, EOFError, OSError, SyntaxError, TypeError) as exc:
            raise BadRequestError(f"the body is not a valid .npy file ({exc}); write it with numpy.save") from None
        if not _plain(dtype):
            raise BadRequestError(f"the .npy array holds {dtype}, not plain numbers; save a numeric array")
        if any(d < 0 for d in shape):
            raise BadRequestError(f"the .npy header claims the shape {shape}; write it with numpy.save")
        return shape, bool(fortran_order), dtype

    def _from_npy(self, body: bytes) -> Any:
        """The array of a ``.npy`` body, after checking its header's claim against the body's size."""
        if not body:
            raise BadRequestError("the request body is empty; send the array as a .npy file")
        stream = io.BytesIO(body)
        shape, fortran_order, dtype = self._npy_header(stream)
        offset = stream.tell()
        count = prod(shape)
        if count * dtype.itemsize != len(body) - offset:
            raise BadRequestError(
                f"the .npy header claims {shape} of {dtype} ({count * dtype.itemsize} bytes), but the body holds "
                f"{len(body) - offset} bytes after it; write it with numpy.save"
            )
        array = self._np.frombuffer(body, dtype=dtype, count=count, offset=offset)
        return array.reshape(shape, order="F" if fortran_order else "C").copy(order="K")

    def validate(self, array: Any) -> Any:
        """Check and cast an array against the declaration; raise 422 naming the problem."""
        return self._check(self._cast(array))

    @staticmethod
    def _numbers(array: Any) -> Any:
        """The array, if it holds numbers (or booleans); 422 naming what it holds otherwise."""
        kind = array.dtype.kind
        if kind not in "biuf":
            what = "strings" if kind in "US" else "null or mixed values" if kind == "O" else f"dtype {array.dtype}"
            raise UnprocessableError(f"the array must hold numbers, but it holds {what}")
        return array

    def _cast(self, array: Any, whole_floats: bool = False) -> Any:
        """The array in the declared dtype; 422 for what that dtype cannot take.

        ``whole_floats``: floats without a fraction fit an integer dtype (JSON numbers,
        where ``131.0`` is an integer); binary bodies say their dtype, and a float one does not.
        """
        np = self._np
        kind = self._numbers(array).dtype.kind
        target = self._dtype
        if target is not None and array.dtype != target:
            integers = kind in "iu" and target.kind in "iu" or (
                whole_floats and kind == "f" and target.kind in "iu" and _integral(np, array))
            if kind == "b" or not (integers or np.can_cast(array.dtype, target, casting="same_kind")):
                raise UnprocessableError(f"expected dtype {target}, got {array.dtype}: send {target} values")
            if target.kind in "iu" and array.size:
                info = np.iinfo(target)
                if array.min() < info.min or array.max() > info.max:
                    raise UnprocessableError(f"values out of range for {target} ({info.min}..{info.max})")
            with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused by _check
                array = array.astype(target)
        return array

    def _check(self, array: Any) -> Any:
        """The array, if its shape fits the declaration and its floats are finite; 422 otherwise."""
        shape = self._shape
        if shape is not None:
            if array.ndim != len(shape) or any(d != -1 and d != n for d, n in zip(shape, array.shape, strict=True)):
                raise UnprocessableError(f"expected shape {shape_text(shape)}, got {tuple(array.shape)}")
        if array.dtype.kind == "f" and not self.spec.allow_nonfinite and not self._np.isfinite(array).all():
            raise UnprocessableError("the array holds NaN or infinity, which this api does not accept")
        return array

    # ---------------------------------------------------------------- encoding
    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        np = self._np
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if NPY in accept:
            out = io.BytesIO()
            np.save(out, array, allow_pickle=False)
            return out.getvalue(), NPY
        try:
            return orjson.dumps(array, option=_ORJSON_NUMPY), JSON
        except TypeError:  # non-contiguous or a dtype orjson does not serialise
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise InternalServerError("the api returned NaN or infinity, which JSON cannot carry") from None
            return orjson.dumps(array.tolist()), JSON

    # ---------------------------------------------------------------- batching
    def batch_size(self, value: Any) -> int:
        return int(value.shape[0]) if value.ndim else 1

    def concat(self, values: list[Any]) -> Any:
        if len(values) == 1:
            return values[0]
        return self._np.concatenate(values, axis=0)

    def split(self, value: Any, sizes: list[int]) -> list[Any]:
        array = value if isinstance(value, self._np.ndarray) else self._np.asarray(value)
        total = sum(sizes)
        if array.ndim == 0 or array.shape[0] != total:
            got = "a scalar" if array.ndim == 0 else f"{array.shape[0]} rows"
            raise InternalServerError(f"the batchable api returned {got} for {total} input rows; return one row per input row")
        if len(sizes) == 1:
            return [array]
        out, start = [], 0
        for size in sizes:
            out.append(array[start : start + size])
            start += size
        return out

    # ---------------------------------------------------------------- OpenAPI
    def schema(self) -> dict[str, Any]:
        """JSON Schema of the array as nested lists."""
        return ndarray_openapi.array_schema(self._np, self._dtype, self._shape)

    def example(self) -> Any:
        return ndarray_openapi.zeros_example(self._np, self._dtype, self._shape)

    def request_content(self) -> dict[str, Any]:
        schema = self.schema()
        binary = {"type": "string", "format": "binary"}
        return {
            JSON: {
                "schema": {
                    "anyOf": [
                        schema,
                        {"type": "object", "properties": {"instances": schema}, "required": ["instances"]},
                    ]
                },
                "example": self.example(),
            },
            NPY: {"schema": {**binary, "minLength": 1}},  # an empty body is no .npy file
            OCTET_STREAM: {"schema": binary},  # empty: an array of no items
        }

    def response_content(self) -> dict[str, Any]:
        return {JSON: {"schema": self.schema()}, NPY: {"schema": {"type": "string", "format": "binary"}}}

    def request_description(self) -> str:
        """How to send the array, with this api's declared shape and dtype, for the OpenAPI request body."""
        return ndarray_openapi.request_description(self._dtype.name if self._dtype is not None else None, self._shape)

    def error_examples(self) -> dict[int, dict[str, str]]:
        """What :meth:`decode` answers to typical bad bodies, by status (see :func:`refusals`)."""
        return ndarray_openapi.error_examples(self)


def _lists_fit(lists: Any, sizes: tuple[int, ...]) -> bool:
    """Whether every item of ``lists`` has ``sizes[0]`` items, each fitting ``sizes[1:]`` in turn.

    One item at a time, so the proxies simdjson makes for them are freed as soon as they are
    checked: holding a request's hundreds of them at once would set off the garbage
    collector, whose full passes over a model's objects cost more than the parse.
    """
    size, rest = sizes[0], sizes[1:]
    if not rest:  # the last level: lengths read in one C loop
        return list(map(len, lists)) == [size] * len(lists)
    for item in lists:
        if len(item) != size or not _lists_fit(item, rest):
            return False
    return True


def _parser(simdjson: Any, size: int) -> Any:
    """A simdjson parser for a body of ``size`` bytes: this thread's own, or a new one for a large body.

    A parser keeps its buffers (about four times the largest body it has read) and cannot
    be shared between threads; reusing one saves a fresh allocation's page faults, which
    cost as much as the parse itself.
    """
    if size > _REUSED_PARSER_BYTES:
        return simdjson.Parser()
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = simdjson.Parser()
    return parser


def _plain(dtype: Any) -> bool:
    """Whether a dtype is one plain number type (no record, sub-array, object, string or date)."""
    return dtype.kind in _DTYPE_KINDS and dtype.names is None and not dtype.shape and dtype.itemsize > 0


def _integral(np: Any, array: Any) -> bool:
    """Whether every float in ``array`` is a whole number (``131.0`` is an integer, as JSON Schema says)."""
    with np.errstate(invalid="ignore"):  # inf % 1 is NaN: not whole
        return bool(np.all(np.mod(array, 1) == 0))


def _holds_bool(data: list[Any]) -> bool:
    """Whether nested lists hold a ``True`` or ``False`` anywhere (walked without recursion)."""
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if item is True or item is False:
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False


def _only_numbers(body: bytes) -> bool:
    """Whether a JSON body holds nothing but numbers and brackets (no strings, null, true, false)."""
    return b'"' not in body and b"n" not in body and b"t" not in body and b"f" not in body


__all__ = ["DTYPE_HEADER", "SHAPE_HEADER", "NdarrayCodec", "Tensor"]
