"""One way in: every concept of an up-to-date SQLite store works without importing SQLAlchemy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dosirak.metadata.store import get_store

pytestmark = pytest.mark.integration

#: Uses every concept of the store (each method at least once, reads and writes), then
#: reports which of SQLAlchemy and alembic it imported, and a few results to check.
EVERY_CONCEPT = """
import json, sys, uuid
from datetime import UTC, datetime
from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.store import get_store

store = get_store()
runs, artifacts, stacks = store.runs, store.artifacts, store.stacks
run_id, step_id = str(uuid.uuid4()), str(uuid.uuid4())
runs.reap_abandoned_runs()
runs.create_run(run_id=run_id, name="r", pipeline_name="p", parameters={"n": 1}, config={},
                dag={"steps": [{"name": "s"}]}, stack_name="default", orchestrator="local",
                steps=[{"id": step_id, "name": "s", "step_type": "m.f"}])
runs.start_step(step_id, cache_key="k", cache_parts={}, source_code=None, inputs={})
out = ArtifactRecord(id=str(uuid.uuid4()), uri="/tmp/x", type="builtins.int", materializer="m:M",
                     materializer_version="1", content_hash="0" * 64, size=1, producer_step_run_id=step_id,
                     name="output", created_at=datetime.now(UTC))
runs.finish_step(step_id, status="completed", new_artifacts=[out], outputs={"output": out.id})
runs.heartbeat(run_id)
runs.finish_run(run_id, status="completed")
runs.get_run(run_id[:8]), runs.get_steps(run_id), runs.get_step_run(step_id), runs.count_runs()
runs.previous_step_run("p", "s", run_id), runs.step_run_context(step_id), runs.get_pipeline_record("p")
listed = [r.id for r in runs.list_runs(pipeline_name="p", status="completed")]
pipelines = [(p.name, n, latest.id) for p, n, latest in runs.list_pipelines()]

artifacts.get_artifact(out.id[:8]), artifacts.get_artifacts([out.id]), artifacts.count_artifacts()
typed = [a.id for a in artifacts.list_artifacts(type_name="int")]
links = artifacts.artifact_links(out.id) == [("output", "output", step_id, "s", run_id)]

stacks.register_component("orchestrator", "o2", "local", {})
stacks.update_component("orchestrator", "o2", {"workers": 2})
stacks.register_component("artifact-store", "a2", "local", {"path": "/tmp/a2"})
stacks.register_stack("s2", {"orchestrator": "o2", "artifact-store": "a2"})
stacks.set_active_stack("s2"), stacks.get_stack(), stacks.list_stacks(), stacks.list_components("orchestrator")
stacks.get_component("orchestrator", "o2"), stacks.active_stack_name()
stacks.set_active_stack("default"), stacks.delete_stack("s2"), stacks.delete_component("orchestrator", "o2")
stacks.set_value("k", {"v": 1})

refs = store.references
refs.run_states(), refs.run_states([run_id]), refs.artifact_uris(), refs.artifact_uris([run_id]), refs.bundle_paths()
refs.model_version_uris()
with refs.model_versions_held():
    pass

models = store.models
version = models.create_model_version("m", framework="pickle", place=lambda v, i: f"/tmp/m/{v}", files={})
models.create_model_version("m", framework="pickle", place=lambda v, i: f"/tmp/m/{v}", files={})
models.set_model_alias("m", "prod", 1), models.set_model_alias("m", "prod", 2)
models.remove_model_alias("m", "prod"), models.set_model_alias("m", "staging", 1)
models.get_model_version("m"), models.get_model_version("m", "2"), models.get_model_version("m", "staging")
models.get_model_version_by_id(version.id), models.list_model_versions("m"), models.list_models()
models.delete_model_version("m", 2)
history = [(h.alias, h.from_version, h.to_version) for h in models.model_alias_history("m")]

bundles = store.bundles
bundle = bundles.create_bundle(bundle_id=str(uuid.uuid4()), name="b", version="1", path="/tmp/b", service="s.py:S",
                               created_at=datetime.now(UTC), size=1, manifest_hash="0" * 64, labels={}, apis=[],
                               models=[], model_version_ids=[version.id])
bundles.get_bundle("b"), bundles.get_bundle_by_id(bundle.id), bundles.list_bundles()
bundles.bundles_with_model_version(version.id)
bundles.record_image(bundle_id=bundle.id, reference="b:1", location="local", digest="sha256:" + "0" * 64,
                     builder="docker", size=1, base_image="python")
bundles.list_images(bundle.id)

deployments = store.deployments
first = deployments.create_deployment(name="d", deployer="local", flavor="local", bundle_id=bundle.id,
                                      model_version_id=version.id)
second = deployments.create_deployment(name="d", deployer="local", flavor="local")
deployments.switch_deployments(second.id, [first.id])
deployments.update_deployment(first.id, status="stopped", extra={"why": "replaced"})
deployments.get_deployment(first.id[:8]), deployments.list_deployments(name="d", statuses=("stopped",))
deployments.delete_deployment(first.id)
bundles.delete_bundle("b", "1")
models.delete_model("m")

overview = store.overview
overview.step_status_counts([run_id]), overview.run_timeline("p"), overview.count_artifacts_of_type("int")
overview.step_run_names([step_id])
print(json.dumps({
    "loaded": sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules),
    "listed": listed == [run_id], "pipelines": pipelines == [("p", 1, run_id)], "typed": typed == [out.id],
    "links": links, "history": history, "counts": overview.store_counts(),
}))
"""


def test_every_concept_of_an_up_to_date_sqlite_store_works_without_importing_sqlalchemy(dosirak_home: Path) -> None:
    get_store()  # creates the schema: migrating is the one thing that imports SQLAlchemy and alembic
    out = subprocess.run([sys.executable, "-W", "error", "-c", EVERY_CONCEPT], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {
        "loaded": [], "listed": True, "pipelines": True, "typed": True,
        "links": True, "history": [["prod", None, 1], ["prod", 1, 2], ["prod", 2, None], ["staging", None, 1]],
        "counts": {"pipelines": 1, "runs": 1, "step_runs": 1, "artifacts": 1},
    }
