"""What the fashion_mnist bundle serves: class indices for arrays, a label for an image."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import PIL.Image

import dosirak as dk

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
#: class names by the ``dataset`` label the training pipeline puts on the model version
CLASSES = {"fashion_mnist": FASHION_CLASSES, "digits": [f"digit {d}" for d in range(10)]}


@dk.service(name="fashion_mnist")
class FashionMNIST:
    """A Fashion-MNIST classifier (28×28 grey images, 10 classes)."""

    model = dk.model_ref("fashion_mnist:latest")

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        version = self.model.resolve()
        self.net = version.load()  # a torch module, eval mode
        self.classes = CLASSES.get(str(version.labels.get("dataset")), FASHION_CLASSES)
        self.torch = torch

    def _scores(self, images: np.ndarray) -> np.ndarray:
        x = self.torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)
        with self.torch.no_grad():
            return self.net(x).numpy()  # type: ignore[no-any-return]

    @dk.api(batchable=True, max_batch_size=128, max_latency_ms=10)
    def predict_ndarray(
        self, images: Annotated[np.ndarray, dk.Tensor(dtype="uint8", shape=(-1, 28, 28))]
    ) -> Annotated[np.ndarray, dk.Tensor(dtype="int64", shape=(-1,))]:
        """The class index of each 28×28 `uint8` image."""
        return self._scores(images).argmax(axis=1).astype(np.int64)

    @dk.api
    def predict_image(self, image: PIL.Image.Image) -> str:
        """The label of one image (any size or mode: converted to 28×28 grey)."""
        grey = np.asarray(image.convert("L").resize((28, 28)), dtype=np.uint8)
        return self.classes[int(self._scores(grey[None]).argmax(axis=1)[0])]
