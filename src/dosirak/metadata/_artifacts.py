"""Artifact versions in the metadata store: lookups (SQL text, for runs), listings and lineage links.

Artifacts are written with their step (:meth:`dosirak.metadata._runs.Runs.finish_step`).
"""

from __future__ import annotations

from collections.abc import Iterable

from dosirak.errors import NotFoundError
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import in_list, one_by_id_or_prefix
from dosirak.metadata.records import ArtifactRecord, from_row


class Artifacts(Concept):
    """Reads of artifact versions."""

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """An artifact version by id or unambiguous id prefix."""
        with self.sql.read() as cur:
            row = one_by_id_or_prefix(cur, "SELECT * FROM artifacts", "id", artifact_id, "artifact")
        if row is None:
            raise NotFoundError(f"no artifact with id '{artifact_id}'; `dosirak artifact list` shows them")
        return from_row(ArtifactRecord, row)

    def get_artifacts(self, ids: Iterable[str]) -> dict[str, ArtifactRecord]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        in_ids, params = in_list("id", ids)
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT * FROM artifacts WHERE id IN {in_ids}", params)
        return {r["id"]: from_row(ArtifactRecord, r) for r in rows}

    def list_artifacts(self, *, limit: int = 50, offset: int = 0, type_name: str | None = None) -> list[ArtifactRecord]:
        """Artifacts, newest first, sorting ids only and reading one page of rows."""
        from sqlalchemy import select

        from dosirak.metadata import schema as t

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
        from sqlalchemy import func, select

        from dosirak.metadata import schema as t

        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.artifacts)).scalar_one())

    def artifact_links(self, artifact_id: str) -> list[tuple[str, str, str, str, str]]:
        """Every (kind, link name, step run id, step name, run id) that touches an artifact."""
        from sqlalchemy import select

        from dosirak.metadata import schema as t

        with self._read() as conn:
            rows = conn.execute(
                select(t.step_run_io.c.kind, t.step_run_io.c.name, t.step_runs.c.id, t.step_runs.c.name,
                       t.step_runs.c.run_id)
                .join(t.step_runs, t.step_runs.c.id == t.step_run_io.c.step_run_id)
                .where(t.step_run_io.c.artifact_id == artifact_id)
                .order_by(t.step_runs.c.start_time)
            ).all()
        return [tuple(r) for r in rows]


__all__ = ["Artifacts"]
