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

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "step": "dosirak.pipelines.step:step",
    "pipeline": "dosirak.pipelines.pipeline:pipeline",
    "get_step_context": "dosirak.pipelines.context:get_step_context",
    "Client": "dosirak.client:Client",
    "Materializer": "dosirak.artifacts.materializers.base:Materializer",
    "service": "dosirak.serving.service:service",
    "api": "dosirak.serving.api:api",
    "Tensor": "dosirak.serving.codecs.numpy:Tensor",
    "ServiceClient": "dosirak.serving.client:ServiceClient",
    "AsyncServiceClient": "dosirak.serving.client:AsyncServiceClient",
    "model_ref": "dosirak.models.ref:model_ref",
    "ModelOutput": "dosirak.models.ref:ModelOutput",
    "models": "dosirak.models.api:",
    "errors": "dosirak.errors:",
}

__all__ = sorted([*_LAZY, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from dosirak.client import Client as Client
    from dosirak.pipelines.pipeline import pipeline as pipeline
    from dosirak.pipelines.step import step as step


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'dosirak' has no attribute '{name}'")

    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
