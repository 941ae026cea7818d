"""The metadata store on a real PostgreSQL server: migrations, runs, cache, stacks, models, concurrency."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from dosirak import Client
from dosirak.errors import NotFoundError, RunFailedError
from dosirak.metadata import schema
from dosirak.metadata.driver import EngineDriver
from dosirak.metadata.engine import current_revision
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.store import MetadataStore, get_store
from tests._pipelines.chain import check_two_processes_record_every_run
from tests.integration.metadata import pg_pipelines
from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = pytest.mark.integration

RUNS_PER_PROCESS = 10


def _statuses(run: Any) -> dict[str, str]:
    return {name: s.status for name, s in run.steps.items()}


def _recent(moment: datetime | None) -> bool:
    """An aware UTC timestamp within a minute of now (a time-zone slip is hours off)."""
    return moment is not None and moment.tzinfo is not None and abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


# -- schema -------------------------------------------------------------------------
def test_migrations_create_every_table_from_empty_and_seed_the_default_stack(postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    try:
        assert current_revision(store.engine) == schema.SCHEMA_REVISION
        assert set(schema.metadata.tables) <= set(inspect(store.engine).get_table_names())
        stack = store.stacks.get_stack()
        assert (stack.name, stack.active) == ("default", True)
        assert {c: r.flavor for c, r in stack.components.items()} == {"orchestrator": "local",
                                                                      "artifact-store": "local"}
        assert _recent(stack.created_at)
    finally:
        store.close()


def test_migrated_schema_matches_the_table_definitions(postgres_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = MetadataStore(postgres_url)
    try:
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
    finally:
        store.close()


def test_reopening_an_up_to_date_store_keeps_its_data(postgres_url: str) -> None:
    first = MetadataStore(postgres_url)
    first.stacks.set_value("marker", {"kept": True, "n": [1, 2]})
    first.stacks.set_value("marker", {"kept": True, "n": [3]})
    first.close()
    second = MetadataStore(postgres_url)
    try:
        assert second.stacks.get_value("marker") == {"kept": True, "n": [3]}
        assert current_revision(second.engine) == schema.SCHEMA_REVISION
    finally:
        second.close()


def test_components_and_stacks_registered_after_the_seeded_ones_get_new_ids(postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    try:
        orchestrator = store.stacks.register_component("orchestrator", "second", "local", {})
        store.stacks.register_component("artifact-store", "second", "local", {"path": "/tmp/x"})
        stack = store.stacks.register_stack("second", {"orchestrator": "second", "artifact-store": "second"})
        assert orchestrator.id > 2
        assert stack.id > 1
        assert store.stacks.get_component("artifact-store", "second").config == {"path": "/tmp/x"}
    finally:
        store.close()


def test_a_store_created_at_revision_0002_is_upgraded_and_its_sequences_reset(postgres_url: str) -> None:
    from dosirak.metadata.engine import make_engine, upgrade

    engine = make_engine(postgres_url)
    upgrade(engine, "0002")
    engine.dispose()
    store = MetadataStore(postgres_url)
    try:
        assert current_revision(store.engine) == schema.SCHEMA_REVISION
        assert store.stacks.register_component("orchestrator", "after-upgrade", "local", {}).id == 3
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT nextval(pg_get_serial_sequence('stacks', 'id'))")).scalar() == 2
    finally:
        store.close()


def test_two_processes_creating_the_schema_at_once_both_succeed(postgres_home: str) -> None:
    code = "from dosirak.metadata.store import get_store; print(get_store().stacks.get_stack().name)"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=python_env(), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "default"
    assert len(get_store().stacks.list_stacks()) == 1


# -- runs -----------------------------------------------------------------------------
def test_a_pipeline_run_is_recorded_and_a_rerun_hits_the_cache(postgres_home: str) -> None:
    pg_pipelines.calls.clear()
    first = pg_pipelines.numbers(n=4)
    second = pg_pipelines.numbers(n=4)
    assert first.status == second.status == "completed"
    assert _statuses(first) == {"load_numbers": "completed", "total": "completed"}
    assert _statuses(second) == {"load_numbers": "cached", "total": "cached"}
    assert pg_pipelines.calls == ["load_numbers", "total"]
    ran, hit = first.steps["total"], second.steps["total"]
    assert ran.host is not None and (ran.worker or "").startswith("pid ") and ran.resources == {}
    assert (hit.host, hit.worker, hit.resources) == (None, None, {})  # a cache hit computed nowhere
    assert second.steps["total"].output.id == first.steps["total"].output.id
    assert second.steps["total"].output.load() == 6

    seen = Client().get_run(first.id)
    assert (seen.status, seen.pipeline_name) == ("completed", "pg_numbers")
    assert _recent(seen.start_time) and _recent(seen.end_time)
    assert seen.parameters == {"n": 4}
    assert Client().get_run(first.id[:8]).id == first.id
    assert [r.id for r in Client().list_runs("pg_numbers")] == [second.id, first.id]
    assert get_store().overview.store_counts() == {"pipelines": 1, "runs": 2, "step_runs": 4, "artifacts": 2}

    third = pg_pipelines.numbers(n=5)
    assert _statuses(third) == {"load_numbers": "completed", "total": "completed"}
    assert third.steps["total"].output.load() == 10


def test_run_and_artifact_id_prefixes_match_like_on_sqlite(postgres_home: str) -> None:
    run = pg_pipelines.numbers(n=2)
    store = get_store()
    assert store.runs.get_run(run.id[:6].upper()).id == run.id
    artifact = run.steps["total"].output.id
    assert store.artifacts.get_artifact(artifact[:6].upper()).id == artifact
    with pytest.raises(NotFoundError):
        store.runs.get_run("%%%%")
    with pytest.raises(NotFoundError):
        store.runs.get_run("____")


def test_the_recorders_sql_text_keeps_plain_values_reuses_outputs_and_finds_steps_by_prefix(
        postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    try:
        assert isinstance(store.sql, EngineDriver)
        store.stacks.set_value("greeting", "default")
        assert store.stacks.get_value("greeting") == "default"
        with store.sql.read() as cur:
            assert cur.execute("SELECT CAST(value AS TEXT) AS stored FROM kv WHERE key = 'greeting'") == [
                {"stored": '"default"'}]

        first, again = "cd_e0000-0000-0000-0000-000000000000", "cdxe0000-0000-0000-0000-000000000000"
        store.runs.create_run(run_id="ab_d0000-0000-0000-0000-000000000000", name="r", pipeline_name="p",
                         parameters={"이름": "김밥"}, config={}, dag={}, stack_name="default", orchestrator="local",
                         steps=[{"id": sid, "name": sid[:4], "step_type": "m.f"} for sid in (first, again)])
        store.runs.start_step(first, cache_key="k", cache_parts={"source": "s"}, source_code=None, inputs={})
        out = ArtifactRecord(id=str(uuid.uuid4()), uri="/tmp/out", type="builtins.int", materializer="m:M",
                             materializer_version="1", content_hash="h" * 64, size=1, producer_step_run_id=first,
                             name="output", created_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
                             summary={"이름": ["김밥", None, 2.5]})
        store.runs.finish_step(first, status="completed", new_artifacts=[out], outputs={"output": out.id})
        hit = store.runs.reuse_cached(again, cache_key="k", cache_parts={"source": "s"}, source_code=None, inputs={},
                                 usable=lambda outputs: True)
        assert hit == (first, {"output": out})

        assert store.runs.get_step_run("CD_E").id == first  # '_' taken literally, the prefix lowered for LIKE
        assert (store.runs.get_step_run("CDXE").status, store.runs.get_step_run("CDXE").cached_from) == ("cached", first)
        assert store.runs.get_run("AB_D").parameters == {"이름": "김밥"}
        with pytest.raises(NotFoundError, match="no step run with id 'cd%e'"):
            store.runs.get_step_run("cd%e")
    finally:
        store.close()


def test_a_failing_step_fails_the_run_and_skips_what_follows(postgres_home: str) -> None:
    with pytest.raises(RunFailedError, match="failed at step 'explode'") as info:
        pg_pipelines.failing(n=3)
    run = Client().get_run(info.value.run.id)  # type: ignore[attr-defined]
    assert run.status == "failed"
    assert _statuses(run) == {"load_numbers": "completed", "explode": "failed", "after": "skipped"}
    assert "cannot handle 3 numbers" in (run.steps["explode"].error or "")


# -- stacks through the CLI --------------------------------------------------------------
def test_stack_and_component_commands_work_on_postgres(postgres_home: str) -> None:
    from dosirak.cli.main import cli

    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    ok("orchestrator", "register", "team", "--flavor", "local")
    ok("artifact-store", "register", "team", "--flavor", "local", "--path", "/tmp/dosirak-team-artifacts")
    assert "team" in ok("orchestrator", "list")
    ok("stack", "register", "team", "-o", "team", "-a", "team", "--set")
    assert get_store().stacks.active_stack_name() == "team"
    assert '"team"' in ok("stack", "list", "--json")
    assert "team" in ok("stack", "describe", "team")
    ok("stack", "set", "default")
    ok("stack", "delete", "team")
    ok("orchestrator", "delete", "team")
    assert [s.name for s in get_store().stacks.list_stacks()] == ["default"]


# -- models -------------------------------------------------------------------------
def test_models_are_saved_fetched_and_aliased(postgres_home: str) -> None:
    from dosirak.models import api as models

    first = models.save("pg-model", {"w": [1, 2]}, framework="pickle", metrics={"acc": 0.5},
                        labels={"team": "search"})
    second = models.save("pg-model", {"w": [3]}, framework="pickle")
    assert (first.version, second.version) == (1, 2)
    assert models.get("pg-model").version == 2
    models.alias("pg-model:1", "production")
    assert models.get("pg-model:production").version == 1
    models.alias("pg-model:2", "production")
    assert models.get("pg-model:production").version == 2
    assert models.load("pg-model:production") == {"w": [3]}
    assert models.get("pg-model:1").labels == {"team": "search"}
    history = get_store().models.model_alias_history("pg-model")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 2)]
    assert all(_recent(h.moved_at) for h in history)


def test_concurrent_saves_of_one_model_get_distinct_versions(postgres_home: str) -> None:
    from dosirak.models import api as models

    errors: list[BaseException] = []

    def save_some() -> None:
        try:
            for i in range(5):
                models.save("raced", {"i": i}, framework="pickle")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save_some) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(v.version for v in models.versions("raced")) == list(range(1, 11))


# -- two processes --------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_times_ten_runs_lose_no_rows(postgres_home: str) -> None:
    check_two_processes_record_every_run(RUNS_PER_PROCESS, python_env())
    assert [p.name for p, _count, _latest in get_store().runs.list_pipelines()] == ["chain"]


# -- time zones -------------------------------------------------------------------------
def test_naive_and_offset_timestamps_are_stored_as_the_same_utc_instant(postgres_home: str) -> None:
    """The server runs in Asia/Seoul: a naive value must still be read as UTC, an offset kept."""
    store = get_store()
    instant = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    given = {
        "naive": instant.replace(tzinfo=None),
        "seoul": instant.astimezone(timezone(timedelta(hours=9))),
        "utc": instant,
    }
    for name, created_at in given.items():
        store.bundles.create_bundle(bundle_id=f"{name}-id", name=name, version="1", path=f"/b/{name}", service="svc:Svc",
                            created_at=created_at, size=0, manifest_hash="0" * 64, labels={}, apis=[], models=[])
    for name in given:
        stored = store.bundles.get_bundle(name, "1").created_at
        assert stored == instant and stored.utcoffset() == timedelta(0), name


def test_first_runs_of_a_new_pipeline_started_at_once_share_one_pipeline_row(postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start(n: int) -> None:
        try:
            for round_ in range(3):
                barrier.wait(timeout=30)
                store.runs.create_run(run_id=f"00000000-0000-0000-0000-{round_:06d}{n:06d}", name=f"r{round_}-{n}",
                                 pipeline_name=f"fresh-{round_}", parameters={}, config={}, dag={},
                                 stack_name="default", orchestrator="local", steps=[])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert {p.name: count for p, count, _latest in store.runs.list_pipelines()} == {f"fresh-{r}": 4 for r in range(3)}
    finally:
        store.close()


def test_a_read_sees_one_snapshot_while_a_writer_commits(postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    try:
        with store.sql.read() as cur:
            before = cur.execute("SELECT count(*) AS n FROM kv")
            store.stacks.set_value("written-meanwhile", 1)
            assert cur.execute("SELECT count(*) AS n FROM kv") == before
        assert store.stacks.get_value("written-meanwhile") == 1
    finally:
        store.close()


def test_gc_removes_unrecorded_outputs_and_model_versions_and_keeps_recorded_ones(postgres_home: str) -> None:
    from dosirak.artifacts.gc import Roots, collect
    from dosirak.models import api as models
    from dosirak.settings import get_settings
    from tests._pipelines.measure import measure

    run = measure()
    models.save("pg-gc", {"w": 1}, framework="pickle")
    settings = get_settings()
    stray_output = settings.artifact_root / run.id / "words" / "extra"
    stray_model = settings.models_root / "pg-gc" / "5"
    for stray in (stray_output, stray_model):
        stray.mkdir(parents=True)
        (stray / "data.bin").write_bytes(b"x" * 10)
    report = collect(get_store(), Roots.of_home(), dry_run=False)  # the model check holds the advisory lock
    assert sorted((o.kind, o.path) for o in report.orphans) == [("artifact", str(stray_output)),
                                                                ("model", str(stray_model))]
    assert not stray_output.exists() and not stray_model.exists()
    assert Client().get_run(run.id).steps["words"].output.load() == ["x", "xx", "xxx"]
    assert models.load("pg-gc:1") == {"w": 1}
