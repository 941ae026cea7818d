"""SQL text on the metadata database: typed values by column kind on both drivers, literal id prefixes, transactions."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata import tables
from dosirak.metadata.driver import EngineDriver, SqliteDriver, sqlite_path
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.sqlite import configure_sqlite
from dosirak.metadata.store import MetadataStore, get_store

#: Values a JSON column must give back exactly: nesting, unicode keys and values, every JSON scalar.
NESTED = {"이름": "김밥", "nested": {"list": [1, 2.5, None, True, False, "🍱"], "empty": {}}, "quote": "a\"b\\c"}
#: An offset time with microseconds; the store must hand it back as the same instant in UTC.
SEOUL_NOON = datetime(2026, 3, 1, 21, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))

def new_run(recorder: MetadataStore, *, run_id: str | None = None, step_ids: dict[str, str] | None = None,
            pipeline: str = "p", parameters: dict[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    run_id = run_id or str(uuid.uuid4())
    ids = step_ids or {"a": str(uuid.uuid4()), "b": str(uuid.uuid4())}
    recorder.runs.create_run(
        run_id=run_id, name=f"{pipeline}-{run_id[:4]}", pipeline_name=pipeline, parameters=parameters or {},
        config={"retries": 0}, dag={"steps": [{"name": n} for n in ids]}, stack_name="default",
        orchestrator="local",
        steps=[{"id": sid, "name": n, "step_type": "m.f", "parameters": {}, "cache_enabled": n != "b"}
               for n, sid in ids.items()],
    )
    return run_id, ids


def artifact(step_run_id: str, *, created_at: datetime | None = None, summary: dict[str, Any] | None = None,
             ) -> ArtifactRecord:
    return ArtifactRecord(id=str(uuid.uuid4()), uri=f"/tmp/{uuid.uuid4()}", type="builtins.dict",
                          materializer="m:M", materializer_version="1", content_hash="h" * 64, size=12,
                          producer_step_run_id=step_run_id, name="output",
                          created_at=created_at or datetime.now(UTC), summary=summary or {})


def run_step(recorder: MetadataStore, step_run_id: str, *, created_at: datetime | None = None,
             summary: dict[str, Any] | None = None, inputs: dict[str, str] | None = None) -> ArtifactRecord:
    """Start and complete one step with one new output artifact, as the step runner does."""
    recorder.runs.start_step(step_run_id, cache_key=f"key-{step_run_id}", cache_parts={"source": NESTED},
                        source_code="def f(): ...", inputs=inputs or {})
    out = artifact(step_run_id, created_at=created_at, summary=summary)
    recorder.runs.finish_step(step_run_id, status="completed", new_artifacts=[out], outputs={"output": out.id},
                         extra={"note": "ünïcode"})
    return out


def count(recorder: MetadataStore, table: str) -> int:
    with recorder.sql.read() as cur:
        return int(cur.execute(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def times_are_aware_utc(record: Any) -> bool:
    times = [v for v in dataclasses.asdict(record).values() if isinstance(v, datetime)]
    return bool(times) and all(v.tzinfo is not None and v.utcoffset() == timedelta(0) for v in times)


@pytest.fixture
def store() -> MetadataStore:
    """The default store: SQL text on sqlite3."""
    opened = get_store()
    assert isinstance(opened.sql, SqliteDriver)
    return opened


@pytest.fixture(params=["sqlite3", "sqlalchemy-engine"])
def either_path(request: pytest.FixtureRequest, store: MetadataStore) -> MetadataStore:
    """The store with its SQL text on sqlite3, or on a SQLAlchemy engine (a URL with options)."""
    if request.param == "sqlite3":
        return store
    url = f"{store.url}?timeout=30"
    assert sqlite_path(url) is None
    opened = get_store(url)
    assert isinstance(opened.sql, EngineDriver)
    return opened


@pytest.fixture
def second_connection(store: MetadataStore) -> Iterator[MetadataStore]:
    """Another recorder on the same file, with its own sqlite3 connection (as another process has)."""
    other = MetadataStore(store.url)
    yield other
    other.close()


@pytest.mark.parametrize(("wanted", "lookalike", "prefix"), [
    ("ab_d0000-0000-0000-0000-000000000000", "abxd0000-0000-0000-0000-000000000000", "ab_d"),
    ("ab%d0000-0000-0000-0000-000000000000", "abzzd000-0000-0000-0000-000000000000", "ab%d"),
    ("ab/d0000-0000-0000-0000-000000000000", "abd00000-0000-0000-0000-000000000000", "ab/d"),
], ids=["underscore", "percent", "escape-character"])
def test_run_and_step_id_prefixes_are_matched_literally(store: MetadataStore, wanted: str, lookalike: str,
                                                        prefix: str) -> None:
    for run_id in (wanted, lookalike):
        new_run(store, run_id=run_id, step_ids={"a": "s" + run_id[1:]})
    assert store.runs.get_run(prefix).id == wanted
    assert store.runs.get_step_run("s" + prefix[1:]).id == "s" + wanted[1:]


def test_id_prefixes_ignore_case(store: MetadataStore) -> None:
    run_id, ids = new_run(store, run_id="abcd_f00-0000-0000-0000-000000000000")
    assert store.runs.get_run("ABCD_F").id == run_id
    assert store.runs.get_step_run(ids["a"][:6].upper()).id == ids["a"]


def test_a_prefix_with_wildcards_finds_no_other_run(store: MetadataStore) -> None:
    new_run(store)
    new_run(store)
    for prefix in ("%%%%", "____", "//%_"):
        with pytest.raises(NotFoundError, match=f"no run with id '{prefix}'"):
            store.runs.get_run(prefix)


# -- transactions --------------------------------------------------------------------------
def test_a_write_that_raises_leaves_nothing_behind_and_the_connection_stays_usable(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.sql.write() as cur:
        cur.execute("INSERT INTO kv (key, value) VALUES (:key, :value)", {"key": "half", "value": "written"})
        raise RuntimeError("boom")
    assert store.stacks.get_value("half", "absent") == "absent"
    store.stacks.set_value("after", "default")
    assert store.stacks.get_value("after") == "default"


def test_a_step_whose_output_link_fails_keeps_neither_its_artifact_nor_its_status(store: MetadataStore) -> None:
    _run_id, ids = new_run(store)
    orphan = artifact(ids["a"])
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.runs.finish_step(ids["a"], status="completed", new_artifacts=[orphan], outputs={"output": "no-such-artifact"})
    assert store.artifacts.get_artifacts([orphan.id]) == {}
    assert store.runs.get_step_run(ids["a"]).status == "pending"
    out = run_step(store, ids["a"])
    assert store.runs.get_step_run(ids["a"]).outputs == {"output": out.id}


def test_a_read_sees_one_snapshot_while_another_connection_commits(store: MetadataStore,
                                                                   second_connection: MetadataStore) -> None:
    store.stacks.set_value("k", "before")
    with store.sql.read() as cur:
        before = cur.execute("SELECT value FROM kv WHERE key = :key", {"key": "k"})
        second_connection.stacks.set_value("k", "after")
        new_run(second_connection)
        assert cur.execute("SELECT value FROM kv WHERE key = :key", {"key": "k"}) == before == [{"value": "before"}]
        assert cur.execute("SELECT count(*) AS n FROM pipeline_runs") == [{"n": 0}]
    assert store.stacks.get_value("k") == "after"
    assert count(store, "pipeline_runs") == 1


# -- both drivers hand back the same typed values ------------------------------------------
#: A time given with an offset and microseconds, a naive one (taken as UTC), and the UTC instants they are.
OFFSET_TIME, NAIVE_TIME = SEOUL_NOON, datetime(2026, 3, 1, 12, 30, 0, 654321)
#: Floats a double holds exactly, both infinities, and NULL (SQLite cannot store NaN: it becomes NULL).
FLOATS = (0.1, -2.5e-300, 1.7976931348623157e308, float("inf"), float("-inf"), None)


def check_column_kinds(store: MetadataStore) -> None:
    """Write a value of every column kind through ``store.sql`` and check what comes back, and its type.

    Shared with the PostgreSQL tests (tests/integration/metadata/test_driver.py): each
    driver must give exactly these values, so they give the same ones.
    """
    run_id, ids = new_run(store, parameters=NESTED)
    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET end_time = :end_time, heartbeat_at = :heartbeat_at WHERE id = :id",
                    {"end_time": OFFSET_TIME, "heartbeat_at": NAIVE_TIME, "id": run_id})
        cur.executemany(tables.METRICS.insert_sql(), [tables.METRICS.row(
            {"step_run_id": ids["a"], "name": "loss", "step": i, "number": number, "wall_time": 1.75e9 + i})
            for i, number in enumerate(FLOATS)])
        cur.executemany("INSERT INTO kv (key, value) VALUES (:key, :value)", [
            {"key": "text-of-a-number", "value": "7"}, {"key": "number", "value": 7}, {"key": "false", "value": False},
            {"key": "list", "value": [1, "a", None]}, {"key": "nested", "value": NESTED}, {"key": "null", "value": None}])
    with store.sql.read() as cur:
        (run,) = cur.execute("SELECT parameters, config, dag, start_time, end_time, heartbeat_at, error "
                             "FROM pipeline_runs WHERE id = :id", {"id": run_id})
        steps = cur.execute("SELECT name, cache_enabled, parameters, start_time FROM step_runs ORDER BY name")
        numbers = [r["number"] for r in cur.execute("SELECT number FROM metrics ORDER BY step")]
        walls = [r["wall_time"] for r in cur.execute("SELECT wall_time FROM metrics ORDER BY step")]
        values = {r["key"]: r["value"] for r in cur.execute("SELECT key, value FROM kv WHERE key != 'active_stack'")}

    # json: nested values, unicode, every JSON scalar; the JSON text "7" stays a string
    assert (run["parameters"], run["config"], run["dag"]) == (NESTED, {"retries": 0},
                                                             {"steps": [{"name": "a"}, {"name": "b"}]})
    assert values == {"text-of-a-number": "7", "number": 7, "false": False, "list": [1, "a", None],
                      "nested": NESTED, "null": None}
    assert [type(values[k]) for k in ("text-of-a-number", "number", "false")] == [str, int, bool]
    # time: aware UTC, the same instant, microseconds kept; a naive time is taken as UTC
    assert run["end_time"] == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert run["heartbeat_at"] == NAIVE_TIME.replace(tzinfo=UTC)
    for moment in (run["start_time"], run["end_time"], run["heartbeat_at"]):
        assert type(moment) is datetime and moment.utcoffset() == timedelta(0)
    # boolean: bool, not 0/1
    assert [(r["name"], r["cache_enabled"]) for r in steps] == [("a", True), ("b", False)]
    assert all(type(r["cache_enabled"]) is bool for r in steps)
    # float: exact doubles, both infinities, NULL
    assert numbers == list(FLOATS)
    assert all(type(n) is float for n in numbers if n is not None)
    assert walls == [1.75e9 + i for i in range(len(FLOATS))]
    # NULL in every kind
    assert (run["error"], steps[0]["start_time"], values["null"], numbers[-1]) == (None, None, None, None)


def test_both_drivers_hand_back_every_column_kind_typed_alike(either_path: MetadataStore) -> None:
    check_column_kinds(either_path)


def test_records_read_back_as_written_through_either_driver(either_path: MetadataStore) -> None:
    store = either_path
    first, first_ids = new_run(store, parameters=NESTED)
    a_out = run_step(store, first_ids["a"], created_at=SEOUL_NOON, summary=NESTED)
    run_step(store, first_ids["b"], inputs={"x": a_out.id})
    store.runs.finish_run(first, status="completed")
    second, _ids = new_run(store)

    runs = {run_id: store.runs.get_run(run_id) for run_id in (first, second)}
    assert {r.id: r for r in store.runs.list_runs()} == runs
    assert runs[first].parameters == NESTED and runs[first].config == {"retries": 0}
    assert all(times_are_aware_utc(r) for r in runs.values())

    assert store.artifacts.get_artifact(a_out.id) == store.artifacts.get_artifacts([a_out.id])[a_out.id] == a_out
    assert store.artifacts.get_artifact(a_out.id).created_at == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert times_are_aware_utc(store.artifacts.get_artifact(a_out.id))
    recorded = store.artifacts.get_artifacts(store.runs.get_step_run(i).outputs["output"] for i in first_ids.values())
    assert sorted(store.artifacts.list_artifacts(), key=lambda a: a.id) == sorted(recorded.values(), key=lambda a: a.id)

    step = store.runs.get_step_run(first_ids["a"])
    assert (step.cache_parts, step.extra, step.cache_enabled) == ({"source": NESTED}, {"note": "ünïcode"}, True)
    assert store.runs.previous_step_run("p", "a", before_run_id=second) == dataclasses.replace(step, outputs={})
    not_cached = store.runs.previous_step_run("p", "b", before_run_id=second)
    assert not_cached == dataclasses.replace(store.runs.get_step_run(first_ids["b"]), inputs={}, outputs={})
    assert not_cached is not None and not_cached.cache_enabled is False


def test_the_driver_hands_back_json_times_and_booleans_typed_by_column(either_path: MetadataStore) -> None:
    store = either_path
    new_run(store, parameters=NESTED)
    with store.sql.read() as cur:
        rows = cur.execute("SELECT name, parameters, cache_enabled, start_time FROM step_runs ORDER BY name")
        (run,) = cur.execute("SELECT parameters, start_time, end_time FROM pipeline_runs")
    assert [(r["name"], r["parameters"], r["cache_enabled"], r["start_time"]) for r in rows] == [
        ("a", {}, True, None), ("b", {}, False, None)]
    assert all(type(r["cache_enabled"]) is bool for r in rows)
    assert run["parameters"] == NESTED and run["end_time"] is None
    assert run["start_time"].utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - run["start_time"]) < timedelta(minutes=1)


def test_a_stack_reads_back_with_its_components_through_either_driver(either_path: MetadataStore) -> None:
    store = either_path
    orchestrator = store.stacks.register_component("orchestrator", "team", "local", {"workers": 2, "opts": NESTED})
    artifacts = store.stacks.register_component("artifact-store", "team", "local", {"path": "/tmp/팀"})
    registered = store.stacks.register_stack("team", {"orchestrator": "team", "artifact-store": "team"})
    store.stacks.set_active_stack("team")

    stack = store.stacks.get_stack()
    assert (stack.name, stack.active, stack.created_at) == ("team", True, registered.created_at)
    assert stack.components == {"orchestrator": orchestrator, "artifact-store": artifacts}
    assert stack.components == {c.type: c for c in store.stacks.list_components() if c.name == "team"}
    assert times_are_aware_utc(stack) and all(times_are_aware_utc(c) for c in stack.components.values())
    assert store.stacks.get_value("active_stack") == "team"


@pytest.mark.parametrize("value", [1, 2.5, -3, True, None, "7", [1, "a"], {"n": 1}])
def test_a_value_kept_in_the_store_reads_back_as_written(either_path: MetadataStore, value: Any) -> None:
    either_path.stacks.set_value("k", value)
    assert either_path.stacks.get_value("k", "absent") == value
    assert type(either_path.stacks.get_value("k", "absent")) is type(value)


# -- concurrency -----------------------------------------------------------------------------
def record_runs(recorder: MetadataStore, runs: int, run_ids: list[str], start: threading.Barrier) -> None:
    start.wait(timeout=30)
    for _ in range(runs):
        run_id, ids = new_run(recorder)
        out = run_step(recorder, ids["a"])
        run_step(recorder, ids["b"], inputs={"x": out.id})
        recorder.runs.finish_run(run_id, status="completed")
        run_ids.append(run_id)


@pytest.mark.parametrize("connections", [1, 2], ids=["one-shared-recorder", "two-connections"])
def test_concurrent_writers_lose_no_rows_and_never_see_a_locked_database(store: MetadataStore,
                                                                          second_connection: MetadataStore,
                                                                          connections: int) -> None:
    threads_count, runs = 6, 5
    recorders = [store, second_connection][:connections]
    start = threading.Barrier(threads_count)
    run_ids: list[str] = []
    errors: list[BaseException] = []

    def work(recorder: MetadataStore) -> None:
        try:
            record_runs(recorder, runs, run_ids, start)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(recorders[i % connections],)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(set(run_ids)) == threads_count * runs
    assert (count(store, "pipeline_runs"), count(store, "step_runs"), count(store, "artifacts"),
            count(store, "step_run_io")) == (threads_count * runs, 2 * threads_count * runs,
                                             2 * threads_count * runs, 3 * threads_count * runs)
    assert {store.runs.get_run(r).status for r in run_ids} == {"completed"}
    assert {s.status for r in run_ids for s in store.runs.get_steps(r)} == {"completed"}


def record_runs_from_a_child(recorder: MetadataStore, runs: int, start: Any) -> None:
    start.wait(timeout=30)
    for _ in range(runs):
        run_id, ids = new_run(recorder, pipeline="from-child")
        run_step(recorder, ids["a"])
        recorder.runs.finish_run(run_id, status="completed")


@pytest.mark.integration
def test_a_forked_child_records_through_the_parents_recorder_while_the_parent_records_too() -> None:
    recorder = get_store()
    new_run(recorder)  # the parent's connection is open when it forks
    runs = 20
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    child = context.Process(target=record_runs_from_a_child, args=(recorder, runs, start))
    child.start()
    start.wait(timeout=30)
    for _ in range(runs):
        run_id, ids = new_run(recorder, pipeline="from-parent")
        run_step(recorder, ids["a"])
        recorder.runs.finish_run(run_id, status="completed")
    child.join(timeout=120)
    assert child.exitcode == 0
    assert count(recorder, "pipeline_runs") == 1 + 2 * runs
    with recorder.sql.read() as cur:
        rows = cur.execute("SELECT pipelines.name AS pipeline, pipeline_runs.status FROM pipeline_runs "
                           "JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id WHERE pipelines.name != 'p'")
    assert sorted((r["pipeline"], r["status"]) for r in rows) == sorted(
        [("from-child", "completed")] * runs + [("from-parent", "completed")] * runs)
    new_run(recorder)  # the parent still writes after the child closed what it inherited
    with closing(sqlite3.connect(Path(recorder.url.removeprefix("sqlite:///")))) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def record_one_run_in_a_child(recorder: MetadataStore) -> None:
    run_id, ids = new_run(recorder, pipeline="forked-while-locked")
    recorder.runs.finish_run(run_id, status="completed")


@pytest.mark.integration
def test_a_child_forked_while_another_thread_holds_the_store_lock_does_not_hang() -> None:
    recorder = get_store()
    new_run(recorder)
    holding, release = threading.Event(), threading.Event()

    def hold_a_transaction() -> None:  # like a run's heartbeat thread caught mid-write by the fork
        with recorder.sql.read():
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold_a_transaction)
    holder.start()
    assert holding.wait(timeout=30)
    try:
        child = multiprocessing.get_context("fork").Process(target=record_one_run_in_a_child, args=(recorder,))
        child.start()
        child.join(timeout=60)
        stuck = child.is_alive()
        if stuck:
            child.kill()
    finally:
        release.set()
        holder.join(timeout=30)
    assert not stuck, "the forked child waited for a lock its parent's thread held"
    assert child.exitcode == 0
    assert [r.status for r in get_store().runs.list_runs(pipeline_name="forked-while-locked")] == ["completed"]


def test_a_file_that_is_not_a_database_is_a_store_error_that_says_what_to_do(tmp_path: Path) -> None:
    bad = tmp_path / "metadata.db"
    bad.write_bytes(b"not a database at all, but long enough to have a header" * 4)
    with pytest.raises(StoreError, match="file is not a database; move that file aside"):
        MetadataStore(f"sqlite:///{bad}")


def _hold_a_write_on_a_new_file(path: Path) -> sqlite3.Connection:
    """A connection in the middle of creating ``path``: rollback journal, a write lock held."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (i INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_opening_a_file_another_process_is_creating_waits_for_it_instead_of_failing(tmp_path: Path) -> None:
    # SQLite refuses the switch to WAL at once (no busy wait) while another connection writes
    path = tmp_path / "metadata.db"
    holder = _hold_a_write_on_a_new_file(path)
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        configure_sqlite(conn, busy_timeout_s=10)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    holder.close()


def test_a_file_locked_longer_than_the_busy_timeout_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    holder = _hold_a_write_on_a_new_file(path)
    try:
        with pytest.raises(StoreError, match="database is locked") as raised:
            SqliteDriver(str(path), busy_timeout_s=0.2).revision()
    finally:
        holder.close()
    assert "stop that process" in str(raised.value)
    assert "move that file aside" not in str(raised.value)  # a locked file is not a damaged one


def test_a_store_whose_directory_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the store's directory should be")
    with pytest.raises(StoreError, match="point DOSIRAK_HOME or DOSIRAK_METADATA_URL somewhere writable"):
        SqliteDriver(str(blocker / "metadata.db"), busy_timeout_s=1).revision()


def test_a_store_on_a_full_disk_is_a_store_error_saying_disk_full(small_disk: Path) -> None:
    driver = SqliteDriver(str(small_disk / "metadata.db"), 5.0)
    with driver.write() as cur:
        cur.execute("CREATE TABLE t (x BLOB)")
    with pytest.raises(StoreError, match="disk full") as info:  # SQLite: "database or disk is full"
        for _ in range(100):
            with driver.write() as cur:
                cur.execute("INSERT INTO t (x) VALUES (:x)", {"x": b"x" * 100_000})
    assert str(small_disk / "metadata.db") in str(info.value) and "dosirak gc" in str(info.value)
    driver.close()


def test_a_disk_io_error_on_a_full_disk_says_disk_full(small_disk: Path) -> None:
    from tests.conftest import fill_disk

    path = small_disk / "metadata.db"
    first = SqliteDriver(str(path), 5.0)
    with first.write() as cur:
        cur.execute("CREATE TABLE t (x BLOB)")
    first.close()
    fill_disk(small_disk)
    again = SqliteDriver(str(path), 5.0)
    with pytest.raises(StoreError, match="disk full") as info:  # SQLite: "disk I/O error" (SHMSIZE)
        with again.write() as cur:
            cur.execute("INSERT INTO t (x) VALUES (:x)", {"x": b"x" * 5000})
    assert "disk I/O error" in str(info.value)
    again.close()


def test_a_full_disk_while_saving_a_model_is_a_store_error_saying_disk_full(small_disk: Path) -> None:
    from tests.conftest import fill_disk

    store = MetadataStore(f"sqlite:///{small_disk / 'metadata.db'}")
    store.stacks.set_value("warm", 1)
    fill_disk(small_disk)
    with pytest.raises(StoreError, match="disk full"):
        store.models.create_model_version("m", framework="pickle", place=lambda v, i: f"/nowhere/{v}", files={},
                                   metadata={"pad": "x" * 100_000})
    store.close()
