"""Reads of pipelines and runs across the store's history (listings, counts, cache explanations).

What a running pipeline writes and reads itself is in :mod:`dosirak.metadata.recorder`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from dosirak.errors import NotFoundError
from dosirak.metadata import schema as t
from dosirak.metadata.recorder import RunRecorder
from dosirak.metadata.records import PipelineRecord, RunRecord, StepRunRecord, from_row

_RUN_COLUMNS = (*t.pipeline_runs.c, t.pipelines.c.name.label("pipeline_name"))


class RunsMixin(RunRecorder):
    """Store reads of pipelines, runs and step runs over their whole history."""

    def previous_step_run(self, pipeline_name: str, step_name: str, before_run_id: str) -> StepRunRecord | None:
        """The same step in the latest earlier run of the pipeline (to explain a cache miss)."""
        with self._read() as conn:
            row = conn.execute(
                select(*t.step_runs.c)
                .join(t.pipeline_runs, t.pipeline_runs.c.id == t.step_runs.c.run_id)
                .join(t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id)
                .where(t.pipelines.c.name == pipeline_name, t.step_runs.c.name == step_name,
                       t.step_runs.c.run_id != before_run_id, t.step_runs.c.cache_key.is_not(None),
                       t.pipeline_runs.c.start_time
                       <= select(t.pipeline_runs.c.start_time).where(t.pipeline_runs.c.id == before_run_id)
                       .scalar_subquery())
                .order_by(t.pipeline_runs.c.start_time.desc()).limit(1)
            ).first()
        return None if row is None else from_row(StepRunRecord, row._mapping)

    # -- reads ----------------------------------------------------------------------
    def list_pipelines(self) -> list[tuple[PipelineRecord, int, RunRecord | None]]:
        """Every pipeline with its number of runs and its latest run."""
        with self._read() as conn:
            pipes = conn.execute(select(*t.pipelines.c).order_by(t.pipelines.c.name)).all()
            counts: dict[int, int] = dict(conn.execute(
                select(t.pipeline_runs.c.pipeline_id, func.count()).group_by(t.pipeline_runs.c.pipeline_id)
            ).all())
            latest_ids = conn.execute(
                select(t.pipeline_runs.c.pipeline_id, func.max(t.pipeline_runs.c.start_time))
                .group_by(t.pipeline_runs.c.pipeline_id)
            ).all()
            latest: dict[int, RunRecord] = {}
            for pid, start in latest_ids:
                r = conn.execute(self._run_select().where(
                    t.pipeline_runs.c.pipeline_id == pid, t.pipeline_runs.c.start_time == start
                ).limit(1)).first()
                if r is not None:
                    latest[pid] = from_row(RunRecord, r._mapping)
        return [
            (from_row(PipelineRecord, p._mapping), counts.get(p.id, 0),
             latest.get(p.id))
            for p in pipes
        ]

    def get_pipeline_record(self, name: str) -> PipelineRecord:
        with self._read() as conn:
            row = conn.execute(select(*t.pipelines.c).where(t.pipelines.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no pipeline named '{name}'; `dosirak pipeline list` shows the known ones")
        return from_row(PipelineRecord, row._mapping)

    @staticmethod
    def _run_select() -> Any:
        return select(*_RUN_COLUMNS).join(t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id)

    def list_runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, in two steps that stay fast for long histories.

        The sort reads only ids and start times; the full rows (with their DAG and config
        JSON) are read for the ``limit`` runs of the page alone.
        """
        r = t.pipeline_runs.c
        ids_query = select(r.id).order_by(r.start_time.desc(), r.id).limit(limit).offset(offset)
        if pipeline_name is not None:
            ids_query = ids_query.join(t.pipelines, t.pipelines.c.id == r.pipeline_id).where(
                t.pipelines.c.name == pipeline_name)
        if status is not None:
            ids_query = ids_query.where(r.status == status)
        with self._read() as conn:
            ids = [row[0] for row in conn.execute(ids_query).all()]
            if not ids:
                return []
            rows = conn.execute(select(*_RUN_COLUMNS).join(t.pipelines, t.pipelines.c.id == r.pipeline_id)
                                .where(r.id.in_(ids))).all()
        by_id = {row._mapping["id"]: from_row(RunRecord, row._mapping) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count_runs(self, *, pipeline_name: str | None = None, status: str | None = None) -> int:
        query = select(func.count()).select_from(t.pipeline_runs.join(t.pipelines))
        if pipeline_name is not None:
            query = query.where(t.pipelines.c.name == pipeline_name)
        if status is not None:
            query = query.where(t.pipeline_runs.c.status == status)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def step_run_context(self, step_run_id: str) -> tuple[str, str, str]:
        """(pipeline name, run id, step name) of a step run."""
        with self._read() as conn:
            row = conn.execute(
                select(t.pipelines.c.name, t.pipeline_runs.c.id, t.step_runs.c.name)
                .join(t.pipeline_runs, t.pipeline_runs.c.id == t.step_runs.c.run_id)
                .join(t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id)
                .where(t.step_runs.c.id == step_run_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no step run with id '{step_run_id}'")
        return row[0], row[1], row[2]


__all__ = ["RunsMixin"]
