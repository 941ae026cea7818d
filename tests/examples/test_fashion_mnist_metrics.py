"""The Fashion-MNIST example's steps log loss and accuracy per epoch, and the test accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"
sys.path.insert(0, str(EXAMPLE))

from fmnist.steps import evaluator, importer, trainer  # noqa: E402

from dosirak import pipeline  # noqa: E402
from dosirak.metadata.store import get_store  # noqa: E402


@pipeline(enable_cache=False)
def train_on_digits(epochs: int = 2) -> None:
    train, test = importer(dataset="digits")
    evaluator(test, trainer(train, epochs=epochs))


def test_the_trainer_logs_loss_and_accuracy_per_epoch_and_the_evaluator_the_test_accuracy() -> None:
    run = train_on_digits(epochs=3)
    assert run.status == "completed"
    store = get_store()
    summaries = {s.key: s for s in store.metrics.summaries([run.id])}
    assert set(summaries) == {"trainer.loss", "trainer.accuracy", "evaluator.accuracy"}
    loss = store.metrics.series(run.steps["trainer"].id, "loss").points
    assert [s for s, _, _ in loss] == [1, 2, 3] and loss[-1][1] < loss[0][1]  # it learns
    assert 0.5 < summaries["trainer.accuracy"].latest <= 1.0
    assert summaries["evaluator.accuracy"].latest == pytest.approx(run.steps["evaluator"].outputs["accuracy"].load())
