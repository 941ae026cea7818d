"""Cutting a large JSON array into pieces that parse on their own, without parsing it.

:func:`cut_points` finds commas between the items of the outer array (outside strings, at
nesting depth 1) about a given number of bytes apart, in one pass of numpy operations over
a megabyte at a time. Each piece between two cuts, put in brackets, is a JSON array of
consecutive items; the body is valid JSON exactly when every piece is and none is empty,
so a caller that parses the pieces in order gets the whole body's items and errors. Used
by :mod:`dosirak.serving.codecs.numpy` for bodies over 1 MiB.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from dosirak.errors import BadRequestError, UnprocessableError

#: JSON's whitespace.
JSON_SPACE = b" \t\n\r"
#: What a large body must say for its array to be found under ``"instances"``.
LARGE_OBJECT = ('a JSON body over 1 MiB must be an array, or an object whose only key is "instances" '
                '(written plainly); send the array alone, or as .npy or raw bytes')
_BOM = b"\xef\xbb\xbf"
_INSTANCES = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"instances"[ \t\n\r]*:')
_SPACE = re.compile(rb"[ \t\n\r]*")
_SCAN_BYTES = 1 << 20  # bytes looked at per numpy call


def outer_array(body: bytes) -> tuple[int, int]:
    """Offsets of the ``[`` and ``]`` of a large JSON body's array, the one under ``"instances"`` if wrapped.

    Raises a 400 for what is not JSON (a byte-order mark, no closing ``]``), and a 422 for
    JSON that holds no array, or an object other than ``{"instances": ...}``.
    """
    if body.startswith(_BOM):
        raise BadRequestError("malformed JSON: UTF-8 byte order mark (BOM) is not supported")
    start, end = _skip_space(body, 0, 1), _skip_space(body, len(body) - 1, -1)
    if start > end:
        raise BadRequestError("malformed JSON: the body holds only whitespace")
    if body[start] == ord("{"):
        match = _INSTANCES.match(body)
        if match is None or body[end] != ord("}"):
            raise UnprocessableError(LARGE_OBJECT)
        start, end = _skip_space(body, match.end(), 1), _skip_space(body, end - 1, -1)
        if start > end:
            raise BadRequestError('malformed JSON: "instances" has no value')
    if body[start] != ord("["):
        try:
            value = orjson.loads(body[start : end + 1])  # a lone string or number: cheap to read whole
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"malformed JSON: {exc}") from exc
        raise UnprocessableError(f"expected a JSON array, got {type(value).__name__}")
    if body[end] != ord("]"):
        raise BadRequestError("malformed JSON: the array is not closed with ]")
    return start, end


def _skip_space(body: bytes, index: int, step: int) -> int:
    """The first offset from ``index`` on (``step`` 1) or back (``step`` -1) that is not whitespace."""
    if step > 0:
        match = _SPACE.match(body, index)
        return match.end() if match is not None else index
    return len(body[: index + 1].rstrip(JSON_SPACE)) - 1


def cut_points(np: Any, body: bytes, start: int, end: int, piece_bytes: int, scan_bytes: int = _SCAN_BYTES) -> list[int]:
    """Offsets of commas between the items of the array ``body[start:end + 1]``, about ``piece_bytes`` apart.

    One pass over the bytes, ``scan_bytes`` at a time: the nesting depth of ``[{`` and ``]}``
    outside strings (a quote opens or closes one unless an odd run of backslashes precedes
    it), and the commas at depth 1. A 400 if the array closes before ``end`` or not at it.

    Args:
        np: The numpy module.
        body: The whole body.
        start: Offset of the array's ``[``.
        end: Offset of its ``]``.
        piece_bytes: The distance wanted between cuts.
        scan_bytes: Bytes looked at per numpy call.
    """
    cuts: list[int] = []
    next_cut = start + piece_bytes
    depth, in_string, backslashes = 0, False, 0
    for offset in range(start, end, scan_bytes):
        time.sleep(0)  # let a thread waiting for the interpreter (the event loop) have it now
        size = min(scan_bytes, end - offset)
        chunk = np.frombuffer(body, dtype=np.uint8, count=size, offset=offset)
        outside: Any = None
        quotes = np.flatnonzero(chunk == 34)
        if quotes.size or in_string:
            escaped = _escaped(np, chunk, quotes, backslashes)
            toggles = np.zeros(size, dtype=np.int8)
            toggles[quotes[~escaped]] = 1
            inside = (np.cumsum(toggles, dtype=np.int64) + in_string) % 2 == 1
            in_string = bool(inside[-1])
            outside = ~inside
        trailing = 0
        while trailing < size and body[offset + size - 1 - trailing] == 92:
            trailing += 1
        backslashes = trailing if trailing < size else backslashes + size
        step = ((chunk == 91) | (chunk == 123)).astype(np.int8) - ((chunk == 93) | (chunk == 125))
        if outside is not None:
            step *= outside
        levels = np.cumsum(step, dtype=np.int64) + depth
        if levels.min() < 1:
            where = offset + int(np.argmax(levels < 1))
            raise BadRequestError(f"the array closes at byte {where}, before the end of the body: {LARGE_OBJECT}")
        depth = int(levels[-1])
        commas = chunk == 44
        if outside is not None:
            commas &= outside
        candidates = np.flatnonzero(commas & (levels == 1)) + offset
        while candidates.size:
            index = int(np.searchsorted(candidates, next_cut))
            if index >= candidates.size:
                break
            cuts.append(int(candidates[index]))
            next_cut = cuts[-1] + piece_bytes
            candidates = candidates[index + 1 :]
    if depth != 1 or in_string:
        raise BadRequestError("malformed JSON: the array is not closed at the end of the body")
    return cuts


def _escaped(np: Any, chunk: Any, quotes: Any, carried: int) -> Any:
    """For each quote offset in ``chunk``: whether an odd run of backslashes precedes it.

    ``carried`` is the length of the run of backslashes that ended the previous chunk.
    """
    if not quotes.size:
        return np.zeros(0, dtype=bool)
    slashes = np.cumsum(chunk == 92, dtype=np.int64) + carried
    last_other = np.maximum.accumulate(np.where(chunk != 92, slashes, 0))
    before = np.where(quotes > 0, quotes - 1, 0)
    runs = np.where(quotes > 0, slashes[before] - last_other[before], carried)
    return runs % 2 == 1


__all__ = ["JSON_SPACE", "LARGE_OBJECT", "cut_points", "outer_array"]
