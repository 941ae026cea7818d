"""PIL images over HTTP: a raw ``image/*`` body or a multipart upload; PNG responses.

A parameter typed ``PIL.Image.Image`` receives a decoded image; a body that is not an image
is a 400. A result of that type is answered as ``image/png``. A compressed image can be
thousands of times larger decoded than sent, so :meth:`ImageCodec.decoded_size` reads its
size from the header alone, before anything is decoded.
"""

from __future__ import annotations

import io
from typing import Any

from dosirak._extras import require
from dosirak.errors import BadRequestError, PayloadTooLargeError
from dosirak.serving.codecs.base import MULTIPART, RawHeaders, check_media_type, refusals
from dosirak.serving.codecs.file import first_upload

_ACCEPTED = ("image/*", MULTIPART)
#: Bytes a decoded pixel takes in PIL, by mode (4 for every other mode).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


class ImageCodec:
    """Codec for ``PIL.Image.Image``.

    Args:
        field: Name of the multipart file part holding the image (the parameter name).
        max_pixels: Images with more pixels are refused (decompression bombs).
    """

    kind = "image"
    media_types: tuple[str, ...] = _ACCEPTED
    #: A small body can decode into a large image: its size is read before it is decoded.
    compressed = True

    def __init__(self, field: str = "image", max_pixels: int = 50_000_000) -> None:
        self._pil = require("PIL.Image", extra="data", purpose="image apis")
        self.field = field
        self.max_pixels = max_pixels

    def prepare(self) -> None:
        """Import PIL's format plugins and the multipart parser now, not on the first request's event loop."""
        import python_multipart  # noqa: F401

        self._pil.init()

    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        image = self._open(body, content_type)
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, self._pil.DecompressionBombError) as exc:
            raise BadRequestError(
                f"the body is not an image PIL can read ({type(exc).__name__}); send a PNG, JPEG, WebP, ... file"
            ) from None
        return image

    def decoded_size(self, body: bytes, content_type: str, headers: RawHeaders) -> int:
        """Bytes the decoded image takes (PIL holds most modes at 4 bytes a pixel), read from its header."""
        image = self._open(body, content_type)
        return int(image.width * image.height * _PIXEL_BYTES.get(image.mode, 4))

    def _open(self, body: bytes, content_type: str) -> Any:
        """The image, its header read but its pixels not yet decoded; 400/413 if it cannot be one."""
        media = check_media_type(content_type, _ACCEPTED)
        data = first_upload(body, content_type, self.field) if media == MULTIPART else body
        if not data:
            raise BadRequestError("the image is empty; send an image file (PNG, JPEG, ...)")
        Image = self._pil
        try:
            image = Image.open(io.BytesIO(data))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise BadRequestError(
                f"the body is not an image PIL can read ({type(exc).__name__}); send a PNG, JPEG, WebP, ... file"
            ) from None
        if image.width * image.height > self.max_pixels:
            raise PayloadTooLargeError(self._too_many_pixels(image.width, image.height))
        return image

    def _too_many_pixels(self, width: int, height: int) -> str:
        return f"the image has {width}x{height} pixels, more than the {self.max_pixels} this api decodes"

    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        out = io.BytesIO()
        value.save(out, format="PNG")
        return out.getvalue(), "image/png"

    def request_content(self) -> dict[str, Any]:
        image = {"type": "string", "format": "binary", "minLength": 1}  # an empty body is no image
        # the file part says only binary: a minLength there is what schemathesis cannot negate
        part = {"type": "string", "format": "binary"}
        return {
            "image/png": {"schema": image},
            "image/jpeg": {"schema": image},
            MULTIPART: {"schema": {"type": "object", "properties": {self.field: part}, "required": [self.field]}},
        }

    def response_content(self) -> dict[str, Any]:
        return {"image/png": {"schema": {"type": "string", "format": "binary"}}}

    def request_description(self) -> str:
        """How to send the image, for the OpenAPI request body."""
        return (f"One image PIL can read (PNG, JPEG, WebP, ...): the file's bytes as the body with its `image/...` "
                f"content type, or a `multipart/form-data` upload with the file in the part `{self.field}`.")

    def error_examples(self) -> dict[int, dict[str, str]]:
        """What :meth:`decode` answers to typical bad bodies, by status (see :func:`refusals`)."""
        out = refusals(self, [("not an image", b"not an image", "image/png", ()),
                              ("unsupported content type", b"{}", "application/json", ())])
        side = int(self.max_pixels**0.5) + 1
        out.setdefault(413, {})["too many pixels"] = self._too_many_pixels(side, side)
        return out


__all__ = ["ImageCodec"]
