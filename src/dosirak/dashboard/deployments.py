"""Deployments in the dashboard: what runs where, its last log lines, and stop/start.

Viewing never writes: whether a deployment's process still lives is checked read-only
(PID and start time) and shown beside the recorded status. Stop and start are the
dashboard's only writes, and they go through the deployer that made the deployment,
exactly as ``dosirak deployment stop|start`` does.
"""

from __future__ import annotations

from typing import Any

from dosirak import process
from dosirak.dashboard import logs, resources
from dosirak.dashboard.context import Dashboard
from dosirak.dashboard.registry import store_with
from dosirak.errors import DashboardError, NotFoundError
from dosirak.stack.flavors import flavor_class
from dosirak.statuses import LIVE_DEPLOYMENT_STATUSES

LOG_TAIL_BYTES = 8 * 1024
LOG_LINES = 40


def deployment(record: Any) -> dict[str, Any]:
    """A deployment's fields plus ``docs_url`` and ``process_alive`` (None when unknowable here)."""
    out = resources.record(record)
    # a SageMaker endpoint answers only /invocations (through sagemaker-runtime): no Swagger UI to link
    out["docs_url"] = f"{record.url.rstrip('/')}/docs" if record.url and record.flavor != "sagemaker" else None
    alive: bool | None = None
    if record.status in LIVE_DEPLOYMENT_STATUSES and record.flavor == "local" and record.pid:
        alive = process.is_alive(record.pid, record.pid_start)
    out["process_alive"] = alive
    return out


def list_view(board: Dashboard) -> list[dict[str, Any]]:
    store = store_with(board, "deployments")
    numbers: dict[str, int | None] = {}
    out = []
    for d in store.deployments.list_deployments():
        view = deployment(d)
        view["model_version"] = _version_number(board, d.model_version_id, numbers)
        out.append(view)
    return out


def _version_number(board: Dashboard, version_id: str | None, cache: dict[str, int | None]) -> int | None:
    """The number of the model version a deployment serves (None when unrecorded or forgotten)."""
    if not version_id or not board.has("models"):
        return None
    if version_id not in cache:
        try:
            cache[version_id] = int(board.store.models.get_model_version_by_id(version_id).version)
        except NotFoundError:
            cache[version_id] = None
    return cache[version_id]


def detail_view(board: Dashboard, deployment_id: str) -> dict[str, Any]:
    store = store_with(board, "deployments")
    record = store.deployments.get_deployment(deployment_id)
    bundle = None
    if record.bundle_id and board.has("bundles"):
        try:
            bundle = resources.record(store.bundles.get_bundle_by_id(record.bundle_id))
        except Exception:  # noqa: BLE001 - a forgotten bundle leaves the deployment viewable
            bundle = None
    chunk = logs.tail(record.log_path, LOG_TAIL_BYTES)
    lines = chunk.text.splitlines()[-LOG_LINES:]
    view = deployment(record)
    view["model_version"] = _version_number(board, record.model_version_id, {})
    return {"deployment": view, "bundle": bundle, "log_lines": lines,
            "can_stop": record.status in LIVE_DEPLOYMENT_STATUSES,
            "can_start": record.status not in LIVE_DEPLOYMENT_STATUSES}


def act(board: Dashboard, deployment_id: str, action: str) -> dict[str, Any]:
    """Stop or start a deployment through its deployer; returns the deployment afterwards."""
    if action not in ("stop", "start"):
        raise DashboardError(f"unknown action '{action}'; use stop or start")
    store = store_with(board, "deployments")
    record = store.deployments.get_deployment(deployment_id)
    try:
        config = store.stacks.get_component("model-deployer", record.deployer).config
    except NotFoundError:
        config = {}
    deployer = flavor_class("model-deployer", record.flavor)(record.deployer, config)
    result = deployer.stop(record.id) if action == "stop" else deployer.start(record.id)
    return deployment(result)


__all__ = ["act", "deployment", "detail_view", "list_view"]
