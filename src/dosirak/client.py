"""``Client``: read everything dosirak recorded, from any process.

Example::

    from dosirak import Client

    run = Client().get_pipeline("training").last_run
    model = run.steps["trainer"].outputs["output"].load()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dosirak.metadata.store import MetadataStore
    from dosirak.pipelines.views import ArtifactView, PipelineView, RunView
    from dosirak.statuses import RunStatus


class Client:
    """Runs, pipelines, artifacts and stacks in the metadata store named by the settings."""

    def __init__(self, metadata_url: str | None = None) -> None:
        from dosirak.metadata.store import get_store

        self.store: MetadataStore = get_store(metadata_url)

    def get_run(self, run_id: str) -> RunView:
        """A run by id or unique id prefix."""
        from dosirak.pipelines.views import RunView

        self.store.reap_abandoned_runs()
        return RunView(self.store.get_run(run_id), self.store)

    def list_runs(self, pipeline_name: str | None = None, *, status: RunStatus | None = None, limit: int = 50,
                  offset: int = 0) -> list[RunView]:
        """Runs, newest first."""
        from dosirak.pipelines.views import RunView

        self.store.reap_abandoned_runs()
        return [RunView(r, self.store) for r in self.store.list_runs(
            pipeline_name=pipeline_name, status=status, limit=limit, offset=offset)]

    def get_pipeline(self, name: str) -> PipelineView:
        from dosirak.pipelines.views import PipelineView

        self.store.get_pipeline_record(name)
        return PipelineView(name, self.store)

    def list_pipelines(self) -> list[PipelineView]:
        from dosirak.pipelines.views import PipelineView

        return [PipelineView(p.name, self.store) for p, _count, _last in self.store.list_pipelines()]

    def get_artifact(self, artifact_id: str) -> ArtifactView:
        from dosirak.pipelines.views import ArtifactView

        return ArtifactView(self.store.get_artifact(artifact_id))

    @property
    def active_stack_name(self) -> str:
        return self.store.active_stack_name()


__all__ = ["Client"]
