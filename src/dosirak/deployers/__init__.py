"""Deployers: run a bundle as a service somewhere, and find it again.

``find_model_server(pipeline_name=..., step_name=..., model_name=...)`` lists matching
deployments (running ones by default), from any process, each a ``ModelServer`` record
whose ``client()`` calls it. Flavors live in their own
modules (``local``) and are found through the ``dosirak.model_deployers`` entry points.
"""

from __future__ import annotations

from dosirak.deployers.base import BaseDeployer, DeploymentRequest
from dosirak.deployers.discovery import ModelServer, find_model_server, find_prediction_service

__all__ = ["BaseDeployer", "DeploymentRequest", "ModelServer", "find_model_server", "find_prediction_service"]
