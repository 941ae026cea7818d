"""A service using every codec, served by the unit and integration tests."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

import dosirak as dk


class Point(BaseModel):
    x: float
    y: float = Field(ge=0)
    label: str


class Distance(BaseModel):
    distance: float
    label: str


@dk.service(name="sample", timeout_s=2.0, max_body_mb=1.0)
class Sample:
    """A service exercising arrays, JSON, models, images and bytes."""

    def __init__(self) -> None:
        delay = float(os.environ.get("SAMPLE_INIT_DELAY", "0"))  # lets tests observe /readyz before ready
        if delay:
            time.sleep(delay)
        if os.environ.get("SAMPLE_INIT_FAIL"):  # lets tests see a service that cannot be constructed
            raise RuntimeError("sample refuses to start: SAMPLE_INIT_FAIL is set")
        if os.environ.get("SAMPLE_INIT_EXIT"):  # a worker that dies without a word
            os._exit(int(os.environ["SAMPLE_INIT_EXIT"]))
        self.weights = np.arange(4, dtype=np.float32)
        self.calls = 0

    @dk.api(batchable=True, max_batch_size=8, max_latency_ms=5)
    def scale(self, x: Annotated[np.ndarray, dk.Tensor(dtype="float32", shape=(-1, 4))]) -> np.ndarray:
        """Multiply each row by the weights 0..3."""
        self.calls += 1
        if (x == -7).any():
            raise ValueError("the magic value -7 breaks this model")
        return x * self.weights

    @dk.api
    def add(self, a: int, b: int = 1) -> int:
        """Add two integers."""
        return a + b

    @dk.api
    def measure(self, point: Point) -> Distance:
        return Distance(distance=float(np.hypot(point.x, point.y)), label=point.label)

    @dk.api
    def echo(self, data: dict) -> dict:
        return data

    @dk.api
    def shout(self, text: str) -> str:
        return text.upper()

    @dk.api
    def size(self, image: Image.Image) -> list[int]:
        return [image.width, image.height]

    @dk.api
    def flip(self, image: Image.Image) -> Image.Image:
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    @dk.api
    def checksum(self, data: bytes) -> int:
        return sum(data) % 65536

    @dk.api
    def fail(self, x: float) -> float:
        raise RuntimeError("secret internal detail")

    @dk.api
    async def slow(self, seconds: float) -> float:
        await asyncio.sleep(min(seconds, 30))
        return seconds

    @dk.api
    def block(self, seconds: float) -> float:
        """Hold a worker thread (not the event loop) for up to 5 s."""
        time.sleep(max(0.0, min(seconds, 5.0)))
        return seconds

    @dk.api
    def pid(self) -> int:
        return os.getpid()
