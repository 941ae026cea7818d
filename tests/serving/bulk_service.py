"""A Fashion-MNIST-shaped service without torch, at the default body limit (20 MB).

The target of the hostile-input tests: the apis the example service has (uint8 images as
arrays, batched, and one image of any size as a PIL image) plus a generic JSON api. Its
workers hold at most 256 MB of large decoded inputs at once (one 7000x7000 RGB image).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import numpy as np
from PIL import Image

import dosirak as dk


@dk.service(name="bulk", timeout_s=30.0, decode_budget_mb=256)
class Bulk:
    """Grey 28x28 images in, class indices out."""

    @dk.api(batchable=True, max_batch_size=128, max_latency_ms=5)
    def predict_ndarray(
        self, images: Annotated[np.ndarray, dk.Tensor(dtype="uint8", shape=(-1, 28, 28))]
    ) -> Annotated[np.ndarray, dk.Tensor(dtype="int64", shape=(-1,))]:
        """The brightest row of each 28x28 ``uint8`` image."""
        return images.sum(axis=2, dtype=np.int64).argmax(axis=1)  # type: ignore[no-any-return]

    @dk.api
    def predict_image(self, image: Image.Image) -> int:
        """The brightest row of one image of any size or mode, seen as 28x28 grey."""
        grey = np.asarray(image.convert("L").resize((28, 28)), dtype=np.uint8)
        return int(grey.sum(axis=1).argmax())

    @dk.api
    def keys(self, document: dict[str, Any]) -> int:
        """How many keys a JSON object has."""
        return len(document)

    @dk.api
    def pid(self) -> int:
        return os.getpid()
