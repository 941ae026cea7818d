"""The Fashion-MNIST MLP served by dosirak in ``benchmarks/serving.py`` (fixed seed, no training)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

import dosirak as dk


def build_model() -> Any:
    """784 -> 512 -> 512 -> 10 with ReLU, seed 0, eval mode."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    return model.eval()


@dk.service(name="fashion_mnist")
class FashionMNIST:
    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.net = build_model()

    @dk.api(batchable=True, max_batch_size=128, max_latency_ms=10)
    def predict_ndarray(
        self, images: Annotated[np.ndarray, dk.Tensor(dtype="float32", shape=(-1, 28, 28))]
    ) -> np.ndarray:
        """Class scores for a batch of 28x28 images."""
        with self.torch.inference_mode():
            return self.net(self.torch.from_numpy(images)).numpy()
