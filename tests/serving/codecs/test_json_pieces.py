from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosirak.errors import BadRequestError, UnprocessableError
from dosirak.serving.codecs.json_pieces import cut_points, outer_array


def item_commas(text: bytes) -> list[int]:
    """The reference: offsets of the commas between the outer array's items, by walking the JSON byte by byte."""
    commas, depth, in_string, escaped = [], 0, False, False
    for offset, byte in enumerate(text):
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 1:
            commas.append(offset)
    return commas


tricky_text = st.text(alphabet='[]{},"\\:ab \u00e9\u2028\n', max_size=12)
values = st.recursive(
    st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), tricky_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(tricky_text, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=8), st.sampled_from([1, 2, 3, 7, 1 << 20]), st.booleans())
def test_cuts_fall_on_the_commas_between_items_however_the_bytes_are_scanned(
    items: list[Any], scan_bytes: int, spaced: bool
) -> None:
    body = json.dumps(items, ensure_ascii=False, indent=1 if spaced else None).encode()
    start, end = outer_array(body)
    cuts = cut_points(np, body, start, end, piece_bytes=1, scan_bytes=scan_bytes)
    assert cuts == item_commas(body)
    bounds = [start, *cuts, end]
    pieces = [orjson.loads(b"[" + body[a + 1 : b] + b"]") for a, b in zip(bounds, bounds[1:], strict=False)]
    assert [item for piece in pieces for item in piece] == orjson.loads(body)


def test_cuts_are_about_piece_bytes_apart() -> None:
    body = orjson.dumps([[i] * 10 for i in range(1000)])
    start, end = outer_array(body)
    cuts = cut_points(np, body, start, end, piece_bytes=1000, scan_bytes=333)
    gaps = np.diff([start, *cuts])
    assert len(cuts) == len(body) // 1000 and gaps.min() >= 1000 and gaps.max() <= 1000 + 41  # 41: the longest item


@pytest.mark.parametrize("body", [b"[1, 2] [3]", b"[[1, 2], 3]]  ", b"[1, [2, 3]"])
def test_an_array_that_closes_early_or_never_is_a_400(body: bytes) -> None:
    with pytest.raises(BadRequestError):
        start, end = outer_array(body)
        cut_points(np, body, start, end, piece_bytes=1, scan_bytes=2)


def test_the_outer_array_is_found_under_instances_and_nowhere_else() -> None:
    body = b' \n{ "instances" : [1, 2] } '
    start, end = outer_array(body)
    assert body[start : end + 1] == b"[1, 2]"
    with pytest.raises(UnprocessableError, match="only key"):
        outer_array(b'{"data": [1]}')
    with pytest.raises(UnprocessableError, match="got str"):
        outer_array(b'"abc"')
    with pytest.raises(BadRequestError, match="byte order mark"):
        outer_array(b"\xef\xbb\xbf[1]")
    with pytest.raises(BadRequestError):
        outer_array(b"   ")
