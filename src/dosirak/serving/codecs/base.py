"""The codec seam: how one Python type crosses HTTP, in both directions.

A codec is chosen for each api parameter and return value from its type hint (see
:func:`dosirak.serving.codecs.codec_for`). It decodes a request body into the value the
user's method receives, encodes the method's result into a response body, and describes
both in OpenAPI.

How to implement a codec: subclass nothing; provide the attributes and methods of
:class:`Codec`. ``decode`` raises :class:`~dosirak.errors.BadRequestError` for a body that
cannot be parsed, :class:`~dosirak.errors.UnprocessableError` for one that parses but does
not fit the declared type, and :class:`~dosirak.errors.UnsupportedMediaTypeError` for a
content type it does not take. A codec that can batch (its values have a first, batch
axis) also implements :class:`BatchCodec`. Two optional methods keep a worker's event loop
free (see :mod:`dosirak.serving.decoding`): ``decoded_size(body, content_type, headers) ->
int``, the bytes the decoded value will take, read without decoding it (an image's header),
and ``prepare()``, run once per worker before it serves, to import what decoding needs. A
codec whose small bodies may decode into large values sets ``compressed = True``. Two more
optional methods describe it in the OpenAPI document: ``error_examples()``, what its
``decode`` answers to bad bodies (status -> {example name: message}; :func:`refusals`
makes them by decoding such bodies), and ``request_description()``, a sentence on how
to send the value (headers, media types). Third-party codecs register in the
``dosirak.codecs`` entry-point group, keyed by the qualified name of the type they handle,
as a factory ``(annotation, metadata) -> Codec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from dosirak.errors import ServingError, UnsupportedMediaTypeError

#: Raw ASGI headers: lower-case names and values as bytes.
RawHeaders = Sequence[tuple[bytes, bytes]]

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
NPY = "application/x-npy"
MULTIPART = "multipart/form-data"


@runtime_checkable
class Codec(Protocol):
    """Converts one Python type to and from HTTP bodies, and describes it in OpenAPI."""

    #: Short name of the wire format family, used by the client: ``ndarray``, ``json``,
    #: ``image`` or ``file``.
    kind: str
    #: Media types ``decode`` accepts (``image/*`` style wildcards allowed).
    media_types: tuple[str, ...]

    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        """Turn a request body into the value the api receives; raise a ServingError if invalid."""
        ...

    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        """Turn the api's result into ``(body, media_type)``, honouring ``accept`` when it can."""
        ...

    def request_content(self) -> dict[str, Any]:
        """The OpenAPI ``content`` map of the request body (media type -> schema, example)."""
        ...

    def response_content(self) -> dict[str, Any]:
        """The OpenAPI ``content`` map of a successful response."""
        ...


@runtime_checkable
class BatchCodec(Codec, Protocol):
    """A codec whose values have a first, batch axis that can be joined and split."""

    def batch_size(self, value: Any) -> int:
        """Number of rows along the batch axis."""
        ...

    def concat(self, values: list[Any]) -> Any:
        """Join values along the batch axis, in order."""
        ...

    def split(self, value: Any, sizes: list[int]) -> list[Any]:
        """Split a batch result back into pieces of ``sizes`` rows, in order."""
        ...


def media_type_of(content_type: str) -> str:
    """The bare media type of a Content-Type header value, lower-cased (no parameters)."""
    return content_type.split(";", 1)[0].strip().lower()


def header(headers: RawHeaders, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded as latin-1."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def accepts(accept: str, media_type: str) -> bool:
    """Whether an Accept header explicitly names ``media_type`` (wildcards do not count)."""
    return media_type in accept


def refusals(codec: Codec, bodies: Sequence[tuple[str, bytes, str, RawHeaders]]) -> dict[int, dict[str, str]]:
    """What ``codec`` answers to each bad body: status -> {name: message}, for its OpenAPI examples.

    ``bodies`` are ``(name, body, content type, headers)``; a body the codec accepts gives
    no example. The messages are the codec's own, so the examples never drift from them.
    """
    out: dict[int, dict[str, str]] = {}
    for name, body, content_type, headers in bodies:
        try:
            codec.decode(body, content_type, headers)
        except ServingError as exc:
            out.setdefault(exc.status_code, {}).setdefault(name, str(exc))
    return out


def check_media_type(content_type: str, allowed: tuple[str, ...]) -> str:
    """Return the bare media type if ``allowed`` takes it, else raise a 415 naming the options."""
    media = media_type_of(content_type)
    for option in allowed:
        if option == media or (option.endswith("/*") and media.startswith(option[:-1])):
            return media
    raise UnsupportedMediaTypeError(
        f"content type '{media or '(none)'}' is not accepted here; send one of: {', '.join(allowed)}"
    )


__all__ = [
    "JSON",
    "MULTIPART",
    "NPY",
    "OCTET_STREAM",
    "BatchCodec",
    "Codec",
    "RawHeaders",
    "accepts",
    "check_media_type",
    "header",
    "media_type_of",
    "refusals",
]
