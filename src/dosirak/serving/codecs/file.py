"""Files and raw bytes over HTTP: a raw body of any type, or a multipart upload.

An api parameter typed ``bytes`` receives the body as it came (``application/octet-stream``
or any other type, empty included), or the first file of a ``multipart/form-data`` upload. A ``bytes``
result is answered as ``application/octet-stream``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from dosirak.errors import BadRequestError
from dosirak.serving.codecs.base import MULTIPART, OCTET_STREAM, RawHeaders, media_type_of, refusals


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[UploadedFile]:
    """The file parts of a ``multipart/form-data`` body, in order; 400 if it is malformed."""
    from python_multipart import parse_form
    from python_multipart.exceptions import FormParserError

    files: list[UploadedFile] = []

    def on_file(file: Any) -> None:
        file.file_object.seek(0)
        name = file.field_name.decode("utf-8", "replace") if file.field_name else ""
        filename = file.file_name.decode("utf-8", "replace") if file.file_name else None
        files.append(UploadedFile(name, filename, None, file.file_object.read()))

    headers = {"Content-Type": content_type.encode("latin-1"), "Content-Length": str(len(body)).encode()}
    try:
        parse_form(headers, io.BytesIO(body), lambda field: None, on_file)
    except (FormParserError, ValueError) as exc:
        raise BadRequestError(f"malformed multipart body: {exc}") from exc
    return files


def first_upload(body: bytes, content_type: str, field: str | None = None) -> bytes:
    """The bytes of the file named ``field`` (or the first file) in a multipart body."""
    files = parse_multipart(body, content_type)
    if not files:
        raise BadRequestError("the multipart body holds no file; upload one as a file part")
    for upload in files:
        if field is None or upload.field == field:
            return upload.data
    return files[0].data


class BytesCodec:
    """Codec for ``bytes``: the raw body, or the first file of a multipart upload."""

    kind = "file"
    media_types: tuple[str, ...] = (OCTET_STREAM, MULTIPART, "*/*")

    def __init__(self, field: str = "file") -> None:
        self.field = field

    def prepare(self) -> None:
        """Import the multipart parser now, not on the first request's event loop."""
        import python_multipart  # noqa: F401

    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        if media_type_of(content_type) == MULTIPART:
            return first_upload(body, content_type, self.field)
        if not body and not content_type:
            raise BadRequestError("the request has no body; send the file's bytes "
                                  "(an empty file as an empty application/octet-stream body)")
        return body  # empty bytes with a content type: an empty file

    def decoded_size(self, body: bytes, content_type: str, headers: RawHeaders) -> int:
        """The body's own size: the bytes handed over are the body, or one file of it."""
        return len(body)

    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        return bytes(value), OCTET_STREAM

    def request_content(self) -> dict[str, Any]:
        binary = {"type": "string", "format": "binary"}
        return {
            OCTET_STREAM: {"schema": binary},
            MULTIPART: {"schema": {"type": "object", "properties": {self.field: binary}, "required": [self.field]}},
        }

    def response_content(self) -> dict[str, Any]:
        return {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}

    def error_examples(self) -> dict[int, dict[str, str]]:
        """What :meth:`decode` answers to a bad body (any content type is taken as a file's bytes)."""
        return refusals(self, [("no body", b"", "", ()),
                               ("multipart without a file", b"--x--\r\n", f"{MULTIPART}; boundary=x", ())])


__all__ = ["BytesCodec", "UploadedFile", "first_upload", "parse_multipart"]
