"""What rows refer to on disk, read through either driver, and the lock held while model versions are checked."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from dosirak.metadata.driver import EngineDriver, SqliteDriver, sqlite_path
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.store import MetadataStore, get_store


@pytest.fixture(params=["sqlite3", "sqlalchemy-engine"])
def store(request: pytest.FixtureRequest) -> MetadataStore:
    opened = get_store()
    if request.param == "sqlite3":
        assert isinstance(opened.sql, SqliteDriver)
        return opened
    url = f"{opened.url}?timeout=30"
    assert sqlite_path(url) is None
    engine_store = get_store(url)
    assert isinstance(engine_store.sql, EngineDriver)
    return engine_store


def _run_with_output(store: MetadataStore, uri: str, status: str) -> str:
    run_id, step_id = str(uuid.uuid4()), str(uuid.uuid4())
    store.runs.create_run(run_id=run_id, name=run_id[:8], pipeline_name="p", parameters={}, config={}, dag={},
                     stack_name=None, orchestrator=None, steps=[{"id": step_id, "name": "s", "step_type": "t"}])
    artifact = ArtifactRecord(id=str(uuid.uuid4()), uri=uri, type="builtins.int", materializer="m",
                              materializer_version="1", content_hash="0" * 64, size=1, producer_step_run_id=step_id,
                              name="output", created_at=datetime.now(UTC), summary={})
    store.runs.finish_step(step_id, status="completed", new_artifacts=[artifact], outputs={"output": artifact.id})
    if status != "running":
        store.runs.finish_run(run_id, status=status)
    return run_id


def test_run_states_and_artifact_uris_of_some_runs_or_all(store: MetadataStore) -> None:
    done = _run_with_output(store, "/a/done/s/output", "completed")
    live = _run_with_output(store, "/a/live/s/output", "running")
    assert store.references.run_states([done, live, "no-such-run"]) == {done: "completed", live: "running"}
    assert store.references.run_states() == {done: "completed", live: "running"}
    assert store.references.artifact_uris([done]) == {"/a/done/s/output"}
    assert store.references.artifact_uris() == {"/a/done/s/output", "/a/live/s/output"}
    many = [str(uuid.uuid4()) for _ in range(1200)] + [done]  # more ids than one IN list holds
    assert store.references.run_states(many) == {done: "completed"}


def test_model_and_bundle_paths(store: MetadataStore) -> None:
    store.models.create_model_version("m", framework="pickle", place=lambda v, i: f"/models/m/{v}", files={})
    store.bundles.create_bundle(bundle_id=str(uuid.uuid4()), name="b", version="1", path="/bundles/b/1", service="s:S",
                        created_at=datetime.now(UTC), size=0, manifest_hash="0" * 64, labels={}, apis=[], models=[])
    assert store.references.model_version_uris() == {"/models/m/1"}
    assert store.references.bundle_paths() == {"/bundles/b/1"}


def test_no_model_version_is_recorded_while_they_are_held() -> None:
    store = get_store()
    other = MetadataStore(store.url)  # another connection, as another process has
    recorded = threading.Event()

    def save() -> None:
        get_store(f"{store.url}?timeout=30").models.create_model_version(
            "m", framework="pickle", place=lambda v, i: f"/models/m/{v}", files={})
        recorded.set()

    with store.references.model_versions_held() as uris:
        assert uris == set()
        saver = threading.Thread(target=save)
        saver.start()
        assert not recorded.wait(0.5)  # the saver waits for the lock
        assert other.references.model_version_uris() == set()
    assert recorded.wait(30)
    saver.join(30)
    assert store.references.model_version_uris() == {"/models/m/1"}
    other.close()
