"""dosirak.steps."""

from dosirak.steps.deployment import model_deployer, prediction_service_loader
