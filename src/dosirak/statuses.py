"""Every status a run, a step run or a deployment can have: the one place they are declared.

The values are the strings stored in the metadata store and shown by the CLI, the dashboard
and its JSON API. Each kind is a ``Literal`` type, so mypy checks every comparison and
assignment against it, and a tuple of its values (in the order the ``Literal`` lists them)
for code that validates or enumerates. To add a status, add it to the ``Literal``: the
tuples follow.
"""

from __future__ import annotations

from typing import Literal, TypeAlias, TypeGuard, get_args

RunStatus: TypeAlias = Literal["running", "completed", "failed", "cancelled"]
StepStatus: TypeAlias = Literal["pending", "running", "completed", "cached", "failed", "skipped", "cancelled"]
DeploymentStatus: TypeAlias = Literal["starting", "running", "stopping", "stopped", "failed"]

RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
STEP_STATUSES: tuple[StepStatus, ...] = get_args(StepStatus)
DEPLOYMENT_STATUSES: tuple[DeploymentStatus, ...] = get_args(DeploymentStatus)

#: Deployments whose process (or endpoint) should be alive.
LIVE_DEPLOYMENT_STATUSES: tuple[DeploymentStatus, ...] = ("starting", "running", "stopping")
#: Deployments that serve, or are starting to (not the ones being stopped).
SERVING_DEPLOYMENT_STATUSES: tuple[DeploymentStatus, ...] = ("starting", "running")
#: Deployments that no longer hold on to a model or bundle.
ENDED_DEPLOYMENT_STATUSES: tuple[DeploymentStatus, ...] = tuple(
    s for s in DEPLOYMENT_STATUSES if s not in LIVE_DEPLOYMENT_STATUSES)


def is_run_status(value: object) -> TypeGuard[RunStatus]:
    """Whether ``value`` is a status a run can have (e.g. a filter read from a query string)."""
    return value in RUN_STATUSES


__all__ = [
    "DEPLOYMENT_STATUSES", "ENDED_DEPLOYMENT_STATUSES", "LIVE_DEPLOYMENT_STATUSES", "RUN_STATUSES", "SERVING_DEPLOYMENT_STATUSES",
    "STEP_STATUSES",     "DeploymentStatus", "RunStatus", "StepStatus", "is_run_status",
]
