"""The built-in deployment steps: decisions, missing deployers, missing services."""

from __future__ import annotations

from typing import Any

import pytest

from dosirak import pipeline, step
from dosirak.errors import DeploymentError, RunFailedError
from dosirak.steps import model_deployer, prediction_service_loader


@step
def tag() -> str:
    return "fashion_mnist:20990101-0001"


def _fake_bundle() -> None:
    """A bundle row (the steps only read its record; no files needed when nothing is served)."""
    from dosirak.metadata.store import get_store
    from dosirak.metadata.timeutil import utcnow

    get_store().bundles.create_bundle(bundle_id="b1", name="fashion_mnist", version="20990101-0001", path="/nonexistent",
                              service="service.py:FashionMNIST", created_at=utcnow(), size=0, manifest_hash="x",
                              labels={}, apis=[], models=[{"name": "fashion_mnist", "id": "v1"}])


def test_a_false_decision_deploys_nothing_and_records_why() -> None:
    _fake_bundle()

    @pipeline(enable_cache=False)
    def deploy_nothing() -> None:
        model_deployer(tag(), deploy_decision=False)

    run = deploy_nothing()
    out: dict[str, Any] = run.steps["model_deployer"].outputs["deployment"].load()
    assert out == {"deployed": False, "bundle": "fashion_mnist:20990101-0001",
                   "reason": "deploy_decision was False: bundle fashion_mnist:20990101-0001 was not deployed"}
    from dosirak.metadata.store import get_store

    assert get_store().deployments.list_deployments() == []


def test_deploying_without_a_model_deployer_says_how_to_register_one() -> None:
    _fake_bundle()

    @pipeline(enable_cache=False)
    def deploy_without_deployer() -> None:
        model_deployer(tag(), deploy_decision=True)

    with pytest.raises(RunFailedError, match="(?s)has no model deployer.*model-deployer register local_deployer"):
        deploy_without_deployer()


def test_loading_a_service_that_is_not_running_names_what_was_searched() -> None:
    with pytest.raises(DeploymentError, match="no running deployment of model 'm' deployed by step 's' of "
                                              "pipeline 'p'; none was ever recorded"):
        prediction_service_loader("p", "s", "m")


def test_the_deployer_step_hands_the_key_variable_to_the_deployer(monkeypatch: pytest.MonkeyPatch) -> None:
    from dosirak.metadata.store import get_store
    from dosirak.stack.flavors import flavor_class

    _fake_bundle()
    store = get_store()
    store.stacks.register_component("model-deployer", "local_deployer", "local",
                             flavor_class("model-deployer", "local").validate_config({}))
    store.stacks.register_stack("local_stack", {"orchestrator": "default", "artifact-store": "default",
                                         "model-deployer": "local_deployer"})
    store.stacks.set_active_stack("local_stack")
    monkeypatch.delenv("STEP_API_KEYS", raising=False)

    @pipeline(enable_cache=False)
    def deploy_with_keys() -> None:
        model_deployer(tag(), api_key_env="STEP_API_KEYS")

    with pytest.raises(RunFailedError, match="STEP_API_KEYS named by --api-key-env is not set"):
        deploy_with_keys()
    assert store.deployments.list_deployments() == []
