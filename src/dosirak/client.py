"""``Client``: read everything dosirak recorded, from any process.

Example::

    from dosirak import Client

    run = Client().get_pipeline("training").last_run
    model = run.steps["trainer"].outputs["output"].load()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dosirak.errors import NotFoundError
from dosirak.metadata.store import get_store
from dosirak.pipelines.views import ArtifactView, PipelineView, RunView

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore
    from dosirak.pipelines.views import ArtifactView, PipelineView, RunView
    from dosirak.statuses import RunStatus


class Client:
    """Runs, pipelines, artifacts and stacks in the metadata store named by the settings."""

    def __init__(self, metadata_url: str | None = None) -> None:
        self.store: MetadataStore = get_store(metadata_url)

    def get_run(self, run_id: str) -> RunView:
        """A run by id or unique id prefix."""
        self.store.runs.reap_abandoned_runs()
        return RunView(self.store.runs.get_run(run_id), self.store)

    def list_runs(self, pipeline: str | None = None, *, status: RunStatus | None = None, limit: int = 50,
                  offset: int = 0, pipeline_name: str | None = None) -> list[RunView]:
        """Runs, newest first; only those of ``pipeline`` when it is given.

        Args:
            pipeline: A pipeline's name, as ``dosirak runs list --pipeline`` takes it
                (``pipeline_name=`` is the same argument under its former name).
            status: Only runs with this status (``completed``, ``failed``, ...).
            limit: At most this many runs.
            offset: Skip this many of the newest runs first.

        Raises:
            NotFoundError: No pipeline of that name has run here (the message lists those that have).
        """
        if pipeline_name is not None:
            if pipeline is not None and pipeline != pipeline_name:
                raise TypeError("list_runs() got both pipeline= and pipeline_name=; pass pipeline= only")
            pipeline = pipeline_name
        if pipeline is not None:
            self._check_pipeline(pipeline)
        self.store.runs.reap_abandoned_runs()
        return [RunView(r, self.store) for r in self.store.runs.list_runs(
            pipeline_name=pipeline, status=status, limit=limit, offset=offset)]

    def _check_pipeline(self, name: str) -> None:
        """NotFoundError naming the known pipelines when no pipeline ``name`` has run here."""
        try:
            self.store.runs.get_pipeline_record(name)
        except NotFoundError:
            known = [p.name for p, _count, _last in self.store.runs.list_pipelines()]
            if not known:
                listed = "no pipeline has run yet (`dosirak run FILE.py:PIPELINE` runs one)"
            elif len(known) > 10:
                listed = f"known pipelines: {', '.join(known[:10])} and {len(known) - 10} more (`dosirak pipeline list`)"
            else:
                listed = f"known pipelines: {', '.join(known)}"
            raise NotFoundError(f"no pipeline named '{name[:100]}'; {listed}") from None

    def get_pipeline(self, name: str) -> PipelineView:
        self._check_pipeline(name)
        return PipelineView(name, self.store)

    def list_pipelines(self) -> list[PipelineView]:
        return [PipelineView(p.name, self.store) for p, _count, _last in self.store.runs.list_pipelines()]

    def get_artifact(self, artifact_id: str) -> ArtifactView:
        return ArtifactView(self.store.artifacts.get_artifact(artifact_id))

    @property
    def active_stack_name(self) -> str:
        return self.store.stacks.active_stack_name()


__all__ = ["Client"]
