"""Fixtures for the dashboard's tests: a store seeded with runs (and a registry), and an in-process client."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.client import AppClient
from tests.dashboard.seeding import seed_run

XSS = "<script>alert(1)</script>"


@pytest.fixture
def store(dosirak_home: Path) -> Any:
    from dosirak.metadata.store import get_store

    return get_store()


@pytest.fixture
def client(store: Any) -> AppClient:
    from dosirak.dashboard.app import create_app

    return AppClient(create_app())


@pytest.fixture
def seeded(store: Any, dosirak_home: Path) -> dict[str, Any]:
    """A completed run, a failed run with a skipped step, and a running run."""
    ok, ok_steps = seed_run(store, dosirak_home, pipeline="training",
                            log_lines={"train": "epoch 1 loss=0.5\nepoch 2 loss=0.25\n"})
    bad, bad_steps = seed_run(store, dosirak_home, pipeline="training", statuses={"train": "failed", "evaluate": "skipped"},
                              run_status="failed")
    live, live_steps = seed_run(store, dosirak_home, pipeline="other", statuses={"train": "running", "evaluate": "pending"},
                                run_status=None)
    artifact_id = store.runs.get_steps(ok)[0].outputs["output"]
    return {"ok": ok, "ok_steps": ok_steps, "bad": bad, "bad_steps": bad_steps, "live": live,
            "live_steps": live_steps, "artifact": artifact_id}


@pytest.fixture
def registry(store: Any, dosirak_home: Path, seeded: dict[str, Any]) -> dict[str, Any]:
    """Two versions of model 'clf' (the second aliased 'production'), a bundle of it and a stopped deployment."""
    from dosirak.metadata.timeutil import utcnow
    from dosirak.models import api as models

    v1 = models.save("clf", {"w": [1]}, metrics={"accuracy": 0.8, "f1": 0.7}, run_id=seeded["ok"])
    v2 = models.save("clf", {"w": [2]}, metrics={"accuracy": 0.9}, labels={"note": XSS})
    models.alias("clf:2", "production")
    bundle_dir = dosirak_home / "bundles" / "clf" / "v1"
    bundle_dir.mkdir(parents=True)
    (bundle_dir / "requirements.txt").write_text("numpy==2.4.6\n")
    (bundle_dir / "bundle.yaml").write_text("name: clf\n")
    bundle = store.bundles.create_bundle(
        bundle_id=str(uuid.uuid4()), name="clf", version="v1", path=str(bundle_dir), service="service.py:Clf",
        created_at=utcnow(), size=42, manifest_hash="0" * 64, labels={}, models=[{"name": "clf", "version": 2}],
        apis=[{"name": "predict", "route": "/predict", "batchable": True, "max_batch_size": 64, "max_latency_ms": 10,
               "input": {"type": "array"}, "output": {"type": "array"}}], model_version_ids=[v2.id])
    log = dosirak_home / "deploy.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + XSS + "\n")
    deployment = store.deployments.create_deployment(name="clf", deployer="local_deployer", flavor="local", status="stopped",
                                         bundle_id=bundle.id, model_name="clf", url="http://127.0.0.1:1",
                                         log_path=str(log), run_id=seeded["ok"], pipeline_name="training")
    return {"v1": v1, "v2": v2, "bundle": bundle, "deployment": deployment}
