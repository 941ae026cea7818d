from __future__ import annotations

import io

import pytest
from PIL import Image

from dosirak.errors import BadRequestError, UnsupportedMediaTypeError
from dosirak.serving.codecs.file import BytesCodec, parse_multipart
from dosirak.serving.codecs.image import ImageCodec


def png(width: int = 4, height: int = 2) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, format="PNG")
    return out.getvalue()


def multipart(field: str, data: bytes, filename: str = "f.bin") -> tuple[bytes, str]:
    boundary = "dosirakboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_image_from_a_raw_body_and_from_a_multipart_upload() -> None:
    codec = ImageCodec(field="image")
    assert codec.decode(png(), "image/png", []).size == (4, 2)
    body, content_type = multipart("image", png(3, 3), "a.png")
    assert codec.decode(body, content_type, []).size == (3, 3)


@pytest.mark.parametrize("data", [b"not an image", b"\x89PNG\r\n\x1a\n truncated", b""])
def test_a_body_that_is_not_an_image_is_a_400(data: bytes) -> None:
    with pytest.raises(BadRequestError):
        ImageCodec().decode(data, "image/png", [])


def test_image_refuses_json_and_multipart_without_files() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        ImageCodec().decode(png(), "application/json", [])
    body = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nvalue\r\n--b--\r\n"
    with pytest.raises(BadRequestError, match="no file"):
        ImageCodec().decode(body, "multipart/form-data; boundary=b", [])


def test_image_results_are_png() -> None:
    body, media = ImageCodec().encode(Image.new("L", (2, 2)), "")
    assert media == "image/png" and Image.open(io.BytesIO(body)).size == (2, 2)


def test_bytes_from_raw_or_multipart_bodies() -> None:
    codec = BytesCodec(field="data")
    assert codec.decode(b"\x00\x01", "application/octet-stream", []) == b"\x00\x01"
    body, content_type = multipart("data", b"payload")
    assert codec.decode(body, content_type, []) == b"payload"
    with pytest.raises(BadRequestError, match="empty"):
        codec.decode(b"", "application/octet-stream", [])
    assert codec.encode(b"ab", "") == (b"ab", "application/octet-stream")


def test_malformed_multipart_is_a_400() -> None:
    with pytest.raises(BadRequestError):
        parse_multipart(b"garbage", "multipart/form-data")
