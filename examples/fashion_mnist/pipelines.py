"""The Fashion-MNIST flow: train, evaluate, decide, bundle and deploy; then call the service.

Run both with ``python run.py`` (see README.md), or one at a time::

    dosirak run pipelines.py:training_fashion_mnist -c config.yaml
    dosirak run pipelines.py:inference_fashion_mnist
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the fmnist package beside this file

from fmnist.steps import (  # noqa: E402
    bundle_labels,
    deployment_trigger,
    evaluator,
    importer,
    inference_loader,
    model_metrics,
    predictor,
    trainer,
)

from dosirak import pipeline  # noqa: E402
from dosirak.steps import bundle_builder, model_deployer, prediction_service_loader  # noqa: E402

HERE = Path(__file__).resolve().parent


@pipeline(enable_cache=False)
def training_fashion_mnist(dataset: str = "fashion_mnist", min_accuracy: float = 0.8, port: int = 3001) -> None:
    """Train a classifier, and deploy it as a local HTTP service if it is accurate enough."""
    train, test = importer(dataset=dataset)
    model = trainer(train)
    accuracy, _report = evaluator(test, model)
    decision = deployment_trigger(accuracy, min_accuracy=min_accuracy)
    labels = bundle_labels(train)  # the dataset actually learnt (the importer may have fallen back)
    bundle = bundle_builder(model, model_name="fashion_mnist", service="service.py:FashionMNIST",
                            base_dir=str(HERE), include=["service.py"], labels=labels,
                            metrics=model_metrics(accuracy), python_packages=["torch", "pillow"])
    model_deployer(bundle, deploy_decision=decision, port=port)


@pipeline(enable_cache=False)
def inference_fashion_mnist(dataset: str = "fashion_mnist", count: int = 8) -> None:
    """Send a few test images to the deployed service and print what it says they are."""
    images = inference_loader(dataset=dataset, count=count)
    service = prediction_service_loader(pipeline_name="training_fashion_mnist", step_name="model_deployer",
                                        model_name="fashion_mnist")
    predictor(images, service)
