"""Real pipelines whose runs the dashboard's browser tests look at.

``training`` has eight steps in a diamond-and-chain DAG, outputs of every previewable
kind (array, image, DataFrame, dict, metric) and log output; ``fragile`` fails in its
second step when asked to, leaving a skipped step behind.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pandas as pd
from PIL import Image

from dosirak import pipeline, step


@step
def importer(n: int = 2000) -> tuple[Annotated[np.ndarray, "train"], Annotated[np.ndarray, "test"]]:
    rng = np.random.default_rng(7)
    data = rng.normal(loc=1.0, scale=2.0, size=(n, 8)).astype("float32")
    print(f"imported {n} rows with {data.shape[1]} features")
    return data[: n * 4 // 5], data[n * 4 // 5:]


@step
def normalizer(train: np.ndarray) -> Annotated[np.ndarray, "normalized"]:
    print("normalizing", train.shape)
    return (train - train.mean(axis=0)) / train.std(axis=0)


@step
def profiler(train: np.ndarray) -> Annotated[pd.DataFrame, "profile"]:
    frame = pd.DataFrame({"feature": [f"f{i}" for i in range(train.shape[1])],
                          "mean": train.mean(axis=0).round(4), "std": train.std(axis=0).round(4)})
    print(frame.to_string())
    return frame


@step
def trainer(normalized: np.ndarray, epochs: int = 3, lr: float = 0.01) -> Annotated[dict[str, Any], "model"]:
    weights = normalized[:8].mean(axis=0)
    for epoch in range(epochs):
        print(f"epoch {epoch + 1}/{epochs} loss={1.0 / (epoch + 1):.3f}")
    return {"weights": [round(float(w), 4) for w in weights], "lr": lr, "epochs": epochs}


@step
def evaluator(test: np.ndarray, model: dict[str, Any]) -> Annotated[float, "accuracy"]:
    print("evaluating on", len(test), "rows")
    return 0.9132


@step
def plotter(profile: pd.DataFrame) -> Annotated[Image.Image, "chart"]:
    img = Image.new("RGB", (240, 120), "white")
    for i, v in enumerate(profile["std"]):
        for x in range(i * 30 + 4, i * 30 + 26):
            for y in range(120 - int(v * 40), 120):
                img.putpixel((x, y), (194, 65, 12))
    return img


@step
def deployment_trigger(accuracy: float, min_accuracy: float = 0.8) -> Annotated[bool, "decision"]:
    print("accuracy", accuracy, ">=", min_accuracy)
    return accuracy >= min_accuracy


@step
def reporter(decision: bool, chart: Image.Image) -> Annotated[str, "report"]:
    return f"deploy={decision}; chart {chart.size}"


@pipeline
def training(epochs: int = 3, min_accuracy: float = 0.8):
    train, test = importer()
    normalized = normalizer(train)
    profile = profiler(train)
    model = trainer(normalized, epochs=epochs)
    accuracy = evaluator(test, model)
    chart = plotter(profile)
    decision = deployment_trigger(accuracy, min_accuracy=min_accuracy)
    reporter(decision, chart)


@step
def source() -> Annotated[list[int], "numbers"]:
    return [1, 2, 3]


@step
def breaker(numbers: list[int], fail: bool = False) -> Annotated[int, "total"]:
    print("about to add", numbers)
    if fail:
        raise ValueError("breaker was asked to fail")
    return sum(numbers)


@step
def sink(total: int) -> None:
    print("total", total)


@pipeline(enable_cache=False)
def fragile(fail: bool = True):
    sink(breaker(source(), fail=fail))
