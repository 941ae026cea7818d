"""A pipeline process killed with SIGKILL mid-run: the store stays consistent and a rerun resumes from the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosirak import Client
from tests.integration.pipelines.test_client_process import REPO, python_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def blocked_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-m", "tests._pipelines.resumable", str(gate)], env=python_env(),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, gate
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def test_killed_run_is_marked_failed_and_a_rerun_resumes_from_the_cache(
    blocked_run: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, gate = blocked_run
    started = Path(str(gate) + ".started")

    def third_step_started() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        return started.exists() and bool(started.read_text())

    wait_for(third_step_started, 120, "the third step to start")
    run_id = started.read_text()
    running = Client().get_run(run_id)
    assert running.status == "running"
    assert "waiting for the gate" in running.steps["wait_for_gate"].logs()  # readable live
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    killed = Client().get_run(run_id)
    assert killed.status == "failed"
    assert "ended without finishing it" in killed.error
    assert {n: s.status for n, s in killed.steps.items()} == {
        "load": "completed", "double": "completed", "wait_for_gate": "failed", "report": "skipped"}
    assert killed.steps["double"].output.load() == [0, 2, 4, 6]
    assert "waiting for the gate" in killed.steps["wait_for_gate"].logs()

    from tests._pipelines.resumable import resumable

    gate.write_text("open")
    rerun = resumable(gate=str(gate))
    assert {n: s.status for n, s in rerun.steps.items()} == {
        "load": "cached", "double": "cached", "wait_for_gate": "completed", "report": "completed"}
    assert rerun.steps["double"].cached_from == killed.steps["double"].id
    assert rerun.steps["report"].output.load() == "total=12"
