"""Pipelines, runs and step runs in the metadata store: what a run records, and its history.

What a running pipeline records and reads (a run, its steps, their outcomes, cache hits)
and the listings over the whole history are SQL text on the store's driver
(:mod:`dosirak.metadata.driver`), so a pipeline on the default SQLite store never imports
SQLAlchemy.

Example::

    store = get_store()
    run = store.runs.get_run("3f2a")   # a RunRecord (id prefixes work)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from dosirak import process
from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, in_list, one_by_id_or_prefix
from dosirak.metadata.records import ArtifactRecord, PipelineRecord, RunRecord, StepRunRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.statuses import RUN_STATUSES, STEP_STATUSES, RunStatus, StepStatus

log = logging.getLogger(__name__)

#: A run on another host whose heartbeat is older than this is considered abandoned.
HEARTBEAT_STALE_AFTER = timedelta(seconds=90)

StepIO = Mapping[str, tuple[dict[str, str], dict[str, str]]]


def _step(m: Mapping[str, Any], io: StepIO) -> StepRunRecord:
    inputs, outputs = io.get(m["id"], ({}, {}))
    return from_row(StepRunRecord, m, inputs=inputs, outputs=outputs)


_INSERT_RUN = tables.PIPELINE_RUNS.insert_sql()
_INSERT_STEP = tables.STEP_RUNS.insert_sql()
_INSERT_ARTIFACT = tables.ARTIFACTS.insert_sql()
_INSERT_IO = tables.STEP_RUN_IO.insert_sql()
_SELECT_RUN = ("SELECT pipeline_runs.*, pipelines.name AS pipeline_name FROM pipeline_runs "
               "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id ")
_FIND_CACHED = ("SELECT id, cached_from FROM step_runs WHERE cache_key = :key AND status IN ('completed', 'cached') "
                "ORDER BY end_time DESC LIMIT 1")
_CACHED_OUTPUTS = ("SELECT step_run_io.name AS link_name, artifacts.* FROM step_run_io "
                   "JOIN artifacts ON artifacts.id = step_run_io.artifact_id "
                   "WHERE step_run_io.step_run_id = :sid AND step_run_io.kind = 'output'")


def _update_step(cur: Cursor, step_run_id: str, values: Mapping[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    cur.execute(f"UPDATE step_runs SET {sets} WHERE id = :_step_run_id", {**values, "_step_run_id": step_run_id})


def _fit(column: str, name: str | None) -> str | None:
    """``name`` cut to what the step_runs ``column`` holds (a host or worker name comes from elsewhere)."""
    length = tables.STEP_RUNS.column(column).length
    return name if name is None or length is None else name[:length]


def _links(step_run_id: str, kind: str, links: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"step_run_id": step_run_id, "name": n, "kind": kind, "artifact_id": a} for n, a in links.items()]



class Runs(Concept):
    """Pipelines, runs and step runs: what a run records, and reads of their history."""

    # -- runs and steps ---------------------------------------------------------------
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
        with self.sql.write() as cur:
            pipeline_id = self._pipeline_id(cur, pipeline_name, create=True)
            cur.execute(_INSERT_RUN, tables.PIPELINE_RUNS.row(dict(
                id=run_id, name=name, pipeline_id=pipeline_id, status="running", parameters=parameters,
                config=config, dag=dag, stack_name=stack_name, orchestrator=orchestrator, start_time=now,
                end_time=None, hostname=process.hostname(), pid=pid, pid_start=process.start_time(pid),
                heartbeat_at=now,
            )))
            if steps:
                cur.executemany(_INSERT_STEP, [tables.STEP_RUNS.row(
                    {"id": s["id"], "run_id": run_id, "name": s["name"], "step_type": s["step_type"],
                     "status": "pending", "parameters": s.get("parameters", {}),
                     "cache_enabled": s.get("cache_enabled", True), "extra": s.get("extra", {})})
                    for s in steps
                ])

    @staticmethod
    def _pipeline_id(cur: Cursor, name: str, *, create: bool = False) -> int:
        rows = cur.execute("SELECT id FROM pipelines WHERE name = :name", {"name": name})
        if rows:
            return int(rows[0]["id"])
        if not create:
            raise NotFoundError(f"no pipeline named '{name}'; `dosirak pipeline list` shows the known ones")
        rows = cur.execute("INSERT INTO pipelines (name, created_at, extra) VALUES (:name, :created_at, :extra) "
                           "RETURNING id", {"name": name, "created_at": utcnow(), "extra": {}})
        return int(rows[0]["id"])

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
        with self.sql.write() as cur:
            _update_step(cur, step_run_id, {
                "status": "running", "start_time": utcnow(), "cache_key": cache_key, "cache_parts": cache_parts,
                "source_code": source_code, "logs_uri": logs_uri,
            })
            if inputs:
                cur.executemany(_INSERT_IO, _links(step_run_id, "input", inputs))

    def finish_step(
        self,
        step_run_id: str,
        *,
        status: StepStatus,
        new_artifacts: Iterable[ArtifactRecord] = (),
        outputs: Mapping[str, str] | None = None,
        cached_from: str | None = None,
        logs_uri: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
        attempts: int = 1,
        extra: dict[str, Any] | None = None,
        host: str | None = None,
        worker: str | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> None:
        """Publish a step's outcome: its new artifacts, output links and status, atomically.

        ``host``, ``worker`` and ``resources`` say where it computed (the machine, the worker
        on it, what it asked for); names longer than the columns hold are cut to fit.
        """
        if status not in STEP_STATUSES:
            raise StoreError(f"invalid step status '{status}'")
        rows = [
            tables.ARTIFACTS.row({"id": a.id, "uri": a.uri, "type": a.type, "materializer": a.materializer,
                             "materializer_version": a.materializer_version, "content_hash": a.content_hash,
                             "size": a.size, "producer_step_run_id": a.producer_step_run_id, "name": a.name,
                             "created_at": a.created_at, "summary": a.summary})
            for a in new_artifacts
        ]
        values: dict[str, Any] = {
            "status": status, "end_time": utcnow(), "cached_from": cached_from, "logs_uri": logs_uri,
            "error": error, "traceback": traceback, "attempts": attempts,
            "host": _fit("host", host), "worker": _fit("worker", worker), "resources": dict(resources or {}),
        }
        if extra is not None:
            values["extra"] = extra
        with self.sql.write() as cur:
            if rows:
                cur.executemany(_INSERT_ARTIFACT, rows)
            if outputs:
                cur.executemany(_INSERT_IO, _links(step_run_id, "output", outputs))
            _update_step(cur, step_run_id, values)

    def set_step_extra(self, step_run_id: str, extra: dict[str, Any]) -> None:
        with self.sql.write() as cur:
            _update_step(cur, step_run_id, {"extra": extra})

    def skip_steps(self, run_id: str, names: Iterable[str], reason: str) -> None:
        """Mark steps that have not finished as ``skipped``; a finished step keeps its status."""
        names = list(names)
        if not names:
            return
        in_names, params = in_list("name", names)
        with self.sql.write() as cur:
            cur.execute(
                f"UPDATE step_runs SET status = 'skipped', error = :error, end_time = :end_time "
                f"WHERE run_id = :run_id AND name IN {in_names} AND status IN ('pending', 'running')",
                {**params, "error": reason, "end_time": utcnow(), "run_id": run_id})

    def finish_run(self, run_id: str, *, status: RunStatus, error: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise StoreError(f"invalid run status '{status}'")
        with self.sql.write() as cur:
            cur.execute("UPDATE pipeline_runs SET status = :status, end_time = :end_time, error = :error "
                        "WHERE id = :id", {"status": status, "end_time": utcnow(), "error": error, "id": run_id})

    def cancel_run(self, run_id: str, *, error: str, skipped_because: str) -> None:
        """Close a run the user cancelled, in one transaction.

        The run and its running steps become ``cancelled`` (with ``error``), its pending
        steps ``skipped`` (with ``skipped_because``); finished steps keep their status.
        """
        now = utcnow()
        with self.sql.write() as cur:
            for old, new, reason in (("running", "cancelled", error), ("pending", "skipped", skipped_because)):
                cur.execute(f"UPDATE step_runs SET status = '{new}', error = :error, end_time = :end_time "
                            f"WHERE run_id = :run_id AND status = '{old}'",
                            {"error": reason, "end_time": now, "run_id": run_id})
            cur.execute("UPDATE pipeline_runs SET status = 'cancelled', end_time = :end_time, error = :error "
                        "WHERE id = :id", {"end_time": now, "error": error, "id": run_id})

    def heartbeat(self, run_id: str) -> None:
        with self.sql.write() as cur:
            cur.execute("UPDATE pipeline_runs SET heartbeat_at = :heartbeat_at WHERE id = :id AND status = 'running'",
                        {"heartbeat_at": utcnow(), "id": run_id})

    def reap_abandoned_runs(self) -> list[str]:
        """Mark runs whose process died as ``failed`` (PID check here, heartbeat elsewhere)."""
        me = process.hostname()
        now = utcnow()
        with self.sql.read() as cur:
            rows = cur.execute("SELECT id, hostname, pid, pid_start, heartbeat_at FROM pipeline_runs "
                               "WHERE status = 'running'")
        dead: list[str] = []
        for row in rows:
            if row["hostname"] == me:
                if not process.is_alive(row["pid"], row["pid_start"]):
                    dead.append(row["id"])
            elif row["heartbeat_at"] is None or now - row["heartbeat_at"] > HEARTBEAT_STALE_AFTER:
                dead.append(row["id"])
        if not dead:
            return []
        reason = "the process running this pipeline ended without finishing it (killed or crashed)"
        in_dead, params = in_list("run", dead)
        params.update(end_time=now, error=reason)
        with self.sql.write() as cur:
            cur.execute(f"UPDATE pipeline_runs SET status = 'failed', end_time = :end_time, error = :error "
                        f"WHERE id IN {in_dead} AND status = 'running'", params)
            for old, new in (("running", "failed"), ("pending", "skipped")):
                cur.execute(f"UPDATE step_runs SET status = '{new}', end_time = :end_time, error = :error "
                            f"WHERE run_id IN {in_dead} AND status = '{old}'", params)
        for run_id in dead:
            log.warning("run %s was abandoned by its process; marked it failed", run_id)
        return dead

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
        with self.sql.write() as cur:
            found = cur.execute(_FIND_CACHED, {"key": cache_key})
            if not found:
                return None
            hit = found[0]
            outputs = {r["link_name"]: from_row(ArtifactRecord, r) for r in cur.execute(_CACHED_OUTPUTS, {"sid": hit["id"]})}
            if not usable(outputs):
                return None
            source = hit["cached_from"] or hit["id"]
            now = utcnow()
            links = _links(step_run_id, "input", inputs) + _links(
                step_run_id, "output", {n: a.id for n, a in outputs.items()})
            if links:
                cur.executemany(_INSERT_IO, links)
            _update_step(cur, step_run_id, {
                "status": "cached", "start_time": now, "end_time": now, "cache_key": cache_key,
                "cache_parts": cache_parts, "source_code": source_code, "cached_from": source, "attempts": 0,
            })
        return source, outputs

    # -- reads a run view needs --------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord:
        """A run by id or unambiguous id prefix (at least 4 characters)."""
        with self.sql.read() as cur:
            row = one_by_id_or_prefix(cur, _SELECT_RUN, "pipeline_runs.id", run_id, "run")
        if row is None:
            raise NotFoundError(f"no run with id '{run_id}'; `dosirak runs list` shows the known runs")
        return from_row(RunRecord, row)

    def get_steps(self, run_id: str) -> list[StepRunRecord]:
        """A run's steps in the order they were defined, each with its input/output links."""
        with self.sql.read() as cur:
            rows = cur.execute("SELECT * FROM step_runs WHERE run_id = :run_id", {"run_id": run_id})
            io = self._io_for(cur, [r["id"] for r in rows])
            dags = cur.execute("SELECT dag FROM pipeline_runs WHERE id = :id", {"id": run_id})
        dag = dags[0]["dag"] if dags else None
        order = {n["name"]: i for i, n in enumerate((dag or {}).get("steps", []))}
        steps = [_step(r, io) for r in rows]
        steps.sort(key=lambda s: order.get(s.name, len(order)))
        return steps

    @staticmethod
    def _io_for(cur: Cursor, step_ids: list[str]) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        io: dict[str, tuple[dict[str, str], dict[str, str]]] = {sid: ({}, {}) for sid in step_ids}
        if not step_ids:
            return io
        in_ids, params = in_list("sid", step_ids)
        for r in cur.execute(f"SELECT step_run_id, name, kind, artifact_id FROM step_run_io "
                             f"WHERE step_run_id IN {in_ids}", params):
            io[r["step_run_id"]][0 if r["kind"] == "input" else 1][r["name"]] = r["artifact_id"]
        return io

    def get_step_run(self, step_run_id: str) -> StepRunRecord:
        with self.sql.read() as cur:
            row = one_by_id_or_prefix(cur, "SELECT * FROM step_runs", "id", step_run_id, "step run")
            if row is None:
                raise NotFoundError(f"no step run with id '{step_run_id}'")
            io = self._io_for(cur, [row["id"]])
        return _step(row, io)

    def previous_step_run(self, pipeline_name: str, step_name: str, before_run_id: str) -> StepRunRecord | None:
        """The same step in the latest earlier run of the pipeline (to explain a cache miss)."""
        with self.sql.read() as cur:
            rows = cur.execute(
                "SELECT step_runs.* FROM step_runs JOIN pipeline_runs ON pipeline_runs.id = step_runs.run_id "
                "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id "
                "WHERE pipelines.name = :pipeline_name AND step_runs.name = :step_name "
                "AND step_runs.run_id != :before_run_id AND step_runs.cache_key IS NOT NULL "
                "AND pipeline_runs.start_time <= (SELECT given.start_time FROM pipeline_runs given "
                "WHERE given.id = :before_run_id) "
                "ORDER BY pipeline_runs.start_time DESC LIMIT 1",
                {"pipeline_name": pipeline_name, "step_name": step_name, "before_run_id": before_run_id})
        return from_row(StepRunRecord, rows[0]) if rows else None

    # -- reads over the whole history ------------------------------------------------
    def list_pipelines(self) -> list[tuple[PipelineRecord, int, RunRecord | None]]:
        """Every pipeline with its number of runs and its latest run."""
        with self.sql.read() as cur:
            pipes = cur.execute("SELECT * FROM pipelines ORDER BY name")
            counts = {r["pipeline_id"]: int(r["n"]) for r in cur.execute(
                "SELECT pipeline_id, count(*) AS n FROM pipeline_runs GROUP BY pipeline_id")}
            latest: dict[int, RunRecord] = {}
            # each pipeline's newest start time (grouped on the (pipeline_id, start_time) index), then its run
            for r in cur.execute(
                _SELECT_RUN + "JOIN (SELECT pipeline_id, max(start_time) AS newest FROM pipeline_runs "
                "GROUP BY pipeline_id) latest ON latest.pipeline_id = pipeline_runs.pipeline_id "
                "AND pipeline_runs.start_time = latest.newest ORDER BY pipeline_runs.id"
            ):
                latest.setdefault(r["pipeline_id"], from_row(RunRecord, r))  # one run per pipeline, even on a tie
        return [(from_row(PipelineRecord, p), counts.get(p["id"], 0), latest.get(p["id"])) for p in pipes]

    def get_pipeline_record(self, name: str) -> PipelineRecord:
        with self.sql.read() as cur:
            rows = cur.execute("SELECT * FROM pipelines WHERE name = :name", {"name": name})
        if not rows:
            raise NotFoundError(f"no pipeline named '{name}'; `dosirak pipeline list` shows the known ones")
        return from_row(PipelineRecord, rows[0])

    @staticmethod
    def _run_filters(pipeline_name: str | None, status: RunStatus | None) -> tuple[str, dict[str, Any]]:
        """``WHERE ...`` (or nothing) on ``pipeline_runs`` joined with ``pipelines``, and its parameters."""
        given = {"pipelines.name = :pipeline_name": pipeline_name, "pipeline_runs.status = :status": status}
        where = [condition for condition, value in given.items() if value is not None]
        params = {"pipeline_name": pipeline_name, "status": status}
        return ("WHERE " + " AND ".join(where) + " " if where else ""), {
            k: v for k, v in params.items() if v is not None}

    def list_runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, in two steps that stay fast for long histories.

        The sort reads only ids and start times; the full rows (with their DAG and config
        JSON) are read for the ``limit`` runs of the page alone.
        """
        where, params = self._run_filters(pipeline_name, status)
        join = "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id " if pipeline_name is not None else ""
        with self.sql.read() as cur:
            ids = [r["id"] for r in cur.execute(
                f"SELECT pipeline_runs.id FROM pipeline_runs {join}{where}"
                "ORDER BY pipeline_runs.start_time DESC, pipeline_runs.id LIMIT :limit OFFSET :offset",
                {**params, "limit": limit, "offset": offset})]
            if not ids:
                return []
            in_ids, id_params = in_list("run", ids)
            rows = cur.execute(_SELECT_RUN + f"WHERE pipeline_runs.id IN {in_ids}", id_params)
        by_id = {r["id"]: from_row(RunRecord, r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def count_runs(self, *, pipeline_name: str | None = None, status: RunStatus | None = None) -> int:
        where, params = self._run_filters(pipeline_name, status)
        with self.sql.read() as cur:
            rows = cur.execute("SELECT count(*) AS n FROM pipeline_runs "
                               f"JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id {where}", params)
        return int(rows[0]["n"])

    def step_run_context(self, step_run_id: str) -> tuple[str, str, str]:
        """(pipeline name, run id, step name) of a step run."""
        with self.sql.read() as cur:
            rows = cur.execute(
                "SELECT pipelines.name AS pipeline_name, pipeline_runs.id AS run_id, step_runs.name AS step_name "
                "FROM step_runs JOIN pipeline_runs ON pipeline_runs.id = step_runs.run_id "
                "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id WHERE step_runs.id = :id",
                {"id": step_run_id})
        if not rows:
            raise NotFoundError(f"no step run with id '{step_run_id}'")
        return rows[0]["pipeline_name"], rows[0]["run_id"], rows[0]["step_name"]


__all__ = ["HEARTBEAT_STALE_AFTER", "Runs"]
