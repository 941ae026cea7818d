"""Pipelines that deploy the echo bundle with the active stack's model deployer, and call it."""

from __future__ import annotations

from typing import Any

from dosirak import pipeline, step
from dosirak.deployers.prediction_service import PredictionService
from dosirak.steps import model_deployer, prediction_service_loader


@step(enable_cache=False)
def echo_bundle() -> str:
    """The tag of the echo bundle the test built (and whose image it pushed)."""
    return "echo:latest"


@step(enable_cache=False)
def predictor(service: PredictionService) -> Any:
    return service.predict("double", 21.0)


@pipeline(enable_cache=False)
def deploy_echo() -> None:
    model_deployer(echo_bundle())


@pipeline(enable_cache=False)
def call_echo() -> None:
    service = prediction_service_loader(pipeline_name="deploy_echo", step_name="model_deployer", model_name="echo")
    predictor(service)


@step
def make_model() -> dict[str, float]:
    return {"scale": 2.0}


@pipeline(enable_cache=False)
def train_and_deploy_echo(service_dir: str) -> None:
    from dosirak.steps import bundle_builder

    bundle = bundle_builder(make_model(), model_name="echo", service="service.py:Echo", base_dir=service_dir,
                            name="echo", include=["service.py"])
    model_deployer(bundle)
