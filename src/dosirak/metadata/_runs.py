"""Pipelines, runs, step runs and artifacts in the metadata store."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from dosirak import process
from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata import schema as t
from dosirak.metadata.database import Database, inserted_id
from dosirak.metadata.records import ArtifactRecord, PipelineRecord, RunRecord, StepRunRecord
from dosirak.metadata.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

#: A run on another host whose heartbeat is older than this is considered abandoned.
HEARTBEAT_STALE_AFTER = timedelta(seconds=90)

RUN_STATUSES = ("running", "completed", "failed")
STEP_STATUSES = ("pending", "running", "completed", "cached", "failed", "skipped")


def _run_from_row(row: Row[Any]) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"], name=m["name"], pipeline_name=m["pipeline_name"], status=m["status"],
        parameters=m["parameters"] or {}, config=m["config"] or {}, dag=m["dag"] or {},
        stack_name=m["stack_name"], orchestrator=m["orchestrator"],
        start_time=as_utc(m["start_time"]),  # type: ignore[arg-type]
        end_time=as_utc(m["end_time"]), hostname=m["hostname"], pid=m["pid"], error=m["error"],
    )


def _artifact_from_row(row: Row[Any]) -> ArtifactRecord:
    m = row._mapping
    return ArtifactRecord(
        id=m["id"], uri=m["uri"], type=m["type"], materializer=m["materializer"],
        materializer_version=m["materializer_version"], content_hash=m["content_hash"], size=m["size"],
        producer_step_run_id=m["producer_step_run_id"], name=m["name"],
        created_at=as_utc(m["created_at"]),  # type: ignore[arg-type]
        summary=m["summary"] or {},
    )


def _step_from_row(row: Row[Any], io: Mapping[str, tuple[dict[str, str], dict[str, str]]] | None = None) -> StepRunRecord:
    m = row._mapping
    inputs, outputs = (io or {}).get(m["id"], ({}, {}))
    return StepRunRecord(
        id=m["id"], run_id=m["run_id"], name=m["name"], step_type=m["step_type"], status=m["status"],
        parameters=m["parameters"] or {}, cache_key=m["cache_key"], cache_parts=m["cache_parts"] or {},
        cache_enabled=bool(m["cache_enabled"]), cached_from=m["cached_from"],
        start_time=as_utc(m["start_time"]), end_time=as_utc(m["end_time"]), attempts=m["attempts"],
        logs_uri=m["logs_uri"], error=m["error"], traceback=m["traceback"], source_code=m["source_code"],
        inputs=inputs, outputs=outputs, extra=m["extra"] or {},
    )


_RUN_COLUMNS = (*t.pipeline_runs.c, t.pipelines.c.name.label("pipeline_name"))

# Statements on the per-step hot path are built once; values travel as parameters.
_INSERT_IO = insert(t.step_run_io)
_INSERT_ARTIFACTS = insert(t.artifacts)
_INSERT_STEPS = insert(t.step_runs)
_INSERT_RUN = insert(t.pipeline_runs)
_UPDATE_STEP = update(t.step_runs).where(t.step_runs.c.id == bindparam("_step_run_id"))
_FIND_CACHED = (
    select(t.step_runs.c.id, t.step_runs.c.cached_from)
    .where(t.step_runs.c.cache_key == bindparam("key"), t.step_runs.c.status.in_(("completed", "cached")))
    .order_by(t.step_runs.c.end_time.desc()).limit(1)
)
_CACHED_OUTPUTS = (
    select(t.step_run_io.c.name.label("link_name"), *t.artifacts.c)
    .join(t.artifacts, t.artifacts.c.id == t.step_run_io.c.artifact_id)
    .where(t.step_run_io.c.step_run_id == bindparam("sid"), t.step_run_io.c.kind == "output")
)
_PIPELINE_ID = select(t.pipelines.c.id).where(t.pipelines.c.name == bindparam("name"))


class RunsMixin(Database):
    """Store operations on pipelines, runs, step runs and artifacts."""


    # -- writes ---------------------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        name: str,
        pipeline_name: str,
        parameters: dict[str, Any],
        config: dict[str, Any],
        dag: dict[str, Any],
        stack_name: str | None,
        orchestrator: str | None,
        steps: Sequence[dict[str, Any]],
    ) -> None:
        """Record a new running run and all its steps as ``pending``, in one transaction."""
        now = utcnow()
        pid = os.getpid()
        with self._write() as conn:
            pipeline_id = self._pipeline_id(conn, pipeline_name, create=True)
            conn.execute(_INSERT_RUN, dict(
                id=run_id, name=name, pipeline_id=pipeline_id, status="running", parameters=parameters,
                config=config, dag=dag, stack_name=stack_name, orchestrator=orchestrator, start_time=now,
                end_time=None, hostname=process.hostname(), pid=pid, pid_start=process.start_time(pid),
                heartbeat_at=now, error=None, extra={},
            ))
            if steps:
                conn.execute(_INSERT_STEPS, [
                    {"id": s["id"], "run_id": run_id, "name": s["name"], "step_type": s["step_type"],
                     "status": "pending", "parameters": s.get("parameters", {}), "cache_parts": {},
                     "cache_enabled": s.get("cache_enabled", True), "attempts": 0, "extra": s.get("extra", {})}
                    for s in steps
                ])

    def _pipeline_id(self, conn: Connection, name: str, *, create: bool = False) -> int:
        row = conn.execute(_PIPELINE_ID, {"name": name}).first()
        if row is not None:
            return int(row[0])
        if not create:
            raise NotFoundError(f"no pipeline named '{name}'; `dosirak pipeline list` shows the known ones")
        result = conn.execute(insert(t.pipelines).values(name=name, created_at=utcnow(), extra={}))
        return inserted_id(result)

    def start_step(
        self,
        step_run_id: str,
        *,
        cache_key: str | None,
        cache_parts: dict[str, Any],
        source_code: str | None,
        inputs: Mapping[str, str],
        logs_uri: str | None = None,
    ) -> None:
        """Mark a step ``running`` and link its input artifacts; its log is readable while it runs."""
        with self._write() as conn:
            conn.execute(_UPDATE_STEP, {
                "_step_run_id": step_run_id, "status": "running", "start_time": utcnow(), "cache_key": cache_key,
                "cache_parts": cache_parts, "source_code": source_code, "logs_uri": logs_uri,
            })
            if inputs:
                conn.execute(_INSERT_IO, [
                    {"step_run_id": step_run_id, "name": name, "kind": "input", "artifact_id": aid}
                    for name, aid in inputs.items()
                ])

    def finish_step(
        self,
        step_run_id: str,
        *,
        status: str,
        new_artifacts: Iterable[ArtifactRecord] = (),
        outputs: Mapping[str, str] | None = None,
        cached_from: str | None = None,
        logs_uri: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
        attempts: int = 1,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Publish a step's outcome: its new artifacts, output links and status, atomically."""
        if status not in STEP_STATUSES:
            raise StoreError(f"invalid step status '{status}'")
        rows = [
            {"id": a.id, "uri": a.uri, "type": a.type, "materializer": a.materializer,
             "materializer_version": a.materializer_version, "content_hash": a.content_hash,
             "size": a.size, "producer_step_run_id": a.producer_step_run_id, "name": a.name,
             "created_at": a.created_at, "summary": a.summary, "extra": {}}
            for a in new_artifacts
        ]
        values: dict[str, Any] = {
            "status": status, "end_time": utcnow(), "cached_from": cached_from, "logs_uri": logs_uri,
            "error": error, "traceback": traceback, "attempts": attempts,
        }
        if extra is not None:
            values["extra"] = extra
        with self._write() as conn:
            if rows:
                conn.execute(_INSERT_ARTIFACTS, rows)
            if outputs:
                conn.execute(_INSERT_IO, [
                    {"step_run_id": step_run_id, "name": name, "kind": "output", "artifact_id": aid}
                    for name, aid in outputs.items()
                ])
            conn.execute(_UPDATE_STEP, {"_step_run_id": step_run_id, **values})

    def set_step_extra(self, step_run_id: str, extra: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(update(t.step_runs).where(t.step_runs.c.id == step_run_id).values(extra=extra))

    def skip_steps(self, run_id: str, names: Iterable[str], reason: str) -> None:
        """Mark steps that have not finished as ``skipped``; a finished step keeps its status."""
        names = list(names)
        if not names:
            return
        with self._write() as conn:
            conn.execute(update(t.step_runs).where(
                t.step_runs.c.run_id == run_id, t.step_runs.c.name.in_(names),
                t.step_runs.c.status.in_(("pending", "running")),
            ).values(status="skipped", error=reason, end_time=utcnow()))

    def finish_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise StoreError(f"invalid run status '{status}'")
        with self._write() as conn:
            conn.execute(update(t.pipeline_runs).where(t.pipeline_runs.c.id == run_id).values(
                status=status, end_time=utcnow(), error=error,
            ))

    def heartbeat(self, run_id: str) -> None:
        with self._write() as conn:
            conn.execute(update(t.pipeline_runs).where(
                t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running"
            ).values(heartbeat_at=utcnow()))

    def reap_abandoned_runs(self) -> list[str]:
        """Mark runs whose process died as ``failed`` (PID check here, heartbeat elsewhere)."""
        me = process.hostname()
        now = utcnow()
        with self._read() as conn:
            rows = conn.execute(select(
                t.pipeline_runs.c.id, t.pipeline_runs.c.hostname, t.pipeline_runs.c.pid,
                t.pipeline_runs.c.pid_start, t.pipeline_runs.c.heartbeat_at,
            ).where(t.pipeline_runs.c.status == "running")).all()
        dead: list[str] = []
        for run_id, host, pid, pid_start, beat in rows:
            if host == me:
                if not process.is_alive(pid, pid_start):
                    dead.append(run_id)
            elif beat is None or now - as_utc(beat) > HEARTBEAT_STALE_AFTER:  # type: ignore[operator]
                dead.append(run_id)
        if not dead:
            return []
        reason = "the process running this pipeline ended without finishing it (killed or crashed)"
        with self._write() as conn:
            conn.execute(update(t.pipeline_runs).where(
                t.pipeline_runs.c.id.in_(dead), t.pipeline_runs.c.status == "running"
            ).values(status="failed", end_time=now, error=reason))
            conn.execute(update(t.step_runs).where(
                t.step_runs.c.run_id.in_(dead), t.step_runs.c.status == "running"
            ).values(status="failed", end_time=now, error=reason))
            conn.execute(update(t.step_runs).where(
                t.step_runs.c.run_id.in_(dead), t.step_runs.c.status == "pending"
            ).values(status="skipped", end_time=now, error=reason))
        for run_id in dead:
            log.warning("run %s was abandoned by its process; marked it failed", run_id)
        return dead

    # -- cache ----------------------------------------------------------------------
    def reuse_cached(
        self,
        step_run_id: str,
        *,
        cache_key: str,
        cache_parts: dict[str, Any],
        source_code: str | None,
        inputs: Mapping[str, str],
        usable: Callable[[dict[str, ArtifactRecord]], bool],
    ) -> tuple[str, dict[str, ArtifactRecord]] | None:
        """Find a finished step run with ``cache_key`` and, if ``usable`` accepts its outputs,
        record ``step_run_id`` as a hit re-linking them; all in one transaction.

        Returns (source step run id, outputs) on a hit, None on a miss (nothing written).
        """
        with self._write() as conn:
            row = conn.execute(_FIND_CACHED, {"key": cache_key}).first()
            if row is None:
                return None
            outputs = {r._mapping["link_name"]: _artifact_from_row(r)
                       for r in conn.execute(_CACHED_OUTPUTS, {"sid": row[0]}).all()}
            if not usable(outputs):
                return None
            source = row[1] or row[0]
            now = utcnow()
            links = [{"step_run_id": step_run_id, "name": n, "kind": "input", "artifact_id": a} for n, a in inputs.items()]
            links += [{"step_run_id": step_run_id, "name": n, "kind": "output", "artifact_id": a.id}
                      for n, a in outputs.items()]
            if links:
                conn.execute(_INSERT_IO, links)
            conn.execute(_UPDATE_STEP, {
                "_step_run_id": step_run_id, "status": "cached", "start_time": now, "end_time": now,
                "cache_key": cache_key, "cache_parts": cache_parts, "source_code": source_code,
                "cached_from": source, "attempts": 0,
            })
        return source, outputs

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
        return None if row is None else _step_from_row(row)

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
                    latest[pid] = _run_from_row(r)
        return [
            (PipelineRecord(id=p.id, name=p.name, created_at=as_utc(p.created_at)), counts.get(p.id, 0),  # type: ignore[arg-type]
             latest.get(p.id))
            for p in pipes
        ]

    def get_pipeline_record(self, name: str) -> PipelineRecord:
        with self._read() as conn:
            row = conn.execute(select(*t.pipelines.c).where(t.pipelines.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no pipeline named '{name}'; `dosirak pipeline list` shows the known ones")
        return PipelineRecord(id=row.id, name=row.name, created_at=as_utc(row.created_at))  # type: ignore[arg-type]

    @staticmethod
    def _run_select() -> Any:
        return select(*_RUN_COLUMNS).join(t.pipelines, t.pipelines.c.id == t.pipeline_runs.c.pipeline_id)

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id or unambiguous id prefix (at least 4 characters)."""
        with self._read() as conn:
            row = conn.execute(self._run_select().where(t.pipeline_runs.c.id == run_id)).first()
            if row is None and len(run_id) >= 4:
                rows = conn.execute(self._run_select().where(t.id_startswith(t.pipeline_runs.c.id, run_id)).limit(2)).all()
                if len(rows) > 1:
                    raise NotFoundError(f"run id prefix '{run_id}' is ambiguous; give more characters")
                row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(f"no run with id '{run_id}'; `dosirak runs list` shows the known runs")
        return _run_from_row(row)

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
        by_id = {row._mapping["id"]: _run_from_row(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count_runs(self, *, pipeline_name: str | None = None, status: str | None = None) -> int:
        query = select(func.count()).select_from(t.pipeline_runs.join(t.pipelines))
        if pipeline_name is not None:
            query = query.where(t.pipelines.c.name == pipeline_name)
        if status is not None:
            query = query.where(t.pipeline_runs.c.status == status)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def get_steps(self, run_id: str) -> list[StepRunRecord]:
        """A run's steps in the order they were defined, each with its input/output links."""
        with self._read() as conn:
            rows = conn.execute(select(*t.step_runs.c).where(t.step_runs.c.run_id == run_id)).all()
            io = self._io_for(conn, [r.id for r in rows])
        order = {name: i for i, name in enumerate(self._dag_order(run_id))}
        steps = [_step_from_row(r, io) for r in rows]
        steps.sort(key=lambda s: order.get(s.name, len(order)))
        return steps

    def _dag_order(self, run_id: str) -> list[str]:
        with self._read() as conn:
            dag = conn.execute(select(t.pipeline_runs.c.dag).where(t.pipeline_runs.c.id == run_id)).scalar()
        return [n["name"] for n in (dag or {}).get("steps", [])]

    @staticmethod
    def _io_for(conn: Connection, step_ids: list[str]) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        io: dict[str, tuple[dict[str, str], dict[str, str]]] = {sid: ({}, {}) for sid in step_ids}
        if not step_ids:
            return io
        for sid, name, kind, aid in conn.execute(
            select(t.step_run_io.c.step_run_id, t.step_run_io.c.name, t.step_run_io.c.kind,
                   t.step_run_io.c.artifact_id).where(t.step_run_io.c.step_run_id.in_(step_ids))
        ).all():
            io[sid][0 if kind == "input" else 1][name] = aid
        return io

    def get_step_run(self, step_run_id: str) -> StepRunRecord:
        with self._read() as conn:
            row = conn.execute(select(*t.step_runs.c).where(t.step_runs.c.id == step_run_id)).first()
            if row is None and len(step_run_id) >= 4:
                rows = conn.execute(select(*t.step_runs.c).where(t.id_startswith(t.step_runs.c.id, step_run_id)).limit(2)).all()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                raise NotFoundError(f"no step run with id '{step_run_id}'")
            io = self._io_for(conn, [row.id])
        return _step_from_row(row, io)

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
