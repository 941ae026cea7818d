"""The example's own steps: import, train, evaluate, decide; and for inference, load and predict."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

from torch import nn

import dosirak as dk
from dosirak import step
from fmnist.data import (
    DIGIT_CLASSES,
    MIRROR,
    DatasetUnavailableError,
    Split,
    load_digits_28,
    load_fashion_mnist,
)

log = logging.getLogger(__name__)

DATASETS = ("fashion_mnist", "digits")


@step
def importer(
    dataset: str = "fashion_mnist",
    data_dir: str | None = None,
    base_url: str = MIRROR,
    fallback: bool = True,
    timeout_s: float = 5.0,
) -> tuple[Annotated[Split, "train"], Annotated[Split, "test"]]:
    """Fashion-MNIST (from ``data_dir``, the cache, or downloaded), or the embedded digits.

    ``dataset="digits"`` uses the embedded default directly; with ``fallback=True`` an
    unreachable download falls back to it, saying so.
    """
    from dosirak.settings import get_settings

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {dataset!r}")
    if dataset == "fashion_mnist":
        cache = get_settings().home / "datasets" / "fashion_mnist"
        try:
            train, test = load_fashion_mnist(Path(data_dir) if data_dir else None, cache, base_url,
                                             timeout_s=timeout_s)
        except DatasetUnavailableError as exc:
            if not fallback:
                raise DatasetUnavailableError(
                    f"{exc}. Put the four IDX files in a directory and pass data_dir=..., or set "
                    "fallback=True (or dataset='digits') to use the embedded offline dataset") from exc
            print(f"Fashion-MNIST is unavailable ({exc}); falling back to the embedded offline dataset")
            train, test = load_digits_28()
    else:
        train, test = load_digits_28()
    print(f"dataset: {train.source}: {len(train)} train / {len(test)} test images")
    return train, test


def _tensors(split: Split) -> tuple[Any, Any]:
    import torch

    x = torch.from_numpy(split.images.astype("float32") / 255.0).reshape(len(split), -1)
    return x, torch.from_numpy(split.labels)


@step
def trainer(train: Split, epochs: int = 4, lr: float = 2e-3, batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A small PyTorch MLP trained with Adam; the progress bar shows epoch, loss and samples/s.

    Each epoch's mean loss and training accuracy are logged (``dk.log_metrics``): the run
    page charts them live, and ``dosirak runs compare`` puts runs side by side.
    """
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    x, y = _tensors(train)
    net = nn.Sequential(nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, len(train.classes) or 10))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(y))
        started, seen, total_loss, correct = time.perf_counter(), 0, 0.0, 0
        # a live bar on a terminal only; one summary line per epoch everywhere (and in the step's log)
        with tqdm(range(0, len(y), batch_size), desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                  disable=None, mininterval=0.5) as bar:
            for start in bar:
                idx = order[start : start + batch_size]
                opt.zero_grad()
                logits = net(x[idx])
                loss = loss_fn(logits, y[idx])
                loss.backward()
                opt.step()
                seen += len(idx)
                total_loss += loss.item() * len(idx)
                correct += int((logits.argmax(dim=1) == y[idx]).sum())
                bar.set_postfix(loss=f"{total_loss / seen:.4f}",
                                samples_s=f"{seen / max(time.perf_counter() - started, 1e-9):.0f}")
        elapsed = max(time.perf_counter() - started, 1e-9)
        print(f"epoch {epoch}/{epochs}: loss {total_loss / seen:.4f}, {seen / elapsed:.0f} samples/s")
        dk.log_metrics({"loss": total_loss / seen, "accuracy": correct / seen}, step=epoch)
    return net.eval()


@step
def evaluator(test: Split, model: nn.Module) -> tuple[Annotated[float, "accuracy"], Annotated[dict[str, Any], "report"]]:
    """Test accuracy, and per-class precision and recall (by class name)."""
    import numpy as np
    import torch

    x, _ = _tensors(test)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1).numpy()
    truth = test.labels
    accuracy = float((predicted == truth).mean())
    per_class: dict[str, Any] = {}
    for index, name in enumerate(test.classes):
        tp = int(np.sum((predicted == index) & (truth == index)))
        per_class[name] = {
            "precision": tp / max(int(np.sum(predicted == index)), 1),
            "recall": tp / max(int(np.sum(truth == index)), 1),
            "support": int(np.sum(truth == index)),
        }
    print(f"test accuracy: {accuracy:.4f} on {len(test)} images")
    dk.log_metric("accuracy", accuracy)
    return accuracy, {"accuracy": accuracy, "classes": per_class}


@step
def deployment_trigger(accuracy: float, min_accuracy: float = 0.8) -> bool:
    """Deploy only a model at least as accurate as ``min_accuracy``."""
    decision = accuracy >= min_accuracy
    print(f"accuracy {accuracy:.4f} {'>=' if decision else '<'} min_accuracy {min_accuracy}: "
          f"{'deploy' if decision else 'do not deploy'}")
    return decision


@step
def model_metrics(accuracy: float) -> dict[str, float]:
    """The metrics kept with the model version (``dosirak model show fashion_mnist``)."""
    return {"accuracy": round(accuracy, 4)}


@step
def bundle_labels(train: Split) -> dict[str, str]:
    """Labels for the model version and bundle, naming the dataset the model really learnt.

    The importer may have fallen back to the embedded digits; the service picks its class
    names from this label, so it must follow the data, not the requested dataset.
    """
    dataset = "digits" if list(train.classes) == list(DIGIT_CLASSES) else "fashion_mnist"
    return {"framework": "pytorch", "dataset": dataset}


@step
def inference_loader(dataset: str = "fashion_mnist", data_dir: str | None = None, count: int = 8,
                     fallback: bool = True) -> Split:
    """A few test images to send to the service (the same dataset choice as training)."""
    from dosirak.settings import get_settings

    if dataset == "fashion_mnist":
        try:
            _, test = load_fashion_mnist(Path(data_dir) if data_dir else None,
                                         get_settings().home / "datasets" / "fashion_mnist", timeout_s=5.0)
        except DatasetUnavailableError as exc:
            if not fallback:
                raise
            print(f"Fashion-MNIST is unavailable ({exc}); using the embedded offline dataset")
            _, test = load_digits_28()
    else:
        _, test = load_digits_28()
    return Split(test.images[:count], test.labels[:count], test.classes, test.source)


@step(enable_cache=False)
def predictor(images: Split, service: Any) -> Annotated[list[dict[str, Any]], "predictions"]:
    """Ask the running service, through both its ndarray and its image api, and print human labels."""
    import numpy as np
    from PIL import Image

    indices = np.asarray(service.predict("predict_ndarray", images.images)).reshape(-1)
    rows: list[dict[str, Any]] = []
    print(f"predictions from {service.url}:")
    for i, (img, truth) in enumerate(zip(images.images, images.labels, strict=True)):
        by_image = service.predict("predict_image", Image.fromarray(img))
        row = {"index": i, "truth": images.classes[int(truth)], "ndarray": images.classes[int(indices[i])],
               "image": str(by_image)}
        rows.append(row)
        print(f"  image {i}: ndarray api -> {row['ndarray']:<12} image api -> {row['image']:<12} "
              f"(true: {row['truth']})")
    service.close()
    return rows


__all__ = ["deployment_trigger", "evaluator", "importer", "inference_loader", "predictor", "trainer"]
