"""What a running pipeline records and reads: its stack, its run, its steps, their artifacts.

These operations are written once as SQL text and run through
:mod:`dosirak.metadata.driver`, so a pipeline on the default SQLite store never imports
SQLAlchemy; the rest of the store (listings, models, bundles, deployments) uses SQLAlchemy
Core on the same tables. :class:`~dosirak.metadata.store.MetadataStore` has every
operation here too.

Example::

    recorder = get_recorder()        # the settings' store, opened once per process
    run = recorder.get_run("3f2a")   # a RunRecord (id prefixes work)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from dosirak import process
from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata._references import ReferencesMixin
from dosirak.metadata.driver import LIKE_ESCAPE, Cursor, Row, like_prefix
from dosirak.metadata.records import ArtifactRecord, ComponentRecord, RunRecord, StackRecord, StepRunRecord
from dosirak.metadata.timeutil import utcnow
from dosirak.settings import env_value, get_settings

log = logging.getLogger(__name__)

#: A run on another host whose heartbeat is older than this is considered abandoned.
HEARTBEAT_STALE_AFTER = timedelta(seconds=90)
RUN_STATUSES = ("running", "completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "completed", "cached", "failed", "skipped", "cancelled")
ACTIVE_STACK_KEY = "active_stack"

StepIO = Mapping[str, tuple[dict[str, str], dict[str, str]]]
StoreT = TypeVar("StoreT", bound="RunRecorder")


# -------------------------------------------------------------------------- records
def run_record(m: Mapping[Any, Any]) -> RunRecord:
    """A run from a ``pipeline_runs`` row joined with its pipeline's name (``pipeline_name``)."""
    return RunRecord(
        id=m["id"], name=m["name"], pipeline_name=m["pipeline_name"], status=m["status"],
        parameters=m["parameters"] or {}, config=m["config"] or {}, dag=m["dag"] or {},
        stack_name=m["stack_name"], orchestrator=m["orchestrator"], start_time=m["start_time"],
        end_time=m["end_time"], hostname=m["hostname"], pid=m["pid"], error=m["error"],
    )


def artifact_record(m: Mapping[Any, Any]) -> ArtifactRecord:
    return ArtifactRecord(
        id=m["id"], uri=m["uri"], type=m["type"], materializer=m["materializer"],
        materializer_version=m["materializer_version"], content_hash=m["content_hash"], size=m["size"],
        producer_step_run_id=m["producer_step_run_id"], name=m["name"], created_at=m["created_at"],
        summary=m["summary"] or {},
    )


def step_record(m: Mapping[Any, Any], io: StepIO | None = None) -> StepRunRecord:
    inputs, outputs = (io or {}).get(m["id"], ({}, {}))
    return StepRunRecord(
        id=m["id"], run_id=m["run_id"], name=m["name"], step_type=m["step_type"], status=m["status"],
        parameters=m["parameters"] or {}, cache_key=m["cache_key"], cache_parts=m["cache_parts"] or {},
        cache_enabled=bool(m["cache_enabled"]), cached_from=m["cached_from"], start_time=m["start_time"],
        end_time=m["end_time"], attempts=m["attempts"], logs_uri=m["logs_uri"], error=m["error"],
        traceback=m["traceback"], source_code=m["source_code"], inputs=inputs, outputs=outputs,
        extra=m["extra"] or {},
    )


def component_record(m: Mapping[Any, Any]) -> ComponentRecord:
    return ComponentRecord(id=m["id"], name=m["name"], type=m["type"], flavor=m["flavor"],
                           config=m["config"] or {}, created_at=m["created_at"])


# ---------------------------------------------------------------------- statements
def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"


def _in(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name_0, :name_1, ...)`` and its parameters, for ``column IN (...)``."""
    params = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(":" + k for k in params) + ")", params


_RUN_COLUMNS = ("id", "name", "pipeline_id", "status", "parameters", "config", "dag", "stack_name", "orchestrator",
                "start_time", "end_time", "hostname", "pid", "pid_start", "heartbeat_at", "error", "extra")
_STEP_COLUMNS = ("id", "run_id", "name", "step_type", "status", "parameters", "cache_parts", "cache_enabled",
                 "attempts", "extra")
_ARTIFACT_COLUMNS = ("id", "uri", "type", "materializer", "materializer_version", "content_hash", "size",
                     "producer_step_run_id", "name", "created_at", "summary", "extra")
_INSERT_RUN = _insert("pipeline_runs", _RUN_COLUMNS)
_INSERT_STEP = _insert("step_runs", _STEP_COLUMNS)
_INSERT_ARTIFACT = _insert("artifacts", _ARTIFACT_COLUMNS)
_INSERT_IO = _insert("step_run_io", ("step_run_id", "name", "kind", "artifact_id"))
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


def _value(cur: Cursor, key: str, default: Any) -> Any:
    rows = cur.execute("SELECT value FROM kv WHERE key = :key", {"key": key})
    return default if not rows else rows[0]["value"]


def _active_stack(cur: Cursor) -> str:
    """``DOSIRAK_STACK``, or the stack ``dosirak stack set`` made active (``default`` at first)."""
    return env_value("DOSIRAK_STACK") or str(_value(cur, ACTIVE_STACK_KEY, "default"))


def _links(step_run_id: str, kind: str, links: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"step_run_id": step_run_id, "name": n, "kind": kind, "artifact_id": a} for n, a in links.items()]


def _by_id_or_prefix(cur: Cursor, select: str, column: str, key: str, what: str) -> Row | None:
    """The row whose ``column`` is ``key``, or the one row whose id starts with it (4+ characters)."""
    rows = cur.execute(f"{select} WHERE {column} = :key", {"key": key})
    if not rows and len(key) >= 4:
        rows = cur.execute(f"{select} WHERE {column} LIKE :prefix ESCAPE '{LIKE_ESCAPE}' LIMIT 2",
                           {"prefix": like_prefix(key)})
        if len(rows) > 1:
            raise NotFoundError(f"{what} id prefix '{key}' is ambiguous; give more characters")
    return rows[0] if rows else None


class RunRecorder(ReferencesMixin):
    """The store operations a pipeline run performs, in SQL text on the store's driver."""

    # -- key/values and the stack -----------------------------------------------------
    def get_value(self, key: str, default: Any = None) -> Any:
        """A setting kept in the store (e.g. the active stack)."""
        with self.sql.read() as cur:
            return _value(cur, key, default)

    def set_value(self, key: str, value: Any) -> None:
        with self.sql.write() as cur:
            cur.execute("DELETE FROM kv WHERE key = :key", {"key": key})
            cur.execute("INSERT INTO kv (key, value) VALUES (:key, :value)", {"key": key, "value": value})

    def active_stack_name(self) -> str:
        with self.sql.read() as cur:
            return _active_stack(cur)

    def get_stack(self, name: str | None = None) -> StackRecord:
        """A stack with its components; the active stack when ``name`` is None."""
        with self.sql.read() as cur:
            active = _active_stack(cur)
            name = name or active
            stacks = cur.execute("SELECT * FROM stacks WHERE name = :name", {"name": name})
            if not stacks:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
            stack = stacks[0]
            rows = cur.execute(
                "SELECT stack_components.* FROM stack_components JOIN stack_members "
                "ON stack_members.component_id = stack_components.id WHERE stack_members.stack_id = :stack_id",
                {"stack_id": stack["id"]})
        return StackRecord(id=stack["id"], name=stack["name"], components={r["type"]: component_record(r) for r in rows},
                           created_at=stack["created_at"], active=stack["name"] == active)

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
            cur.execute(_INSERT_RUN, dict(
                id=run_id, name=name, pipeline_id=pipeline_id, status="running", parameters=parameters,
                config=config, dag=dag, stack_name=stack_name, orchestrator=orchestrator, start_time=now,
                end_time=None, hostname=process.hostname(), pid=pid, pid_start=process.start_time(pid),
                heartbeat_at=now, error=None, extra={},
            ))
            if steps:
                cur.executemany(_INSERT_STEP, [
                    {"id": s["id"], "run_id": run_id, "name": s["name"], "step_type": s["step_type"],
                     "status": "pending", "parameters": s.get("parameters", {}), "cache_parts": {},
                     "cache_enabled": s.get("cache_enabled", True), "attempts": 0, "extra": s.get("extra", {})}
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
        in_names, params = _in("name", names)
        with self.sql.write() as cur:
            cur.execute(
                f"UPDATE step_runs SET status = 'skipped', error = :error, end_time = :end_time "
                f"WHERE run_id = :run_id AND name IN {in_names} AND status IN ('pending', 'running')",
                {**params, "error": reason, "end_time": utcnow(), "run_id": run_id})

    def finish_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
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
        in_dead, params = _in("run", dead)
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
            outputs = {r["link_name"]: artifact_record(r) for r in cur.execute(_CACHED_OUTPUTS, {"sid": hit["id"]})}
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
            row = _by_id_or_prefix(cur, _SELECT_RUN, "pipeline_runs.id", run_id, "run")
        if row is None:
            raise NotFoundError(f"no run with id '{run_id}'; `dosirak runs list` shows the known runs")
        return run_record(row)

    def get_steps(self, run_id: str) -> list[StepRunRecord]:
        """A run's steps in the order they were defined, each with its input/output links."""
        with self.sql.read() as cur:
            rows = cur.execute("SELECT * FROM step_runs WHERE run_id = :run_id", {"run_id": run_id})
            io = self._io_for(cur, [r["id"] for r in rows])
            dags = cur.execute("SELECT dag FROM pipeline_runs WHERE id = :id", {"id": run_id})
        dag = dags[0]["dag"] if dags else None
        order = {n["name"]: i for i, n in enumerate((dag or {}).get("steps", []))}
        steps = [step_record(r, io) for r in rows]
        steps.sort(key=lambda s: order.get(s.name, len(order)))
        return steps

    @staticmethod
    def _io_for(cur: Cursor, step_ids: list[str]) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        io: dict[str, tuple[dict[str, str], dict[str, str]]] = {sid: ({}, {}) for sid in step_ids}
        if not step_ids:
            return io
        in_ids, params = _in("sid", step_ids)
        for r in cur.execute(f"SELECT step_run_id, name, kind, artifact_id FROM step_run_io "
                             f"WHERE step_run_id IN {in_ids}", params):
            io[r["step_run_id"]][0 if r["kind"] == "input" else 1][r["name"]] = r["artifact_id"]
        return io

    def get_step_run(self, step_run_id: str) -> StepRunRecord:
        with self.sql.read() as cur:
            row = _by_id_or_prefix(cur, "SELECT * FROM step_runs", "id", step_run_id, "step run")
            if row is None:
                raise NotFoundError(f"no step run with id '{step_run_id}'")
            io = self._io_for(cur, [row["id"]])
        return step_record(row, io)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """An artifact version by id or unambiguous id prefix."""
        with self.sql.read() as cur:
            row = _by_id_or_prefix(cur, "SELECT * FROM artifacts", "id", artifact_id, "artifact")
        if row is None:
            raise NotFoundError(f"no artifact with id '{artifact_id}'; `dosirak artifact list` shows them")
        return artifact_record(row)

    def get_artifacts(self, ids: Iterable[str]) -> dict[str, ArtifactRecord]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        in_ids, params = _in("id", ids)
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT * FROM artifacts WHERE id IN {in_ids}", params)
        return {r["id"]: artifact_record(r) for r in rows}


_opened: dict[str, RunRecorder] = {}
_replaced: list[RunRecorder] = []
_lock = threading.Lock()


def open_store(url: str | None, kind: type[StoreT]) -> StoreT:
    """The store at ``url`` (default: the settings' one) as ``kind``, opened once per process.

    A process that needs more than a recorder (the CLI, ``Client``) opens the full
    :class:`~dosirak.metadata.store.MetadataStore`, which a later :func:`get_recorder` reuses.
    """
    if url is None:
        url = get_settings().metadata_url
    with _lock:
        store = _opened.get(url)
        if not isinstance(store, kind):
            if store is not None:
                _replaced.append(store)  # views may still read through it; closed with the rest
            store = _opened[url] = kind(url)
        return store


def get_recorder(url: str | None = None) -> RunRecorder:
    """The store a pipeline run records in: whatever this process opened, or a recorder."""
    return open_store(url, RunRecorder)


def close_stores() -> None:
    """Close every open store (tests switch ``DOSIRAK_HOME`` between cases)."""
    with _lock:
        for store in [*_opened.values(), *_replaced]:
            store.close()
        _opened.clear()
        _replaced.clear()


__all__ = [
    "ACTIVE_STACK_KEY", "HEARTBEAT_STALE_AFTER", "RUN_STATUSES", "STEP_STATUSES", "RunRecorder",
    "artifact_record", "close_stores", "component_record", "get_recorder", "open_store", "run_record", "step_record",
]
