"""An active run: building one writes nothing; ``start()`` records it."""

from __future__ import annotations

import pytest

from dosirak import pipeline, step
from dosirak.artifacts.store import LocalArtifactStore
from dosirak.errors import NotFoundError
from dosirak.metadata.store import get_store
from dosirak.pipelines.run import ActiveRun
from dosirak.settings import get_settings


@step
def one() -> int:
    return 1


@pipeline
def single() -> None:
    one()


def test_building_a_run_records_nothing_until_it_starts() -> None:
    store = get_store()
    root = get_settings().artifact_root
    run = ActiveRun(single.compile(), store=store, artifact_store=LocalArtifactStore(str(root)), parameters={},
                    config={}, stack_name=None, orchestrator="local")
    with pytest.raises(NotFoundError):
        store.runs.get_run(run.id)
    assert not root.exists() or not any(root.iterdir())
    run.start()
    try:
        assert store.runs.get_run(run.id).status == "running"
    finally:
        run.abort("the test is over")
    assert store.runs.get_run(run.id).status == "failed"
