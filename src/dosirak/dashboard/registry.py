"""Views of the registry (models, versions, bundles) shared by its pages and its API.

Each view gathers what one page shows in a few store calls: a model with all its
versions and the union of their metric names (to lay metrics side by side), a version
with its lineage back to the run, a bundle with its files and requirements, and which
version of each model its live deployments serve.
"""

from __future__ import annotations

from typing import Any

from dosirak.dashboard import resources, storage
from dosirak.dashboard.context import Dashboard, dashboard_of
from dosirak.errors import NotFoundError

WHAT = {"models": "model registry", "bundles": "bundle registry", "deployments": "deployments"}
#: Deployments that serve (or are about to serve) their model version.
SERVING_STATUSES = ("starting", "running", "stopping")
MAX_REQUIREMENTS = 32 * 1024


def store_with(request_or_board: Any, concept: str) -> Any:
    """The store, if it offers ``concept`` (e.g. ``models``); else a 404 saying this part is not there."""
    board = request_or_board if isinstance(request_or_board, Dashboard) else dashboard_of(request_or_board)
    if not board.has(concept):
        raise NotFoundError(f"this dosirak store has no {WHAT.get(concept, concept)}; upgrade dosirak")
    return board.store


def deployed_versions(board: Dashboard, model_name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Model name -> the versions its live deployments serve, newest deployment first.

    Each entry: ``version`` (number), ``deployment_id``, ``deployment`` (name), ``status``,
    ``url``, ``flavor`` (the deployer's: ``local``, ``sagemaker``, ...) and ``where`` (``local``
    or ``cloud``). The version is the deployment's recorded model version, else the first version
    of the same model in its bundle.
    """
    if not board.has("deployments"):
        return {}
    store = board.store
    out: dict[str, list[dict[str, Any]]] = {}
    numbers: dict[str, int | None] = {}
    for d in store.deployments.list_deployments(model_name=model_name, statuses=SERVING_STATUSES):
        version_id = d.model_version_id or _bundle_version_id(board, d.bundle_id, d.model_name)
        if not d.model_name or not version_id:
            continue
        if version_id not in numbers:
            try:
                numbers[version_id] = store.models.get_model_version_by_id(version_id).version
            except NotFoundError:
                numbers[version_id] = None
        number = numbers[version_id]
        if number is not None:
            out.setdefault(d.model_name, []).append({"version": number, "deployment_id": d.id, "deployment": d.name,
                                                     "status": d.status, "url": d.url, "flavor": d.flavor,
                                                     "where": "local" if d.flavor == "local" else "cloud"})
    return out


def _bundle_version_id(board: Dashboard, bundle_id: str | None, model_name: str | None) -> str | None:
    if not bundle_id or not board.has("bundles"):
        return None
    try:
        bundle = board.store.bundles.get_bundle_by_id(bundle_id)
    except NotFoundError:
        return None
    for m in bundle.models or []:
        if isinstance(m, dict) and m.get("name") == model_name and m.get("id"):
            return str(m["id"])
    return None


def model_view(board: Dashboard, name: str) -> dict[str, Any]:
    store = store_with(board, "models")
    model = next((m for m in store.models.list_models() if m.name == name), None)
    if model is None:
        raise NotFoundError(f"no model named '{name}'; `dosirak model list` shows them")
    versions = store.models.list_model_versions(name)
    metric_names = sorted({k for v in versions for k in v.metrics})
    history = store.models.model_alias_history(name)
    return {"model": resources.record(model), "versions": [resources.record(v) for v in versions],
            "metric_names": metric_names, "alias_history": [resources.record(h) for h in history],
            "deployed": deployed_versions(board, name).get(name, [])}


def model_version_view(board: Dashboard, name: str, ref: str) -> dict[str, Any]:
    store = store_with(board, "models")
    version = store.models.get_model_version(name, ref)
    run = step = None
    if version.run_id:
        try:
            run = resources.run(store.runs.get_run(version.run_id))
        except NotFoundError:
            run = None
    if version.step_run_id:
        try:
            step = resources.step(store.runs.get_step_run(version.step_run_id))
        except NotFoundError:
            step = None
    bundles = store.bundles.bundles_with_model_version(version.id) if board.has("bundles") else []
    return {"version": resources.record(version), "run": run, "step": step,
            "bundles": [resources.record(b) for b in bundles]}


def bundle_view(board: Dashboard, bundle_id: str) -> dict[str, Any]:
    store = store_with(board, "bundles")
    bundle = store.bundles.get_bundle_by_id(bundle_id)
    files = storage.list_files(bundle.path)
    requirements = ""
    req = next((f for f in files if f.name.rsplit("/", 1)[-1].startswith("requirements") and f.name.endswith(".txt")),
               None)
    if req is not None:
        requirements = storage.read_bytes(storage.join(bundle.path, req.name), 0, MAX_REQUIREMENTS).decode(
            "utf-8", errors="replace")
    deployments = []
    if board.has("deployments"):
        deployments = [resources.record(d) for d in store.deployments.list_deployments() if getattr(d, "bundle_id", None) == bundle.id]
    images = [resources.record(i) for i in store.bundles.list_images(bundle.id)]
    return {"bundle": resources.record(bundle), "files": [{"name": f.name, "size": f.size} for f in files],
            "requirements": requirements, "requirements_file": req.name if req else None,
            "deployments": deployments, "images": images}


__all__ = ["bundle_view", "deployed_versions", "model_version_view", "model_view", "store_with"]
