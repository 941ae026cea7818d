"""The local deployer against real `dosirak serve` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosirak import process
from dosirak.deployers import find_model_server, find_prediction_service
from dosirak.errors import DeploymentError, DeploymentStartError, PortInUseError, StackError
from dosirak.metadata.store import get_store
from tests.deployers.conftest import HERE, echo_request

pytestmark = pytest.mark.integration


def wait_until(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_deploy_records_the_service_and_answers_requests(deployer: Any) -> None:
    record = deployer.deploy(echo_request())
    assert record.status == "running"
    assert process.is_alive(record.pid, record.pid_start)
    assert record.url == f"http://127.0.0.1:{record.port}"
    assert (record.pipeline_name, record.step_name, record.model_name) == ("p", "deployer_step", "echo")
    assert record.started_at is not None and Path(str(record.log_path)).exists()
    assert httpx.get(f"{record.url}/readyz").status_code == 200
    found = find_model_server(pipeline_name="p", step_name="deployer_step", model_name="echo")
    assert [r.id for r in found] == [record.id]
    with find_prediction_service("p", "deployer_step", "echo") as service:
        assert service.predict("double", 21.0) == 42.0
    stopped = deployer.stop(record.id)
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    assert wait_until(lambda: not process.is_alive(record.pid, record.pid_start))
    assert find_model_server(model_name="echo") == []


def test_port_in_use_by_another_process_picks_the_next_free_port(deployer: Any) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        record = deployer.deploy(echo_request(port=taken))
        assert record.port != taken and record.port > taken
        assert httpx.get(f"{record.url}/readyz").status_code == 200


def test_port_in_use_fails_clearly_when_configured_to(deployer: Any) -> None:
    from dosirak.deployers.local import LocalDeployer

    strict = LocalDeployer("strict", {"port_policy": "fail"})
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {taken} on 127.0.0.1 is in use.*port-policy=next"):
            strict.deploy(echo_request(port=taken))
    assert get_store().deployments.list_deployments() == []  # nothing recorded, nothing started


def test_a_service_that_fails_to_start_reports_its_log_tail(deployer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_FAIL_AT_IMPORT", "1")
    with pytest.raises(DeploymentStartError, match="(?s)exited before it was ready.*could not be loaded.*ECHO_FAIL_AT_IMPORT is set"):
        deployer.deploy(echo_request(timeout_s=30.0))
    [record] = get_store().deployments.list_deployments()
    assert record.status == "failed" and "ECHO_FAIL_AT_IMPORT" in str(record.error)
    assert wait_until(lambda: not process.is_alive(record.pid, record.pid_start))


def test_a_killed_service_turns_failed_and_is_not_found(deployer: Any) -> None:
    record = deployer.deploy(echo_request())
    os.kill(record.pid, signal.SIGKILL)
    assert wait_until(lambda: not process.is_alive(record.pid, record.pid_start))
    assert find_model_server(model_name="echo") == []
    refreshed = get_store().deployments.get_deployment(record.id)
    assert refreshed.status == "failed" and "exited or was killed" in str(refreshed.error)
    with pytest.raises(DeploymentError, match="no running deployment of model 'echo'.*failed"):
        find_prediction_service("p", "deployer_step", "echo")
    # the workers a killed supervisor leaves behind are gone too: the port is free again
    assert wait_until(lambda: _refused(record.url))


def _refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/livez", timeout=1.0)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_a_reused_pid_is_not_mistaken_for_the_service(deployer: Any) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = get_store().deployments.create_deployment(
            name="echo", deployer="local_deployer", flavor="local", status="running", host="127.0.0.1", port=1,
            url="http://127.0.0.1:1", pid=stranger.pid, pid_start=(process.start_time(stranger.pid) or 0) + 1,
            model_name="echo", config={"target": "echo_service.py:Echo"})
        assert deployer.refresh(record).status == "failed"
        assert "belongs to another process" in str(get_store().deployments.get_deployment(record.id).error)
        deployer.stop(record.id)
        assert stranger.poll() is None  # never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_then_start_serves_again_and_delete_forgets(deployer: Any) -> None:
    record = deployer.deploy(echo_request())
    deployer.stop(record.id)
    restarted = deployer.start(record.id[:8])
    assert restarted.status == "running" and restarted.pid != record.pid
    with find_prediction_service("p", "deployer_step", "echo") as service:
        assert service.predict("double", 1.5) == 3.0
    with pytest.raises(DeploymentError, match="already running"):
        deployer.start(record.id)
    deployer.delete(record.id)
    assert get_store().deployments.list_deployments() == []
    assert wait_until(lambda: not process.is_alive(restarted.pid, restarted.pid_start))


def test_redeploy_replaces_the_old_service_on_the_same_port(deployer: Any) -> None:
    first = deployer.deploy(echo_request(port=0))
    second = deployer.deploy(echo_request(port=first.port))
    third = deployer.deploy(echo_request(port=0))  # any port: the one it has
    assert second.port == first.port == third.port and third.url == first.url
    old = get_store().deployments.get_deployment(first.id)
    assert old.status == "stopped" and old.extra["replaced_by"] == second.id
    assert wait_until(lambda: not process.is_alive(first.pid, first.pid_start))
    assert wait_until(lambda: not process.is_alive(second.pid, second.pid_start))
    assert [r.id for r in find_model_server(model_name="echo")] == [third.id]
    assert httpx.post(f"{third.url}/double", json=4.0).json() == 8.0


def test_a_port_held_by_a_deployment_of_another_name_is_not_taken_over(deployer: Any) -> None:
    first = deployer.deploy(echo_request(port=0))
    other = deployer.deploy(echo_request(name="other", port=first.port))
    assert other.port != first.port
    assert get_store().deployments.get_deployment(first.id).status == "running"
    assert process.is_alive(first.pid, first.pid_start)


def test_a_deployment_without_a_control_socket_is_replaced_on_another_port(deployer: Any) -> None:
    from dosirak.settings import get_settings

    first = deployer.deploy(echo_request(port=0))
    (get_settings().deployments_root / first.id / "control.sock").unlink()  # as a server of an older dosirak
    second = deployer.deploy(echo_request(port=first.port))
    assert second.port != first.port and second.status == "running"
    assert wait_until(lambda: not process.is_alive(first.pid, first.pid_start))


def test_a_failed_redeploy_leaves_the_old_service_serving_on_its_port(
        deployer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first = deployer.deploy(echo_request(port=0))
    monkeypatch.setenv("ECHO_FAIL_AT_IMPORT", "1")
    with pytest.raises(DeploymentStartError, match="exited before it was ready"):
        deployer.deploy(echo_request(port=first.port))
    assert get_store().deployments.get_deployment(first.id).status == "running"
    assert httpx.post(f"{first.url}/double", json=4.0).json() == 8.0
    monkeypatch.delenv("ECHO_FAIL_AT_IMPORT")
    again = deployer.deploy(echo_request(port=first.port))
    assert again.port == first.port


def test_a_found_server_gives_a_client_with_a_method_per_api(deployer: Any) -> None:
    record = deployer.deploy(echo_request())
    [server] = find_model_server(pipeline_name="p", step_name="deployer_step", model_name="echo")
    assert server.id == record.id and server.url == record.url and server.status == "running"
    with server.client() as client:
        assert client.double(21.0) == 42.0


def test_a_stack_without_model_deployer_says_how_to_register_one() -> None:
    from dosirak.stack.stack import load_stack

    with pytest.raises(StackError, match="model-deployer register local_deployer --flavor=local"):
        load_stack(get_store()).deployer()


def test_record_is_frozen_and_docs_url_follows_url(deployer: Any) -> None:
    record = get_store().deployments.create_deployment(name="x", deployer="d", flavor="local", url="http://h:1")
    assert record.docs_url == "http://h:1/docs"
    assert replace(record, url=None).docs_url is None
    with pytest.raises(AttributeError):
        record.status = "running"  # type: ignore[misc]
    assert HERE.is_dir()


ECHO_KEY_A = "echo-key-a-0123456789abcdef"
ECHO_KEY_B = "echo-key-b-fedcba9876543210"


def test_a_deployment_with_api_keys_requires_them_and_records_only_the_variable_name(
        deployer: Any, dosirak_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from dosirak.deployers.prediction_service import PredictionServiceMaterializer

    monkeypatch.setenv("ECHO_API_KEYS", f"{ECHO_KEY_A},{ECHO_KEY_B}")
    record = deployer.deploy(echo_request(api_key_env="ECHO_API_KEYS"))
    assert record.status == "running" and record.config["api_key_env"] == "ECHO_API_KEYS"
    assert httpx.get(f"{record.url}/readyz").status_code == 200
    assert httpx.post(f"{record.url}/double", json=2.0).status_code == 401
    for key in (ECHO_KEY_A, ECHO_KEY_B):
        assert httpx.post(f"{record.url}/double", json=2.0, headers={"authorization": f"Bearer {key}"}).json() == 4.0
    with find_prediction_service("p", "deployer_step", "echo") as service:
        assert service.api_key_env == "ECHO_API_KEYS"
        assert service.predict("double", 21.0) == 42.0
        PredictionServiceMaterializer().save(service, dosirak_home)
    # the key is in no record, artifact, log or command line: only the variable's name is
    stored = [p.read_bytes() for p in dosirak_home.rglob("*") if p.is_file()]
    assert stored and not any(ECHO_KEY_A.encode() in data or ECHO_KEY_B.encode() in data for data in stored)
    cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    assert b"ECHO_API_KEYS" in cmdline and ECHO_KEY_A.encode() not in cmdline
    assert json.loads((dosirak_home / "service.json").read_text())["api_key_env"] == "ECHO_API_KEYS"


def test_the_prediction_service_names_the_variable_to_set_when_its_key_is_missing(
        deployer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.errors import ConfigError

    monkeypatch.setenv("ECHO_API_KEYS", ECHO_KEY_A)
    deployer.deploy(echo_request(api_key_env="ECHO_API_KEYS"))
    monkeypatch.delenv("ECHO_API_KEYS")
    with find_prediction_service("p", "deployer_step", "echo") as service, \
            pytest.raises(ConfigError, match=r"requires an API key.*set ECHO_API_KEYS in this process"):
        service.predict("double", 1.0)


def test_an_unusable_api_key_variable_is_refused_before_anything_is_recorded_or_started(
        deployer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.errors import ConfigError

    monkeypatch.delenv("ECHO_API_KEYS", raising=False)
    with pytest.raises(ConfigError, match="ECHO_API_KEYS named by --api-key-env is not set"):
        deployer.deploy(echo_request(api_key_env="ECHO_API_KEYS"))
    assert get_store().deployments.list_deployments() == []


def test_the_deployer_config_names_the_key_variable_for_every_deployment(
        dosirak_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.deployers.local import LocalDeployer
    from dosirak.errors import ConfigError

    monkeypatch.delenv("TEAM_KEYS", raising=False)
    keyed = LocalDeployer("keyed", {"api_keys": "{env:TEAM_KEYS}"})
    with pytest.raises(ConfigError, match="TEAM_KEYS named by --api-key-env is not set"):
        keyed.deploy(echo_request())
    with pytest.raises(ConfigError, match=r"option 'api_keys' must name .* \{env:NAME\}") as info:
        LocalDeployer("clear", {"api_keys": ECHO_KEY_A}).deploy(echo_request())
    assert ECHO_KEY_A not in str(info.value)
    assert get_store().deployments.list_deployments() == []


def test_the_deployer_registers_its_key_variable_as_a_reference_only() -> None:
    from dosirak.errors import ConfigError
    from dosirak.stack.flavors import flavor_class

    local = flavor_class("model-deployer", "local")
    assert local.validate_config({"api_keys": "{env:TEAM_KEYS}"})["api_keys"] == "{env:TEAM_KEYS}"
    with pytest.raises(ConfigError, match="--api-keys") as info:
        local.validate_config({"api_keys": ECHO_KEY_A})
    assert ECHO_KEY_A not in str(info.value)


def test_starting_a_keyed_deployment_again_needs_its_variable(
        deployer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.errors import ConfigError

    monkeypatch.setenv("ECHO_API_KEYS", ECHO_KEY_A)
    record = deployer.deploy(echo_request(api_key_env="ECHO_API_KEYS"))
    deployer.stop(record.id)
    monkeypatch.delenv("ECHO_API_KEYS")
    with pytest.raises(ConfigError, match="ECHO_API_KEYS"):
        deployer.start(record.id)
    assert get_store().deployments.get_deployment(record.id).status == "stopped"


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_deployments_run_two_workers_on_two_or_more_cores_unless_told_otherwise(deployer: Any) -> None:
    from dosirak.serving.server import cpu_count

    default = deployer.deploy(echo_request())
    expected = 2 if cpu_count() >= 2 else None
    assert default.config["workers"] == expected
    assert wait_until(lambda: len(_children(default.pid)) == (expected or 1))
    explicit = deployer.deploy(echo_request(workers=1))
    assert explicit.config["workers"] == 1
    assert wait_until(lambda: len(_children(explicit.pid)) == 1)
