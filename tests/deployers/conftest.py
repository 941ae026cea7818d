"""Fixtures for deployer tests: a local deployer, and cleanup of every process a test started."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def kill_deployments() -> None:
    """SIGKILL the process group of every deployment still recorded with a live process."""
    from dosirak import process
    from dosirak.metadata.store import get_store

    for record in get_store().deployments.list_deployments():
        if record.pid and process.is_alive(record.pid, record.pid_start):
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def deployer(dosirak_home: Path) -> Iterator[object]:
    from dosirak.deployers.local import LocalDeployer

    yield LocalDeployer("local_deployer", {"ready_timeout_s": 60.0, "stop_timeout_s": 10.0})
    kill_deployments()


def echo_request(**overrides: object) -> object:
    from dosirak.deployers.base import DeploymentRequest

    values: dict[str, object] = {"target": "echo_service.py:Echo", "name": "echo", "port": 0, "cwd": str(HERE),
                                 "model_name": "echo", "pipeline_name": "p", "step_name": "deployer_step"}
    values.update(overrides)
    return DeploymentRequest(**values)  # type: ignore[arg-type]
