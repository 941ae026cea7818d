"""PIL images as lossless PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.artifacts.materializers.base import Materializer
from dosirak.errors import ArtifactCorruptError


class ImageMaterializer(Materializer):
    """``PIL.Image.Image`` as ``image.png`` (lossless; mode and size preserved)."""

    version = "1"

    def save(self, obj: Any, path: Path) -> None:
        obj.save(path / "image.png", format="PNG")

    def load(self, path: Path, data_type: type | None) -> Any:
        image_mod = require("PIL.Image", extra="data")
        try:
            with image_mod.open(path / "image.png") as img:
                img.load()
                return img.copy()
        except FileNotFoundError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'image.png'} is missing") from exc
        except OSError as exc:
            raise ArtifactCorruptError(f"artifact file {path / 'image.png'} is not a readable image: {exc}") from exc

    def summary(self, obj: Any) -> dict[str, Any]:
        return {"size": list(obj.size), "mode": obj.mode}


__all__ = ["ImageMaterializer"]
