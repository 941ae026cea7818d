"""The model registry, as ``dk.models``: save, get, load, list, alias and delete versions.

Example::

    import dosirak as dk

    version = dk.models.save("fashion_mnist", net, metrics={"accuracy": 0.88})
    version.tag                                          # 'fashion_mnist:3'
    dk.models.alias("fashion_mnist:3", "production")
    net = dk.models.get("fashion_mnist:production").load()

A framework handler is chosen by the object's type (PyTorch, scikit-learn, ONNX, and a
pickle fallback), through the ``dosirak.model_frameworks`` entry points. Inside a
pipeline step, the run and step that produced a version are recorded automatically.
"""

from __future__ import annotations

import builtins
import json
import logging
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

from dosirak import disk
from dosirak.artifacts import shared
from dosirak.errors import DosirakError, ModelError, StoreError
from dosirak.metadata._models import check_model_name
from dosirak.metadata.records import AliasMoveRecord, ModelRecord
from dosirak.metadata.store import get_store
from dosirak.metadata.timeutil import utcnow
from dosirak.models import store as files
from dosirak.models.frameworks.base import handler_for_object, handler_named
from dosirak.models.model import ModelVersion, shared_copy_uri
from dosirak.pipelines.context import get_step_context
from dosirak.settings import get_settings

log = logging.getLogger(__name__)


def parse_tag(tag: str) -> tuple[str, str]:
    """``"name:ref"`` -> ``(name, ref)``; a bare name means ``latest``."""
    name, sep, ref = str(tag).strip().partition(":")
    if not name or (sep and not ref):
        raise ModelError(f"invalid model reference '{tag}': use NAME, NAME:VERSION, NAME:latest or NAME:ALIAS")
    return name, ref or "latest"


def _store() -> Any:
    return get_store()


def _json_dict(value: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelError(f"{what} must be a dict, not {type(value).__qualname__}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what} must be JSON data: {exc}") from exc
    return value


def current_step_lineage() -> tuple[str | None, str | None]:
    """(run id, step run id) when called inside a running step."""
    ctx = get_step_context()
    if ctx is None:
        return None, None
    return ctx.run_id, ctx.step_run_id


def save(
    name: str,
    model: Any,
    *,
    metadata: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    labels: dict[str, Any] | None = None,
    signatures: dict[str, Any] | None = None,
    framework: str | None = None,
    options: dict[str, Any] | None = None,
    run_id: str | None = None,
    step_run_id: str | None = None,
    artifact_id: str | None = None,
) -> ModelVersion:
    """Save ``model`` as the next version of ``name`` and return that version.

    Args:
        name: the model's name (letters, digits, ``_ - .``).
        model: the object; its type picks the framework handler.
        metadata: free-form JSON data kept with the version.
        metrics: numbers to compare versions by (``{"accuracy": 0.88}``).
        labels: JSON labels (``{"framework": "pytorch"}``).
        signatures: JSON description of how to call the model (shapes, dtypes, methods).
        framework: force a handler by name (``"pickle"``) instead of choosing by type.
        options: handler options, e.g. ``{"init_args": {...}}`` for a PyTorch module.
        run_id, step_run_id, artifact_id: lineage; inside a step the run and step are
            filled in automatically.
    """
    meta, mets, labs, sigs = (_json_dict(metadata, "metadata"), _json_dict(metrics, "metrics"),
                              _json_dict(labels, "labels"), _json_dict(signatures, "signatures"))
    check_model_name(name)
    handler = handler_named(framework) if framework else handler_for_object(model)
    if run_id is None and step_run_id is None:
        run_id, step_run_id = current_step_lineage()
    root = get_settings().models_root
    temp = files.new_temp_dir(root)
    placed: builtins.list[Path] = []

    # a team's store keeps a copy, uploaded before the transaction that records it: under the
    # version's id (its number is only known inside the transaction), so the write lock is never
    # held for an upload and no row names a copy that is not complete
    remote = shared.active_remote_store()
    version_id = str(uuid.uuid4())
    uploaded: builtins.list[str] = []
    try:
        info = handler.save(model, temp, dict(options or {}))
        hashes = files.hash_files(temp)
        libraries = {"python": platform.python_version(), **handler.libraries()}
        description = {
            "name": name, "id": version_id, "framework": handler.name, "created_at": utcnow().isoformat(),
            "files": hashes, "handler": info, "libraries": libraries, "metadata": meta, "metrics": mets,
            "labels": labs, "signatures": sigs,
            "lineage": {"run_id": run_id, "step_run_id": step_run_id, "artifact_id": artifact_id},
        }
        extra: dict[str, Any] = {"handler": info}
        if remote is not None:
            files.write_model_yaml(temp, description)  # without the number: a reader takes its record's
            uri = shared.location(remote, "models", name, version_id)
            uploaded.append(uri)
            shared.upload(remote, temp, uri)
            extra[shared.SHARED_URI] = uri

        def place(version: int, _version_id: str) -> str:
            files.write_model_yaml(temp, files.with_version(description, version))
            target = files.version_dir(root, name, version)
            files.move_into_place(temp, target)
            placed.append(target)
            return str(target)

        record = _store().models.create_model_version(
            name, framework=handler.name, place=place, files=hashes, metadata=meta, metrics=mets, labels=labs,
            signatures=sigs, libraries=libraries, run_id=run_id, step_run_id=step_run_id, artifact_id=artifact_id,
            trusted=True, extra=extra, version_id=version_id,
        )
    except BaseException as exc:
        full = _disk_full(exc, temp)  # before the cleanup frees space
        shutil.rmtree(temp, ignore_errors=True)
        _remove_unrecorded(placed)
        for uri in uploaded:
            shared.discard(uri)
        if full:
            raise ModelError(disk.full_message(root, f"saving model '{name}' in", exc)) from exc
        raise
    log.info("saved model %s (%s)", record.tag, handler.name)
    return ModelVersion.from_record(record)


def _disk_full(exc: BaseException, temp: Path) -> bool:
    """Whether ``exc``, raised while saving into ``temp``, came from a full disk (a full store already says so)."""
    if not isinstance(exc, Exception) or isinstance(exc, StoreError):
        return False
    return disk.out_of_space(exc, temp) or (not isinstance(exc, DosirakError) and disk.is_full(temp))


def _remove_unrecorded(placed: builtins.list[Path]) -> None:
    """Remove version directories moved into place whose row was not recorded (the store's disk was
    full, ...), so none stays without its row; if the store cannot say, ``dosirak gc`` decides later."""
    if not placed:
        return
    try:
        recorded = _store().references.model_version_uris()
    except Exception:  # noqa: BLE001 - the error being raised matters more
        log.warning("could not check whether %s was recorded; `dosirak gc` removes it if not", placed[0])
        return
    for path in placed:
        if str(path) not in recorded:
            shutil.rmtree(path, ignore_errors=True)


def get(tag: str) -> ModelVersion:
    """The version named by ``NAME[:VERSION|:latest|:ALIAS]``; NotFoundError if there is none."""
    name, ref = parse_tag(tag)
    return ModelVersion.from_record(_store().models.get_model_version(name, ref))


def load(tag: str, *, trusted: bool | None = None) -> Any:
    """Shortcut for ``get(tag).load(trusted=trusted)``."""
    return get(tag).load(trusted=trusted)


def list() -> builtins.list[ModelRecord]:  # noqa: A001 - the registry's natural verb
    """Every model with its version count, newest version and aliases."""
    return _store().models.list_models()  # type: ignore[no-any-return]


def versions(name: str) -> builtins.list[ModelVersion]:
    """Every version of ``name``, newest first."""
    return [ModelVersion.from_record(r) for r in _store().models.list_model_versions(name)]


def alias(tag: str, alias_name: str, *, actor: str | None = None) -> AliasMoveRecord:
    """Point ``alias_name`` (e.g. ``production``) at the version ``tag`` names; the move is kept."""
    name, ref = parse_tag(tag)
    version = _store().models.get_model_version(name, ref)
    return _store().models.set_model_alias(name, alias_name, version.version, actor=actor)  # type: ignore[no-any-return]


def remove_alias(name: str, alias_name: str, *, actor: str | None = None) -> None:
    """Remove an alias from a model (kept in the history)."""
    _store().models.remove_model_alias(name, alias_name, actor=actor)


def alias_history(name: str) -> builtins.list[AliasMoveRecord]:
    """Every alias move of ``name``, oldest first."""
    return _store().models.model_alias_history(name)  # type: ignore[no-any-return]


def delete(tag: str) -> builtins.list[ModelVersion]:
    """Delete one version (``name:3``) or, given a bare name, the model and all its versions.

    Refused, naming them, while a bundle or a running deployment uses a version.
    """
    name, sep, ref = str(tag).partition(":")
    store = _store()
    if sep:
        version = store.models.get_model_version(name, ref)
        records = [store.models.delete_model_version(name, version.version)]
    else:
        records = store.models.delete_model(name)
    deleted = [ModelVersion.from_record(r) for r in records]
    for record, v in zip(records, deleted, strict=True):
        shutil.rmtree(v.path, ignore_errors=True)
        uri = shared_copy_uri(record)
        if uri is not None:  # the team's copy goes too (a failure is logged: `dosirak gc` cannot see it)
            shared.discard(uri)
            shutil.rmtree(shared.cache_dir("models", v.name, v.version), ignore_errors=True)
        log.info("deleted model %s", v.tag)
    return deleted


__all__ = ["alias", "alias_history", "current_step_lineage", "delete", "get", "list", "load", "parse_tag", "remove_alias", "save", "versions"]
