"""Stacks and components: flavors found by entry points, configs validated by their models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dosirak import plugins
from dosirak.artifacts.store import LocalArtifactStore
from dosirak.errors import FlavorError, NotFoundError, StackError
from dosirak.metadata.store import get_store
from dosirak.orchestrators.local import LocalOrchestrator
from dosirak.stack.flavors import flavor_class, flavor_names
from dosirak.stack.stack import load_stack


def test_the_default_stack_runs_locally_in_the_home(dosirak_home: Path) -> None:
    stack = load_stack(get_store())
    assert stack.name == "default"
    assert isinstance(stack.orchestrator, LocalOrchestrator)
    assert isinstance(stack.artifact_store, LocalArtifactStore)
    assert stack.artifact_store.root == str(dosirak_home / "artifacts")
    assert stack.model_deployer is None


def test_a_stack_without_a_deployer_says_how_to_add_one() -> None:
    with pytest.raises(StackError, match="has no model deployer; register one and use it"):
        load_stack(get_store()).deployer()


def test_flavors_are_found_through_entry_points() -> None:
    assert flavor_class("orchestrator", "local") is LocalOrchestrator
    assert {"local", "fsspec"} <= set(flavor_names("artifact-store"))
    with pytest.raises(FlavorError, match="unknown orchestrator flavor 'kubeflow'; known: .*local"):
        flavor_class("orchestrator", "kubeflow")
    with pytest.raises(FlavorError, match="unknown component type 'scheduler'"):
        flavor_class("scheduler", "local")


@pytest.fixture
def misregistered_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed package whose orchestrator entry points name an artifact store and a function."""
    dist = tmp_path / "misregistered-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: misregistered\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dosirak.orchestrators]\n"
                                           "store = dosirak.artifacts.store:LocalArtifactStore\n"
                                           "function = os.path:join\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.clear_cache()
    yield
    plugins.clear_cache()


@pytest.mark.usefixtures("misregistered_plugins")
def test_a_plugin_that_is_not_a_component_of_the_type_is_refused() -> None:
    with pytest.raises(FlavorError, match="orchestrator flavor 'store' is .*LocalArtifactStore.*not an? orchestrator"):
        flavor_class("orchestrator", "store")
    with pytest.raises(FlavorError, match="orchestrator flavor 'function' is .*join.*entry point"):
        flavor_class("orchestrator", "function")
    assert flavor_class("orchestrator", "local") is LocalOrchestrator


def test_component_configs_are_validated_by_the_flavor() -> None:
    cls = flavor_class("artifact-store", "local")
    assert cls.validate_config({"path": "/data"}) == {"path": "/data"}
    with pytest.raises(FlavorError, match="has no option\\(s\\) --colour; known: --path, --storage-options"):
        cls.validate_config({"colour": "red"})
    with pytest.raises(FlavorError, match="invalid options for flavor 'local': --path"):
        cls.validate_config({"path": ["not", "a", "string"]})
    assert flavor_class("orchestrator", "local").validate_config({}) == {}
    assert "path" in cls.config_schema()["properties"]


def test_a_registered_stack_uses_its_components(tmp_path: Path) -> None:
    store = get_store()
    store.stacks.register_component("artifact-store", "scratch", "local", {"path": str(tmp_path)})
    store.stacks.register_stack("dev", {"orchestrator": "default", "artifact-store": "scratch"})
    stack = load_stack(store, "dev")
    assert stack.artifact_store.root == str(tmp_path)
    assert store.stacks.get_stack().name == "default"


def test_stacks_need_an_orchestrator_and_an_artifact_store() -> None:
    with pytest.raises(StackError, match="needs an artifact-store"):
        get_store().stacks.register_stack("partial", {"orchestrator": "default"})


def test_the_default_stack_cannot_be_deleted() -> None:
    store = get_store()
    store.stacks.register_stack("other", {"orchestrator": "default", "artifact-store": "default"})
    store.stacks.set_active_stack("other")
    with pytest.raises(StackError, match="the 'default' stack cannot be deleted"):
        store.stacks.delete_stack("default")


def test_dosirak_stack_env_var_picks_the_active_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    store = get_store()
    store.stacks.register_stack("envstack", {"orchestrator": "default", "artifact-store": "default"})
    monkeypatch.setenv("DOSIRAK_STACK", "envstack")
    assert load_stack(store).name == "envstack"
    monkeypatch.setenv("DOSIRAK_STACK", "missing")
    with pytest.raises(NotFoundError, match="no stack named 'missing'"):
        load_stack(store)


def test_a_stack_builds_its_artifact_store_through_the_flavor_of_its_record() -> None:
    from dosirak.artifacts.store import FsspecArtifactStore

    store = get_store()
    store.stacks.register_component("artifact-store", "mem", "fsspec", {"path": "memory://dk-stack-flavor"})
    store.stacks.register_component("artifact-store", "url", "local", {"path": "memory://dk-stack-url"})
    store.stacks.register_stack("remote", {"orchestrator": "default", "artifact-store": "mem"})
    store.stacks.register_stack("by-url", {"orchestrator": "default", "artifact-store": "url"})
    remote = load_stack(store, "remote").artifact_store
    assert isinstance(remote, FsspecArtifactStore) and (remote.name, remote.root) == ("mem", "memory://dk-stack-flavor")
    by_url = load_stack(store, "by-url").artifact_store  # a URL given to the local flavor opens through fsspec
    assert isinstance(by_url, FsspecArtifactStore) and by_url.name == "url"
