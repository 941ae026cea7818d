"""Read-only summaries across runs, steps and artifacts, shaped for overviews.

The dashboard and ``--json`` listings need aggregate figures (how many steps of each run
finished, how long recent runs took) for many runs at once. Each method here answers
with one or two queries, however many runs it covers, and never writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from dosirak.metadata import schema as t
from dosirak.metadata.database import Concept
from dosirak.metadata.timeutil import as_utc


class Overview(Concept):
    """Aggregate reads over runs, step runs and artifacts."""


    def step_status_counts(self, run_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """For each run id, how many of its steps are in each status (one query)."""
        ids = list(run_ids)
        counts: dict[str, dict[str, int]] = {rid: {} for rid in ids}
        if not ids:
            return counts
        query = (
            select(t.step_runs.c.run_id, t.step_runs.c.status, func.count())
            .where(t.step_runs.c.run_id.in_(ids))
            .group_by(t.step_runs.c.run_id, t.step_runs.c.status)
        )
        with self._read() as conn:
            for run_id, status, n in conn.execute(query).all():
                counts[run_id][status] = int(n)
        return counts

    def run_timeline(self, pipeline_name: str, *, limit: int = 200) -> list[tuple[str, str, str, datetime, datetime | None]]:
        """The newest ``limit`` runs of a pipeline as (id, name, status, start, end), oldest first.

        Only the columns a timeline needs are read, so this stays fast for long histories.
        """
        query = (
            select(t.pipeline_runs.c.id, t.pipeline_runs.c.name, t.pipeline_runs.c.status,
                   t.pipeline_runs.c.start_time, t.pipeline_runs.c.end_time)
            .join(t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id)
            .where(t.pipelines.c.name == pipeline_name)
            .order_by(t.pipeline_runs.c.start_time.desc())
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [(r[0], r[1], r[2], as_utc(r[3]), as_utc(r[4])) for r in reversed(rows)]  # type: ignore[misc]

    def store_counts(self) -> dict[str, int]:
        """How many pipelines, runs, step runs and artifacts the store holds."""
        tables = {"pipelines": t.pipelines, "runs": t.pipeline_runs, "step_runs": t.step_runs,
                  "artifacts": t.artifacts}
        with self._read() as conn:
            return {name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                    for name, table in tables.items()}

    def count_artifacts_of_type(self, type_name: str) -> int:
        """How many artifacts have this type (qualified, or its last dotted part)."""
        query = select(func.count()).select_from(t.artifacts).where(t.type_named(t.artifacts.c.type, type_name))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def step_run_names(self, step_run_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each step run id, its (step name, run id)."""
        ids = list(step_run_ids)
        if not ids:
            return {}
        query = select(t.step_runs.c.id, t.step_runs.c.name, t.step_runs.c.run_id).where(t.step_runs.c.id.in_(ids))
        with self._read() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(query).all()}


__all__ = ["Overview"]
