"""`dosirak deployment ...` against a real served process."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from dosirak.cli.deployments import deployment
from dosirak.metadata.store import get_store
from tests.deployers.conftest import echo_request

pytestmark = pytest.mark.integration


def test_list_describe_logs_stop_start_delete(deployer: Any) -> None:
    from dosirak.metadata.store import get_store as store

    store().stacks.register_component("model-deployer", "local_deployer", "local", {})
    record = deployer.deploy(echo_request())
    runner = CliRunner()
    short = record.id[:8]
    listed = runner.invoke(deployment, ["list", "--json"])
    assert listed.exit_code == 0 and record.id in listed.output and '"running"' in listed.output
    described = runner.invoke(deployment, ["describe", short, "--json"])
    assert described.exit_code == 0 and record.url in described.output and '"deployer_step"' in described.output
    logs = runner.invoke(deployment, ["logs", short])
    assert logs.exit_code == 0 and "ready on" in logs.output
    stopped = runner.invoke(deployment, ["stop", short])
    assert stopped.exit_code == 0 and "is stopped" in stopped.output
    started = runner.invoke(deployment, ["start", short])
    assert started.exit_code == 0 and "is running at http://127.0.0.1:" in started.output
    deleted = runner.invoke(deployment, ["delete", short, "--yes"])
    assert deleted.exit_code == 0 and get_store().deployments.list_deployments() == []
