"""Read views of runs, step runs and artifacts, as ``Client`` and a finished pipeline return them."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, overload

from dosirak.artifacts.materializers import registry
from dosirak.artifacts.shared import reader_for
from dosirak.errors import NotFoundError
from dosirak.metadata.records import ArtifactRecord, RunRecord, StepRunRecord

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore
    from dosirak.statuses import RunStatus, StepStatus

T = TypeVar("T")


class _RecordField(Generic[T]):
    """A view's read-only attribute: the field of the same name on the view's ``record``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, view: None, owner: type) -> _RecordField[T]: ...
    @overload
    def __get__(self, view: object, owner: type) -> T: ...
    def __get__(self, view: object | None, owner: type) -> T | _RecordField[T]:
        if view is None:
            return self
        value: T = getattr(view.record, self._name)  # type: ignore[attr-defined]
        return value

    def __set__(self, view: object, value: object) -> NoReturn:
        raise AttributeError(f"{self._name} is read from the record; the view cannot change it")


class ArtifactView:
    """One artifact version: where it is, what it is, and ``.load()`` to get the object back."""

    def __init__(self, record: ArtifactRecord) -> None:
        self.record = record

    id: _RecordField[str] = _RecordField()
    name: _RecordField[str] = _RecordField()
    uri: _RecordField[str] = _RecordField()
    content_hash: _RecordField[str] = _RecordField()
    type: _RecordField[str] = _RecordField()
    size: _RecordField[int] = _RecordField()
    materializer: _RecordField[str] = _RecordField()
    summary: _RecordField[dict[str, Any]] = _RecordField()
    created_at: _RecordField[datetime] = _RecordField()

    def load(self) -> Any:
        """Read the artifact back into a Python object with the materializer that wrote it."""
        uri = self.record.uri
        store = reader_for(uri)
        materializer = registry.by_name(self.record.materializer)
        with store.local_copy(uri) as path:
            return materializer.load(path, None)

    def __repr__(self) -> str:
        return f"<artifact {self.name} {self.type} {self.id[:8]}>"

    def __str__(self) -> str:
        return str(self.record)


class StepRunView:
    """One step of a run: status, timings, inputs and outputs, logs."""

    def __init__(self, record: StepRunRecord, store: MetadataStore) -> None:
        self.record = record
        self._store = store

    id: _RecordField[str] = _RecordField()
    run_id: _RecordField[str] = _RecordField()
    name: _RecordField[str] = _RecordField()
    status: _RecordField[StepStatus] = _RecordField()
    start_time: _RecordField[datetime | None] = _RecordField()
    end_time: _RecordField[datetime | None] = _RecordField()
    parameters: _RecordField[dict[str, Any]] = _RecordField()
    error: _RecordField[str | None] = _RecordField()
    traceback: _RecordField[str | None] = _RecordField()
    cache_key: _RecordField[str | None] = _RecordField()
    cached_from: _RecordField[str | None] = _RecordField()
    attempts: _RecordField[int] = _RecordField()
    duration_s: _RecordField[float | None] = _RecordField()
    #: where it computed: the machine, the worker on it, the resources it asked for (empty for a cache hit)
    host: _RecordField[str | None] = _RecordField()
    worker: _RecordField[str | None] = _RecordField()
    resources: _RecordField[dict[str, Any]] = _RecordField()

    @cached_property
    def cache_source(self) -> StepRunView | None:
        """The step run whose outputs this cache hit reused (``.run_id``, ``.name``); None if not a hit.

        None too when that step run is no longer in the store.
        """
        if not self.record.cached_from:
            return None
        try:
            return StepRunView(self._store.runs.get_step_run(self.record.cached_from), self._store)
        except NotFoundError:
            return None

    @cached_property
    def _artifacts(self) -> dict[str, ArtifactRecord]:
        return self._store.artifacts.get_artifacts([*self.record.inputs.values(), *self.record.outputs.values()])

    @property
    def outputs(self) -> dict[str, ArtifactView]:
        return {k: ArtifactView(self._artifacts[a]) for k, a in self.record.outputs.items()}

    @property
    def inputs(self) -> dict[str, ArtifactView]:
        return {k: ArtifactView(self._artifacts[a]) for k, a in self.record.inputs.items()}

    @property
    def output(self) -> ArtifactView:
        """The single output of a one-output step."""
        outs = self.outputs
        if len(outs) != 1:
            raise KeyError(f"step '{self.name}' has outputs {sorted(outs)}; use .outputs[name]")
        return next(iter(outs.values()))

    def logs(self, limit: int | None = None) -> str:
        """What the step printed and logged ('' if nothing); a cache hit shows the reused run's logs."""
        uri = self.record.logs_uri
        if not uri and self.record.status == "cached" and self.record.cached_from:
            source = StepRunView(self._store.runs.get_step_run(self.record.cached_from), self._store)
            text = source.logs(limit)
            return (f"(cached: these are the logs of step '{source.name}' in run {source.run_id[:8]})\n{text}"
                    if text else "")
        if not uri:
            return ""

        store = reader_for(uri)
        return store.read_text(uri, limit)

    def __repr__(self) -> str:
        return f"<step run {self.name} {self.status}>"

    def __str__(self) -> str:
        return str(self.record)


class RunView:
    """One pipeline run: ``.status``, ``.steps[name]``, timings and parameters."""

    def __init__(self, record: RunRecord, store: MetadataStore) -> None:
        self.record = record
        self._store = store

    id: _RecordField[str] = _RecordField()
    name: _RecordField[str] = _RecordField()
    status: _RecordField[RunStatus] = _RecordField()
    pipeline_name: _RecordField[str] = _RecordField()
    parameters: _RecordField[dict[str, Any]] = _RecordField()
    start_time: _RecordField[datetime] = _RecordField()
    end_time: _RecordField[datetime | None] = _RecordField()
    error: _RecordField[str | None] = _RecordField()
    duration_s: _RecordField[float | None] = _RecordField()
    stack_name: _RecordField[str | None] = _RecordField()

    @cached_property
    def steps(self) -> dict[str, StepRunView]:
        return {s.name: StepRunView(s, self._store) for s in self._store.runs.get_steps(self.id)}

    def refresh(self) -> RunView:
        """A new view with the run's current state."""
        return RunView(self._store.runs.get_run(self.id), self._store)

    def __repr__(self) -> str:
        return f"<run {self.name} {self.status}>"

    def __str__(self) -> str:
        return str(self.record)


class PipelineView:
    """A pipeline known to the store, with its runs."""

    def __init__(self, name: str, store: MetadataStore) -> None:
        self.name = name
        self._store = store

    def runs(self, limit: int = 50) -> list[RunView]:
        return [RunView(r, self._store) for r in self._store.runs.list_runs(pipeline_name=self.name, limit=limit)]

    @property
    def last_run(self) -> RunView | None:
        runs = self._store.runs.list_runs(pipeline_name=self.name, limit=1)
        return RunView(runs[0], self._store) if runs else None

    @property
    def last_successful_run(self) -> RunView | None:
        runs = self._store.runs.list_runs(pipeline_name=self.name, status="completed", limit=1)
        return RunView(runs[0], self._store) if runs else None

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __str__(self) -> str:
        return self.name


__all__ = ["ArtifactView", "PipelineView", "RunView", "StepRunView"]
