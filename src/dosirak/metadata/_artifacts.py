"""Artifact versions in the metadata store: lookups, listings and lineage links (SQL text on the store's driver).

Artifacts are written with their step (:meth:`dosirak.metadata._runs.Runs.finish_step`).
"""

from __future__ import annotations

from collections.abc import Iterable

from dosirak.errors import NotFoundError
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import in_list, one_by_id_or_prefix
from dosirak.metadata.like import type_named
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
        where, params = type_named("type", type_name) if type_name else ("", {})
        with self.sql.read() as cur:
            ids = [r["id"] for r in cur.execute(
                f"SELECT id FROM artifacts {'WHERE ' + where if where else ''} "
                "ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset", {**params, "limit": limit, "offset": offset})]
            if not ids:
                return []
            in_ids, id_params = in_list("id", ids)
            rows = cur.execute(f"SELECT * FROM artifacts WHERE id IN {in_ids}", id_params)
        by_id = {r["id"]: from_row(ArtifactRecord, r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count_artifacts(self) -> int:
        with self.sql.read() as cur:
            return int(cur.execute("SELECT count(*) AS n FROM artifacts")[0]["n"])

    def artifact_links(self, artifact_id: str) -> list[tuple[str, str, str, str, str]]:
        """Every (kind, link name, step run id, step name, run id) that touches an artifact."""
        with self.sql.read() as cur:
            rows = cur.execute(
                "SELECT step_run_io.kind, step_run_io.name AS link_name, step_runs.id AS step_run_id, "
                "step_runs.name AS step_name, step_runs.run_id FROM step_run_io "
                "JOIN step_runs ON step_runs.id = step_run_io.step_run_id "
                "WHERE step_run_io.artifact_id = :artifact_id ORDER BY step_runs.start_time",
                {"artifact_id": artifact_id})
        return [(r["kind"], r["link_name"], r["step_run_id"], r["step_name"], r["run_id"]) for r in rows]


__all__ = ["Artifacts"]
