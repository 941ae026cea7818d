"""Artifact versions in the metadata store: lookups, listings and lineage links."""

from __future__ import annotations

from sqlalchemy import func, select

from dosirak.metadata import schema as t
from dosirak.metadata.recorder import RunRecorder
from dosirak.metadata.records import ArtifactRecord, from_row


class ArtifactsMixin(RunRecorder):
    """Store reads of artifact versions (written with their step, by ``RunRecorder``)."""


    def list_artifacts(self, *, limit: int = 50, offset: int = 0, type_name: str | None = None) -> list[ArtifactRecord]:
        """Artifacts, newest first, sorting ids only and reading one page of rows."""
        a = t.artifacts.c
        ids_query = select(a.id).order_by(a.created_at.desc(), a.id).limit(limit).offset(offset)
        if type_name:
            ids_query = ids_query.where(t.type_named(a.type, type_name))
        with self._read() as conn:
            ids = [row[0] for row in conn.execute(ids_query).all()]
            if not ids:
                return []
            rows = conn.execute(select(*t.artifacts.c).where(a.id.in_(ids))).all()
        by_id = {row._mapping["id"]: from_row(ArtifactRecord, row._mapping) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count_artifacts(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.artifacts)).scalar_one())

    def artifact_links(self, artifact_id: str) -> list[tuple[str, str, str, str, str]]:
        """Every (kind, link name, step run id, step name, run id) that touches an artifact."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.step_run_io.c.kind, t.step_run_io.c.name, t.step_runs.c.id, t.step_runs.c.name,
                       t.step_runs.c.run_id)
                .join(t.step_runs, t.step_runs.c.id == t.step_run_io.c.step_run_id)
                .where(t.step_run_io.c.artifact_id == artifact_id)
                .order_by(t.step_runs.c.start_time)
            ).all()
        return [tuple(r) for r in rows]


__all__ = ["ArtifactsMixin"]
