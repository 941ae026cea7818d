"""PIL images over HTTP: a raw ``image/*`` body or a multipart upload; PNG responses.

A parameter typed ``PIL.Image.Image`` receives a decoded image; a body that is not an image
is a 400. A result of that type is answered as ``image/png``.
"""

from __future__ import annotations

import io
from typing import Any

from dosirak.errors import BadRequestError, PayloadTooLargeError
from dosirak.serving.codecs.base import MULTIPART, RawHeaders, check_media_type
from dosirak.serving.codecs.file import first_upload

_ACCEPTED = ("image/*", MULTIPART)


class ImageCodec:
    """Codec for ``PIL.Image.Image``.

    Args:
        field: Name of the multipart file part holding the image (the parameter name).
        max_pixels: Images with more pixels are refused (decompression bombs).
    """

    kind = "image"
    media_types: tuple[str, ...] = _ACCEPTED

    def __init__(self, field: str = "image", max_pixels: int = 50_000_000) -> None:
        from dosirak._extras import require

        self._pil = require("PIL.Image", extra="data", purpose="image apis")
        self.field = field
        self.max_pixels = max_pixels

    def decode(self, body: bytes, content_type: str, headers: RawHeaders) -> Any:
        media = check_media_type(content_type, _ACCEPTED)
        data = first_upload(body, content_type, self.field) if media == MULTIPART else body
        if not data:
            raise BadRequestError("the image is empty; send an image file (PNG, JPEG, ...)")
        Image = self._pil
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > self.max_pixels:
                raise PayloadTooLargeError(f"the image has more than {self.max_pixels} pixels")
            image.load()
        except PayloadTooLargeError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise BadRequestError(
                f"the body is not an image PIL can read ({type(exc).__name__}); send a PNG, JPEG, WebP, ... file"
            ) from None
        return image

    def encode(self, value: Any, accept: str) -> tuple[bytes, str]:
        out = io.BytesIO()
        value.save(out, format="PNG")
        return out.getvalue(), "image/png"

    def request_content(self) -> dict[str, Any]:
        binary = {"type": "string", "format": "binary"}
        return {
            "image/png": {"schema": binary},
            "image/jpeg": {"schema": binary},
            MULTIPART: {"schema": {"type": "object", "properties": {self.field: binary}, "required": [self.field]}},
        }

    def response_content(self) -> dict[str, Any]:
        return {"image/png": {"schema": {"type": "string", "format": "binary"}}}


__all__ = ["ImageCodec"]
