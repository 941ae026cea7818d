"""A component's options are declared once, by its config model; defaults are read from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dosirak.artifacts.store import LocalArtifactStore
from dosirak.deployers.local import LocalDeployer
from dosirak.errors import FlavorError
from dosirak.orchestrators.local import LocalOrchestrator


def test_defaults_are_the_ones_the_config_model_declares() -> None:
    assert LocalDeployer.config_defaults() == {
        "host": "127.0.0.1", "port": 3000, "port_policy": "next", "workers": None, "api_keys": None,
        "ready_timeout_s": 60.0, "stop_timeout_s": 30.0,
    }
    assert LocalArtifactStore.config_defaults() == {"path": None, "storage_options": None}
    assert LocalOrchestrator.config_defaults() == {"max_parallel": None}


def test_a_deployers_options_are_its_config_over_the_defaults() -> None:
    options = LocalDeployer("d", {"port": 3100, "port_policy": "fail"}).options
    assert options["port"] == 3100
    assert options["port_policy"] == "fail"
    assert options["host"] == "127.0.0.1"
    assert options["stop_timeout_s"] == 30.0


def test_making_a_deployer_to_look_at_deployments_imports_no_pydantic() -> None:
    code = ("import json, sys\n"
            "from dosirak.deployers.local import LocalDeployer\n"
            "LocalDeployer('d', {'port': 3100})\n"
            "print(json.dumps('pydantic' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


def test_a_config_model_that_is_not_a_pydantic_model_is_refused() -> None:
    class Misconfigured(LocalOrchestrator):
        flavor = "misconfigured"
        config_model = "os.path:join"

    with pytest.raises(FlavorError, match="config_model 'os.path:join' is .*not a pydantic model"):
        Misconfigured.validate_config({})
