"""The metadata store: runs and steps in single transactions, id prefixes, abandoned runs, the cache index."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.store import MetadataStore, get_store
from dosirak.metadata.timeutil import utcnow


def new_run(store: MetadataStore, *, steps: tuple[str, ...] = ("a", "b"), pipeline: str = "p",
            run_id: str | None = None) -> tuple[str, dict[str, str]]:
    run_id = run_id or str(uuid.uuid4())
    ids = {name: str(uuid.uuid4()) for name in steps}
    store.runs.create_run(run_id=run_id, name=f"{pipeline}-{run_id[:4]}", pipeline_name=pipeline, parameters={"x": 1},
                     config={}, dag={"steps": [{"name": n} for n in steps]}, stack_name="default",
                     orchestrator="local",
                     steps=[{"id": ids[n], "name": n, "step_type": "m.f", "parameters": {}} for n in steps])
    return run_id, ids


def artifact(step_run_id: str, name: str = "output") -> ArtifactRecord:
    return ArtifactRecord(id=str(uuid.uuid4()), uri=f"/tmp/{uuid.uuid4()}", type="builtins.int",
                          materializer="m:M", materializer_version="1", content_hash="h" * 64, size=1,
                          producer_step_run_id=step_run_id, name=name, created_at=utcnow(), summary={})


def test_get_store_opens_one_store_per_url() -> None:
    assert get_store() is get_store()


def test_a_new_run_is_running_with_pending_steps_in_dag_order() -> None:
    store = get_store()
    run_id, _ = new_run(store, steps=("z", "a", "m"))
    run = store.runs.get_run(run_id)
    assert (run.status, run.pipeline_name, run.parameters) == ("running", "p", {"x": 1})
    assert [s.name for s in store.runs.get_steps(run_id)] == ["z", "a", "m"]
    assert {s.status for s in store.runs.get_steps(run_id)} == {"pending"}


def test_runs_are_found_by_unambiguous_prefix_only() -> None:
    store = get_store()
    one, _ = new_run(store, run_id="abcd1111-0000-0000-0000-000000000000")
    new_run(store, run_id="abcd2222-0000-0000-0000-000000000000")
    assert store.runs.get_run("abcd1").id == one
    with pytest.raises(NotFoundError, match="run id prefix 'abcd' is ambiguous; give more characters"):
        store.runs.get_run("abcd")
    with pytest.raises(NotFoundError, match="no run with id 'ffffffffx'; `dosirak runs list`"):
        store.runs.get_run("ffffffffx")


def test_finishing_a_step_publishes_artifacts_and_links_in_one_go() -> None:
    store = get_store()
    run_id, ids = new_run(store)
    store.runs.start_step(ids["a"], cache_key="k1", cache_parts={"source": "s"}, source_code="def a(): ...", inputs={})
    out = artifact(ids["a"])
    store.runs.finish_step(ids["a"], status="completed", new_artifacts=[out], outputs={"output": out.id}, attempts=1)
    step = store.runs.get_step_run(ids["a"])
    assert (step.status, step.outputs, step.attempts) == ("completed", {"output": out.id}, 1)
    assert store.artifacts.get_artifact(out.id[:8]) == out
    assert store.runs.reuse_cached(ids["b"], cache_key="other", cache_parts={}, source_code=None, inputs={},
                              usable=lambda outputs: True) is None
    assert store.runs.reuse_cached(ids["b"], cache_key="k1", cache_parts={}, source_code=None, inputs={},
                              usable=lambda outputs: False) is None
    assert store.runs.get_step_run(ids["b"]).status == "pending"  # a refused hit writes nothing
    hit = store.runs.reuse_cached(ids["b"], cache_key="k1", cache_parts={"source": "s"}, source_code=None, inputs={},
                             usable=lambda outputs: set(outputs) == {"output"})
    assert hit is not None and hit[0] == ids["a"] and hit[1]["output"].id == out.id
    reused = store.runs.get_step_run(ids["b"])
    assert (reused.status, reused.cached_from, reused.outputs) == ("cached", ids["a"], {"output": out.id})


def test_a_finished_step_records_where_it_ran_in_the_same_write_and_long_names_are_cut_to_fit() -> None:
    store = get_store()
    run_id, ids = new_run(store)
    assert (store.runs.get_step_run(ids["a"]).host, store.runs.get_step_run(ids["a"]).resources) == (None, {})
    out = artifact(ids["a"])
    store.runs.finish_step(ids["a"], status="completed", new_artifacts=[out], outputs={"output": out.id},
                           host="node-7 (10.0.0.7)", worker="ray worker abc node def",
                           resources={"cpus": 2.0, "special": 1.0})
    store.runs.finish_step(ids["b"], status="failed", error="E", host="h" * 300, worker="<w>" * 100)
    a, b = store.runs.get_steps(run_id)
    assert (a.host, a.worker, a.resources) == ("node-7 (10.0.0.7)", "ray worker abc node def",
                                               {"cpus": 2.0, "special": 1.0})
    assert (b.host, b.worker, b.resources) == ("h" * 255, ("<w>" * 100)[:255], {})


def test_invalid_statuses_are_refused() -> None:
    store = get_store()
    run_id, ids = new_run(store)
    with pytest.raises(StoreError, match="invalid step status"):
        store.runs.finish_step(ids["a"], status="done")
    with pytest.raises(StoreError, match="invalid run status"):
        store.runs.finish_run(run_id, status="done")


def test_skipping_never_overwrites_a_finished_step() -> None:
    store = get_store()
    run_id, ids = new_run(store)
    store.runs.finish_step(ids["a"], status="failed", error="E", traceback="tb", attempts=1)
    store.runs.skip_steps(run_id, ["a", "b"], "stopped")
    statuses = {s.name: (s.status, s.error) for s in store.runs.get_steps(run_id)}
    assert statuses == {"a": ("failed", "E"), "b": ("skipped", "stopped")}


@pytest.mark.integration
def test_a_run_whose_process_died_is_reaped_as_failed() -> None:
    store = get_store()
    run_id, ids = new_run(store)
    store.runs.start_step(ids["a"], cache_key=None, cache_parts={}, source_code=None, inputs={})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET pid = :pid, pid_start = NULL WHERE id = :id", {"pid": dead.pid, "id": run_id})
    live_id, _ = new_run(store)
    assert store.runs.reap_abandoned_runs() == [run_id]
    run = store.runs.get_run(run_id)
    assert run.status == "failed"
    assert "ended without finishing it" in (run.error or "")
    assert {s.name: s.status for s in store.runs.get_steps(run_id)} == {"a": "failed", "b": "skipped"}
    assert store.runs.get_run(live_id).status == "running"
    assert store.runs.reap_abandoned_runs() == []


def test_a_run_on_another_host_is_reaped_only_when_its_heartbeat_is_stale() -> None:
    store = get_store()
    run_id, _ = new_run(store)
    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET hostname = 'elsewhere', heartbeat_at = :heartbeat_at WHERE id = :id",
                    {"heartbeat_at": utcnow() - timedelta(seconds=10), "id": run_id})
    assert store.runs.reap_abandoned_runs() == []
    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET heartbeat_at = :heartbeat_at WHERE id = :id",
                    {"heartbeat_at": utcnow() - timedelta(minutes=10), "id": run_id})
    assert store.runs.reap_abandoned_runs() == [run_id]


def test_list_runs_is_newest_first_and_filters() -> None:
    store = get_store()
    first, _ = new_run(store, pipeline="p")
    second, _ = new_run(store, pipeline="q")
    store.runs.finish_run(first, status="completed")
    assert [r.id for r in store.runs.list_runs()] == [second, first]
    assert [r.id for r in store.runs.list_runs(pipeline_name="p")] == [first]
    assert [r.id for r in store.runs.list_runs(status="completed")] == [first]
    assert store.runs.count_runs(pipeline_name="q") == 1
    assert [(p.name, n) for p, n, _last in store.runs.list_pipelines()] == [("p", 1), ("q", 1)]


def test_list_pipelines_gives_each_pipeline_its_newest_run_and_one_run_when_two_start_at_once() -> None:
    store = get_store()
    runs = {name: new_run(store, pipeline="p", run_id=f"{name}0000000-0000-0000-0000-000000000000")[0]
            for name in ("a", "b", "c")}
    other, _ = new_run(store, pipeline="q")
    with store.sql.write() as cur:
        cur.execute("UPDATE pipeline_runs SET start_time = :start_time WHERE id = :id",
                    {"start_time": utcnow() - timedelta(hours=1), "id": runs["a"]})
        cur.execute("UPDATE pipeline_runs SET start_time = :start_time WHERE id IN (:b, :c)",
                    {"start_time": utcnow() + timedelta(hours=1), "b": runs["b"], "c": runs["c"]})
    listed = {p.name: (n, latest.id if latest else None) for p, n, latest in store.runs.list_pipelines()}
    assert listed == {"p": (3, runs["b"]), "q": (1, other)}  # the tie goes to the smaller run id


def test_the_artifact_type_filter_takes_like_wildcards_literally() -> None:
    store = get_store()
    _run_id, ids = new_run(store, steps=("a",))
    store.runs.start_step(ids["a"], cache_key="k", cache_parts={}, source_code=None, inputs={})
    out = artifact(ids["a"])
    store.runs.finish_step(ids["a"], status="completed", new_artifacts=[out], outputs={"output": out.id}, attempts=1)
    for literal in ("%", "_", "i%", "%int", "in_", "/", "//%"):
        assert store.artifacts.list_artifacts(type_name=literal) == [], literal
        assert store.overview.count_artifacts_of_type(literal) == 0, literal
    assert [a.id for a in store.artifacts.list_artifacts(type_name="int")] == [out.id]
    assert store.overview.count_artifacts_of_type("builtins.int") == store.overview.count_artifacts_of_type("int") == 1
