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
    assert codec.decode(b"", "application/octet-stream", []) == b""  # the schema's binary string may be empty
    with pytest.raises(BadRequestError, match="no body"):  # but a request without a body has none
        codec.decode(b"", "", [])
    assert codec.encode(b"ab", "") == (b"ab", "application/octet-stream")


def test_malformed_multipart_is_a_400() -> None:
    with pytest.raises(BadRequestError):
        parse_multipart(b"garbage", "multipart/form-data")


def test_the_decoded_size_of_an_image_is_read_from_its_header_without_decoding_it() -> None:
    out = io.BytesIO()
    Image.new("L", (7000, 7000)).save(out, format="PNG")  # 49 M pixels, about 50 KB of PNG
    codec = ImageCodec()
    assert codec.decoded_size(out.getvalue(), "image/png", []) == 7000 * 7000
    assert codec.decoded_size(png(4, 2), "image/png", []) == 4 * 2 * 4  # RGB is held as 4 bytes a pixel
    body, content_type = multipart("image", png(3, 3), "a.png")
    assert codec.decoded_size(body, content_type, []) == 3 * 3 * 4
    with pytest.raises(BadRequestError):
        codec.decoded_size(b"not an image", "image/png", [])


def test_an_image_over_the_pixel_limit_is_a_413_before_it_is_decoded() -> None:
    from dosirak.errors import PayloadTooLargeError

    with pytest.raises(PayloadTooLargeError, match="pixels"):
        ImageCodec(max_pixels=100).decoded_size(png(20, 20), "image/png", [])
