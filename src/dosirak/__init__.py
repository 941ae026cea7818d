"""dosirak: train, package and serve machine-learning models.

The names below are imported on first use, so ``import dosirak`` stays light (no torch,
SQLAlchemy, pydantic or numpy until a feature needs them).

Example::

    from dosirak import pipeline, step

    @step
    def add_one(x: int) -> int:
        return x + 1

    @pipeline
    def chain(start: int = 0):
        add_one(add_one(start))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> ``"module:attribute"`` (``"module:"`` for a module), imported on first use
_LAZY: dict[str, str] = {
    "Client": "dosirak.client:Client",
    "Materializer": "dosirak.artifacts.materializers.base:Materializer",
    "ModelOutput": "dosirak.models.ref:ModelOutput",
    "Tensor": "dosirak.serving.codecs.numpy:Tensor",
    "ServiceClient": "dosirak.serving.client:ServiceClient",
    "AsyncServiceClient": "dosirak.serving.client:AsyncServiceClient",
    "api": "dosirak.serving.api:api",
    "errors": "dosirak.errors:",
    "get_step_context": "dosirak.pipelines.context:get_step_context",
    "log_metadata": "dosirak.pipelines.metrics:log_metadata",
    "log_metric": "dosirak.pipelines.metrics:log_metric",
    "log_metrics": "dosirak.pipelines.metrics:log_metrics",
    "model_ref": "dosirak.models.ref:model_ref",
    "models": "dosirak.models:",
    "pipeline": "dosirak.pipelines.pipeline:pipeline",
    "service": "dosirak.serving.service:service",
    "step": "dosirak.pipelines.step:step",
}

__all__ = [
    "AsyncServiceClient", "Client", "Materializer", "ModelOutput", "ServiceClient", "Tensor", "__version__", "api",
    "errors", "get_step_context", "log_metadata", "log_metric", "log_metrics", "model_ref", "models", "pipeline",
    "service", "step",
]

# What type checkers and editors see; the same names as _LAZY (tests/test_public_api.py checks it).
if TYPE_CHECKING:  # pragma: no cover
    from dosirak import errors as errors
    from dosirak import models as models
    from dosirak.artifacts.materializers.base import Materializer as Materializer
    from dosirak.client import Client as Client
    from dosirak.models.ref import ModelOutput as ModelOutput
    from dosirak.models.ref import model_ref as model_ref
    from dosirak.pipelines.context import get_step_context as get_step_context
    from dosirak.pipelines.metrics import log_metadata as log_metadata
    from dosirak.pipelines.metrics import log_metric as log_metric
    from dosirak.pipelines.metrics import log_metrics as log_metrics
    from dosirak.pipelines.pipeline import pipeline as pipeline
    from dosirak.pipelines.step import step as step
    from dosirak.serving.api import api as api
    from dosirak.serving.client import AsyncServiceClient as AsyncServiceClient
    from dosirak.serving.client import ServiceClient as ServiceClient
    from dosirak.serving.codecs.numpy import Tensor as Tensor
    from dosirak.serving.service import service as service


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'dosirak' has no attribute '{name}'")
    import importlib  # lazy: startup: `import dosirak` stays one module

    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
