"""A real dashboard server over a store filled by real pipelines, and a Chromium to look at it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def start_server(home: Path, env_extra: dict[str, str] | None = None, host: str = "127.0.0.1") -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``python -m dosirak.dashboard.server`` on a free port; returns the process and its state file."""
    env = {**os.environ, "DOSIRAK_HOME": str(home), **(env_extra or {})}
    state_file = home / "run" / "dashboard.json"
    proc = subprocess.Popen([sys.executable, "-m", "dosirak.dashboard.server", "--host", host, "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def ready() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise AssertionError(f"dashboard exited: {proc.stdout.read().decode() if proc.stdout else ''}")
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if state["pid"] == proc.pid else None

    return proc, wait_for(ready, 20, "the dashboard's state file")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture
def dashboard(dosirak_home: Path) -> Iterator[str]:
    """The base URL (no trailing slash) of a dashboard serving this test's home."""
    proc, state = start_server(dosirak_home)
    try:
        yield state["url"].rstrip("/")
    finally:
        stop_server(proc)


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page that fails the test on any JavaScript dialog or page error, and screenshots at the end."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.problems = problems
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    finally:
        context.close()


def shot(pg: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def deployed_echo(dosirak_home: Path) -> Iterator[Any]:
    """The echo service deployed by the local deployer (its process group killed afterwards)."""
    from dosirak.deployers.base import DeploymentRequest
    from dosirak.deployers.local import LocalDeployer
    from dosirak.metadata.store import get_store

    deployer = LocalDeployer("local_deployer", {"ready_timeout_s": 60.0, "stop_timeout_s": 10.0})
    record = deployer.deploy(DeploymentRequest(target="echo_service.py:Echo", name="echo", port=0, cwd=str(HERE),
                                               model_name="echo", pipeline_name="training", step_name="deployer"))
    try:
        yield record
    finally:
        from dosirak import process

        for d in get_store().deployments.list_deployments():
            if d.pid and process.is_alive(d.pid, d.pid_start):
                try:
                    os.killpg(d.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
