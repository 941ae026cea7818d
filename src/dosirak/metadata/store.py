"""The metadata store: the one API through which dosirak reads and writes its state.

One object per concept, on one database: ``store.runs``, ``store.artifacts``,
``store.stacks``, ``store.references``, ``store.metrics`` (what a pipeline run uses: SQL text, no SQLAlchemy
import) and ``store.models``, ``store.bundles``, ``store.deployments``, ``store.overview``
(SQLAlchemy Core, imported when one of them is first used). Every change a user cares
about is written in one transaction; reads hand out frozen records from
:mod:`dosirak.metadata.records`, never live rows. A process opens each store once
(:func:`get_store`).

Each concept's methods are also reachable on the store itself under their old flat
names (``store.get_run`` is ``store.runs.get_run``), while callers move over.

Example::

    store = get_store()                 # the store named by the settings, opened once
    run = store.runs.get_run("3f2a")    # a RunRecord (id prefixes work)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from dosirak.metadata._artifacts import Artifacts
from dosirak.metadata._metrics import Metrics
from dosirak.metadata._references import References
from dosirak.metadata._runs import Runs
from dosirak.metadata._stacks import Stacks
from dosirak.metadata.database import Database
from dosirak.metadata.driver import Driver
from dosirak.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dosirak.metadata._bundles import Bundles
    from dosirak.metadata._deployments import Deployments
    from dosirak.metadata._models import Models
    from dosirak.metadata._overview import Overview
    from dosirak.metadata.database import Concept

    P = ParamSpec("P")
    R = TypeVar("R")
    C = TypeVar("C", bound=Concept)

    def _flat(method: Callable[Concatenate[C, P], R]) -> Callable[Concatenate[MetadataStore, P], R]:
        """A concept's method as type checkers see it on the store, under its flat name.

        Only type checkers read this block; at run time ``MetadataStore.__getattr__`` answers
        each flat name with the bound method of its concept.
        """
        return cast("Callable[Concatenate[MetadataStore, P], R]", method)

    def _flat_kw(method: Callable[..., R]) -> Callable[..., R]:
        """:func:`_flat` for a method taking ``**fields`` (its argument types are not carried over)."""
        return method

#: The concept that answers each flat name (``store.get_run`` -> ``store.runs``).
_FLAT: dict[str, str] = {
    **dict.fromkeys((
        "create_run", "start_step", "finish_step", "set_step_extra", "skip_steps", "finish_run", "cancel_run",
        "heartbeat", "reap_abandoned_runs", "reuse_cached", "get_run", "get_steps", "get_step_run",
        "previous_step_run", "list_pipelines", "get_pipeline_record", "list_runs", "count_runs", "step_run_context",
    ), "runs"),
    **dict.fromkeys(("get_artifact", "get_artifacts", "list_artifacts", "count_artifacts", "artifact_links"),
                    "artifacts"),
    **dict.fromkeys((
        "get_value", "set_value", "active_stack_name", "get_stack", "register_component", "update_component",
        "get_component", "list_components", "delete_component", "register_stack", "list_stacks", "delete_stack",
        "set_active_stack",
    ), "stacks"),
    **dict.fromkeys(("run_states", "artifact_uris", "bundle_paths", "model_version_uris", "model_versions_held"),
                    "references"),
    **dict.fromkeys((
        "create_model_version", "set_model_alias", "remove_model_alias", "delete_model_version", "delete_model",
        "get_model_version", "get_model_version_by_id", "list_model_versions", "list_models", "model_alias_history",
    ), "models"),
    **dict.fromkeys((
        "create_bundle", "get_bundle", "get_bundle_by_id", "list_bundles", "bundles_with_model_version",
        "record_image", "list_images", "delete_bundle",
    ), "bundles"),
    **dict.fromkeys((
        "create_deployment", "update_deployment", "switch_deployments", "get_deployment", "list_deployments",
        "delete_deployment",
    ), "deployments"),
    **dict.fromkeys((
        "step_status_counts", "run_timeline", "store_counts", "count_artifacts_of_type", "step_run_names",
    ), "overview"),
}


class MetadataStore:
    """Runs, artifacts, stacks, models, bundles and deployments, in one database."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.runs = Runs(self.db)
        self.artifacts = Artifacts(self.db)
        self.stacks = Stacks(self.db)
        self.references = References(self.db)
        self.metrics = Metrics(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def sql(self) -> Driver:
        """SQL text on the store's database (see :mod:`dosirak.metadata.driver`)."""
        return self.db.sql

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use."""
        return self.db.engine

    @cached_property
    def models(self) -> Models:
        from dosirak.metadata._models import Models

        return Models(self.db)

    @cached_property
    def bundles(self) -> Bundles:
        from dosirak.metadata._bundles import Bundles

        return Bundles(self.db)

    @cached_property
    def deployments(self) -> Deployments:
        from dosirak.metadata._deployments import Deployments

        return Deployments(self.db)

    @cached_property
    def overview(self) -> Overview:
        from dosirak.metadata._overview import Overview

        return Overview(self.db)

    def close(self) -> None:
        self.db.close()

    def __getattr__(self, name: str) -> Any:
        concept = _FLAT.get(name)
        if concept is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        method = getattr(getattr(self, concept), name)
        self.__dict__[name] = method  # found directly from now on
        return method

    if TYPE_CHECKING:
        create_run = _flat(Runs.create_run)
        start_step = _flat(Runs.start_step)
        finish_step = _flat(Runs.finish_step)
        set_step_extra = _flat(Runs.set_step_extra)
        skip_steps = _flat(Runs.skip_steps)
        finish_run = _flat(Runs.finish_run)
        cancel_run = _flat(Runs.cancel_run)
        heartbeat = _flat(Runs.heartbeat)
        reap_abandoned_runs = _flat(Runs.reap_abandoned_runs)
        reuse_cached = _flat(Runs.reuse_cached)
        get_run = _flat(Runs.get_run)
        get_steps = _flat(Runs.get_steps)
        get_step_run = _flat(Runs.get_step_run)
        previous_step_run = _flat(Runs.previous_step_run)
        list_pipelines = _flat(Runs.list_pipelines)
        get_pipeline_record = _flat(Runs.get_pipeline_record)
        list_runs = _flat(Runs.list_runs)
        count_runs = _flat(Runs.count_runs)
        step_run_context = _flat(Runs.step_run_context)
        get_artifact = _flat(Artifacts.get_artifact)
        get_artifacts = _flat(Artifacts.get_artifacts)
        list_artifacts = _flat(Artifacts.list_artifacts)
        count_artifacts = _flat(Artifacts.count_artifacts)
        artifact_links = _flat(Artifacts.artifact_links)
        get_value = _flat(Stacks.get_value)
        set_value = _flat(Stacks.set_value)
        active_stack_name = _flat(Stacks.active_stack_name)
        get_stack = _flat(Stacks.get_stack)
        register_component = _flat(Stacks.register_component)
        update_component = _flat(Stacks.update_component)
        get_component = _flat(Stacks.get_component)
        list_components = _flat(Stacks.list_components)
        delete_component = _flat(Stacks.delete_component)
        register_stack = _flat(Stacks.register_stack)
        list_stacks = _flat(Stacks.list_stacks)
        delete_stack = _flat(Stacks.delete_stack)
        set_active_stack = _flat(Stacks.set_active_stack)
        run_states = _flat(References.run_states)
        artifact_uris = _flat(References.artifact_uris)
        bundle_paths = _flat(References.bundle_paths)
        model_version_uris = _flat(References.model_version_uris)
        model_versions_held = _flat(References.model_versions_held)
        create_model_version = _flat(Models.create_model_version)
        set_model_alias = _flat(Models.set_model_alias)
        remove_model_alias = _flat(Models.remove_model_alias)
        delete_model_version = _flat(Models.delete_model_version)
        delete_model = _flat(Models.delete_model)
        get_model_version = _flat(Models.get_model_version)
        get_model_version_by_id = _flat(Models.get_model_version_by_id)
        list_model_versions = _flat(Models.list_model_versions)
        list_models = _flat(Models.list_models)
        model_alias_history = _flat(Models.model_alias_history)
        create_bundle = _flat(Bundles.create_bundle)
        get_bundle = _flat(Bundles.get_bundle)
        get_bundle_by_id = _flat(Bundles.get_bundle_by_id)
        list_bundles = _flat(Bundles.list_bundles)
        bundles_with_model_version = _flat(Bundles.bundles_with_model_version)
        record_image = _flat(Bundles.record_image)
        list_images = _flat(Bundles.list_images)
        delete_bundle = _flat(Bundles.delete_bundle)
        create_deployment = _flat_kw(Deployments.create_deployment)
        update_deployment = _flat_kw(Deployments.update_deployment)
        switch_deployments = _flat(Deployments.switch_deployments)
        get_deployment = _flat(Deployments.get_deployment)
        list_deployments = _flat(Deployments.list_deployments)
        delete_deployment = _flat(Deployments.delete_deployment)
        step_status_counts = _flat(Overview.step_status_counts)
        run_timeline = _flat(Overview.run_timeline)
        store_counts = _flat(Overview.store_counts)
        count_artifacts_of_type = _flat(Overview.count_artifacts_of_type)
        step_run_names = _flat(Overview.step_run_names)


# ------------------------------------------------------------ one store per process
_opened: dict[str, MetadataStore] = {}
_lock = threading.Lock()


def get_store(url: str | None = None) -> MetadataStore:
    """The store at ``url`` (default: the settings' one), opened once per process."""
    if url is None:
        url = get_settings().metadata_url
    with _lock:
        store = _opened.get(url)
        if store is None:
            store = _opened[url] = MetadataStore(url)
        return store


def close_stores() -> None:
    """Close every open store (tests switch ``DOSIRAK_HOME`` between cases)."""
    with _lock:
        for store in _opened.values():
            store.close()
        _opened.clear()


__all__ = ["MetadataStore", "close_stores", "get_store"]
