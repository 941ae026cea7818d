"""Runs killed with SIGKILL mid-write: the next run and ``dosirak gc`` clean up what they left, and nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dosirak import Client
from dosirak.settings import get_settings
from tests.integration.cli.test_subprocess import DOSIRAK, dosirak, ok
from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINES = "tests/_pipelines/interrupted_writes.py"


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def start_run() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``dosirak run`` in the background; whatever is still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(target: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([DOSIRAK, "run", f"{PIPELINES}:{target}"], env={**python_env(), **env}, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def partial_blobs() -> list[Path]:
    """``blob.bin`` files being written in a staging directory, with at least 1 MiB in them."""
    root = get_settings().artifact_root
    if not root.exists():
        return []
    return [p for p in root.rglob("blob.bin")
            if any(part.startswith(".staging") for part in p.relative_to(root).parts)
            and p.stat().st_size >= 1 << 20]


def kill_mid_write(start_run: Callable[..., subprocess.Popen[str]]) -> Path:
    """Start ``slow_write``, SIGKILL it once its artifact is partly written; the partial file."""
    proc = start_run("slow_write")

    def writing() -> list[Path]:
        assert proc.poll() is None, proc.communicate()
        return partial_blobs()

    blob = wait_for(writing, 120, "the slow artifact to be partly written")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return blob[0]  # type: ignore[index]


def staged_files() -> list[Path]:
    root = get_settings().artifact_root
    return [p for p in root.rglob("*") if p.is_file() and any(part.startswith(".staging") for part in
                                                              p.relative_to(root).parts)]


def test_the_next_run_removes_the_partial_artifact_of_a_killed_run(
    start_run: Callable[..., subprocess.Popen[str]],
) -> None:
    blob = kill_mid_write(start_run)
    assert blob.exists()

    out = ok("run", f"{PIPELINES}:quick")
    assert "completed" in out
    assert staged_files() == []
    killed = [r for r in Client().list_runs() if r.pipeline_name == "slow_write"][0]
    assert killed.status == "failed"
    assert killed.steps["prepare"].output.load() == list(range(1000))  # finished work stays


def test_the_next_run_keeps_the_staging_of_a_run_still_writing(
    start_run: Callable[..., subprocess.Popen[str]],
) -> None:
    proc = start_run("slow_write")
    blob = wait_for(partial_blobs, 120, "the slow artifact to be partly written")
    ok("run", f"{PIPELINES}:quick")
    assert proc.poll() is None
    assert all(p.exists() for p in blob)  # type: ignore[attr-defined]
    assert json.loads(ok("gc", "--json"))["total"]["count"] == 0  # a live run's files are not orphans
    assert all(p.exists() for p in blob)  # type: ignore[attr-defined]


def test_gc_reports_then_removes_what_killed_runs_left_and_keeps_what_rows_refer_to(
    start_run: Callable[..., subprocess.Popen[str]], tmp_path: Path,
) -> None:
    # both runs are alive at once (a run starting cleans up after runs already dead), then both are killed
    marker = tmp_path / "hook-called"
    proc = start_run("hooked_write", DOSIRAK_TEST_HOOK_MARKER=str(marker))
    wait_for(lambda: proc.poll() is None and marker.exists() or proc.poll() is not None, 120,
             "the output hook to be called")
    assert proc.poll() is None, proc.communicate()
    blob = kill_mid_write(start_run)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    hooked_run = next(r for r in Client().list_runs() if r.pipeline_name == "hooked_write")
    unrecorded = get_settings().artifact_root / hooked_run.id / "published" / "output"
    assert unrecorded.is_dir() and hooked_run.steps["published"].outputs == {}

    report = json.loads(ok("gc", "--dry-run", "--json"))
    assert report["dry_run"] is True
    kinds = report["kinds"]
    assert kinds["staging"]["count"] == 2 and kinds["staging"]["bytes"] >= 1 << 20  # one area per killed run
    assert kinds["artifact"] == {"count": 1, "bytes": 256 * 1024}
    assert {k: v["count"] for k, v in kinds.items() if k not in ("staging", "artifact")} == {
        "model-tmp": 0, "model": 0, "bundle-tmp": 0, "bundle": 0}
    assert blob.exists() and unrecorded.exists()  # a dry run removes nothing
    assert "would remove 2 staging" in ok("gc", "--dry-run")

    removed = json.loads(ok("gc", "--json"))
    assert removed["dry_run"] is False and removed["errors"] == []
    assert removed["kinds"] == kinds
    assert not blob.exists() and not unrecorded.exists()
    assert staged_files() == []
    for run in Client().list_runs():
        assert run.status == "failed"
        assert run.steps["prepare"].output.load() == list(range(1000))  # referenced: kept
    assert json.loads(ok("gc", "--json"))["total"] == {"count": 0, "bytes": 0}


def test_gc_help_and_bad_options_from_the_shell() -> None:
    assert "--dry-run" in ok("gc", "--help")
    bad = dosirak("gc", "--nope")
    assert bad.returncode == 2 and "No such option" in bad.stderr
