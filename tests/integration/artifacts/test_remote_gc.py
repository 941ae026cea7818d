"""A run on an S3 store (moto's server) killed with SIGKILL between uploading an output and recording
it: ``dosirak gc`` lists then removes the objects no row names, and the next run removes them too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dosirak import Client
from dosirak.artifacts.store import artifact_store_for
from dosirak.metadata.store import get_store
from tests.integration.artifacts.conftest import BUCKET, objects
from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINES = "tests/_pipelines/interrupted_writes.py"


def dosirak(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dosirak.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**python_env(), **env}, cwd=REPO)


@pytest.fixture
def s3_stack(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The active stack's artifact store: the ``s3`` flavor on a fresh prefix of moto's bucket."""
    monkeypatch.setenv("DK_TEST_KEY_ID", "testing-access-key")
    monkeypatch.setenv("DK_TEST_SECRET_KEY", "testing-secret-key")
    monkeypatch.setenv("DOSIRAK_PROGRESS", "off")
    config = {"path": f"s3://{BUCKET}/{uuid.uuid4().hex}", "endpoint_url": moto_s3, "region": "us-east-1",
              "access_key_id": "{env:DK_TEST_KEY_ID}", "secret_access_key": "{env:DK_TEST_SECRET_KEY}"}
    stacks = get_store().stacks
    stacks.register_component("artifact-store", "team", "s3", config)
    stacks.register_stack("shared", {"orchestrator": "default", "artifact-store": "team"})
    stacks.set_active_stack("shared")
    return config


def kill_after_upload(tmp_path: Path) -> str:
    """Run ``hooked_write`` and SIGKILL it once ``published``'s output is uploaded, not yet recorded; the run id."""
    marker = tmp_path / "hook-called"
    proc = subprocess.Popen([sys.executable, "-m", "dosirak.cli.main", "run", f"{PIPELINES}:hooked_write"],
                            env={**python_env(), "DOSIRAK_TEST_HOOK_MARKER": str(marker)}, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the output was never published"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    (run_id,) = get_store().references.run_states()
    return str(run_id)


def test_gc_lists_then_removes_the_objects_a_killed_run_left_and_keeps_what_rows_name(
        s3_stack: dict[str, Any], tmp_path: Path) -> None:
    run_id = kill_after_upload(tmp_path)
    before = objects(s3_stack["endpoint_url"], s3_stack)
    assert any(k.startswith(f"{run_id}/published/output/") for k in before), before
    assert any(k.startswith(f"{run_id}/prepare/output/") for k in before), before

    dry = dosirak("gc", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    orphan = f"{s3_stack['path']}/{run_id}/published/output"
    assert [(o["kind"], o["path"]) for o in report["orphans"]] == [("artifact", orphan)], report
    assert report["orphans"][0]["bytes"] >= 256 * 1024 and "is failed" in report["orphans"][0]["reason"]
    assert objects(s3_stack["endpoint_url"], s3_stack) == before  # a dry run removes nothing

    done = dosirak("gc")
    assert done.returncode == 0, done.stderr
    assert "removed 1 artifact" in done.stdout, done.stdout
    after = objects(s3_stack["endpoint_url"], s3_stack)
    assert after == [k for k in before if not k.startswith(f"{run_id}/published/")]
    artifact_store_for("s3", s3_stack, "team")  # this process reads the bucket with the store's credentials
    killed = Client().get_run(run_id)
    assert killed.status == "failed"
    assert killed.steps["prepare"].output.load() == list(range(1000))  # what a row names stays
    assert json.loads(dosirak("gc", "--json").stdout)["total"]["count"] == 0


def test_the_next_run_removes_what_a_killed_run_left_on_s3(s3_stack: dict[str, Any], tmp_path: Path) -> None:
    run_id = kill_after_upload(tmp_path)
    assert any(k.startswith(f"{run_id}/published/") for k in objects(s3_stack["endpoint_url"], s3_stack))
    nxt = dosirak("run", f"{PIPELINES}:quick")  # finds the killed run dead, and cleans up after it
    assert nxt.returncode == 0, nxt.stderr
    assert "removed what killed runs left in artifact-store 'team': 1 unrecorded outputs" in nxt.stderr
    left = objects(s3_stack["endpoint_url"], s3_stack)
    assert not any(k.startswith(f"{run_id}/published/") for k in left), left
    assert any(k.startswith(f"{run_id}/prepare/output/") for k in left), left
