"""Built-in steps: ``bundle_builder``, ``model_deployer``, ``prediction_service_loader``."""

from dosirak.steps.bundling import bundle_builder
from dosirak.steps.deployment import model_deployer, prediction_service_loader

__all__ = ["bundle_builder", "model_deployer", "prediction_service_loader"]
