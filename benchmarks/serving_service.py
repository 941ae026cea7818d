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

    # 512 rows: the 32-image point's 16 concurrent requests fit one forward pass. Every pass
    # streams the 2.7 MB of weights through the cache and MKL repacks them (its copy routines
    # took ~4 % of the worker's CPU at 128 rows), so more rows per pass pay off: 512 served
    # 14 % more images/s than 128 here (same run, alternating 3 s slices). One-image
    # requests never come near either cap (at most 64 are in flight).
    @dk.api(batchable=True, max_batch_size=512, max_latency_ms=10)
    def predict_ndarray(
        self, images: Annotated[np.ndarray, dk.Tensor(dtype="float32", shape=(-1, 28, 28))]
    ) -> np.ndarray:
        """Class scores for a batch of 28x28 images."""
        with self.torch.inference_mode():
            return self.net(self.torch.from_numpy(images)).numpy()
