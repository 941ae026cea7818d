"""Read views of runs, step runs and artifacts, as ``Client`` and a finished pipeline return them."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dosirak.artifacts.materializers import registry
from dosirak.artifacts.store import store_for_uri
from dosirak.errors import NotFoundError
from dosirak.metadata.records import ArtifactRecord, RunRecord, StepRunRecord

if TYPE_CHECKING:
    from dosirak.metadata.recorder import RunRecorder
    from dosirak.metadata.store import MetadataStore
    from dosirak.statuses import RunStatus, StepStatus


class ArtifactView:
    """One artifact version: where it is, what it is, and ``.load()`` to get the object back."""

    def __init__(self, record: ArtifactRecord) -> None:
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def uri(self) -> str:
        return self.record.uri

    @property
    def content_hash(self) -> str:
        return self.record.content_hash

    @property
    def type(self) -> str:
        return self.record.type

    @property
    def size(self) -> int:
        return self.record.size

    @property
    def materializer(self) -> str:
        return self.record.materializer

    @property
    def summary(self) -> dict[str, Any]:
        return self.record.summary

    @property
    def created_at(self) -> datetime:
        return self.record.created_at

    def load(self) -> Any:
        """Read the artifact back into a Python object with the materializer that wrote it."""
        uri = self.record.uri
        store = store_for_uri(uri)
        materializer = registry.by_name(self.record.materializer)
        with store.local_copy(uri) as path:
            return materializer.load(path, None)

    def __repr__(self) -> str:
        return f"<artifact {self.name} {self.type} {self.id[:8]}>"

    def __str__(self) -> str:
        return str(self.record)


class StepRunView:
    """One step of a run: status, timings, inputs and outputs, logs."""

    def __init__(self, record: StepRunRecord, store: RunRecorder) -> None:
        self.record = record
        self._store = store

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> StepStatus:
        return self.record.status

    @property
    def start_time(self) -> datetime | None:
        return self.record.start_time

    @property
    def end_time(self) -> datetime | None:
        return self.record.end_time

    @property
    def parameters(self) -> dict[str, Any]:
        return self.record.parameters

    @property
    def error(self) -> str | None:
        return self.record.error

    @property
    def traceback(self) -> str | None:
        return self.record.traceback

    @property
    def cache_key(self) -> str | None:
        return self.record.cache_key

    @property
    def cached_from(self) -> str | None:
        return self.record.cached_from

    @property
    def attempts(self) -> int:
        return self.record.attempts

    @property
    def duration_s(self) -> float | None:
        return self.record.duration_s

    @cached_property
    def cache_source(self) -> StepRunView | None:
        """The step run whose outputs this cache hit reused (``.run_id``, ``.name``); None if not a hit.

        None too when that step run is no longer in the store.
        """
        if not self.record.cached_from:
            return None
        try:
            return StepRunView(self._store.get_step_run(self.record.cached_from), self._store)
        except NotFoundError:
            return None

    @cached_property
    def _artifacts(self) -> dict[str, ArtifactRecord]:
        return self._store.get_artifacts([*self.record.inputs.values(), *self.record.outputs.values()])

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
            source = StepRunView(self._store.get_step_run(self.record.cached_from), self._store)
            text = source.logs(limit)
            return (f"(cached: these are the logs of step '{source.name}' in run {source.run_id[:8]})\n{text}"
                    if text else "")
        if not uri:
            return ""

        store = store_for_uri(uri)
        return store.read_text(uri, limit)

    def __repr__(self) -> str:
        return f"<step run {self.name} {self.status}>"

    def __str__(self) -> str:
        return str(self.record)


class RunView:
    """One pipeline run: ``.status``, ``.steps[name]``, timings and parameters."""

    def __init__(self, record: RunRecord, store: RunRecorder) -> None:
        self.record = record
        self._store = store

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> RunStatus:
        return self.record.status

    @property
    def pipeline_name(self) -> str:
        return self.record.pipeline_name

    @property
    def parameters(self) -> dict[str, Any]:
        return self.record.parameters

    @property
    def start_time(self) -> datetime:
        return self.record.start_time

    @property
    def end_time(self) -> datetime | None:
        return self.record.end_time

    @property
    def error(self) -> str | None:
        return self.record.error

    @property
    def duration_s(self) -> float | None:
        return self.record.duration_s

    @property
    def stack_name(self) -> str | None:
        return self.record.stack_name

    @cached_property
    def steps(self) -> dict[str, StepRunView]:
        return {s.name: StepRunView(s, self._store) for s in self._store.get_steps(self.id)}

    def refresh(self) -> RunView:
        """A new view with the run's current state."""
        return RunView(self._store.get_run(self.id), self._store)

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
        return [RunView(r, self._store) for r in self._store.list_runs(pipeline_name=self.name, limit=limit)]

    @property
    def last_run(self) -> RunView | None:
        runs = self._store.list_runs(pipeline_name=self.name, limit=1)
        return RunView(runs[0], self._store) if runs else None

    @property
    def last_successful_run(self) -> RunView | None:
        runs = self._store.list_runs(pipeline_name=self.name, status="completed", limit=1)
        return RunView(runs[0], self._store) if runs else None

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __str__(self) -> str:
        return self.name


__all__ = ["ArtifactView", "PipelineView", "RunView", "StepRunView"]
