from __future__ import annotations

from pathlib import Path

import pytest

import dosirak as dk
from dosirak import pipeline, step
from dosirak.bundles import store
from dosirak.bundles.bundle import Bundle
from dosirak.metadata.store import get_store
from dosirak.steps import bundle_builder
from tests.bundles._fixtures import make_mlp, write_service

torch = pytest.importorskip("torch")


@step
def trainer() -> torch.nn.Module:
    return make_mlp(seed=1)


def test_bundle_builder_saves_the_model_builds_the_bundle_and_records_lineage(tmp_path: Path) -> None:
    service_dir = write_service(tmp_path / "svc")

    @pipeline(enable_cache=False)
    def training() -> None:
        model = trainer()
        bundle_builder(model, model_name="fashion_mnist", service="service.py:FashionMNIST",
                       base_dir=str(service_dir), labels={"framework": "pytorch"}, python_packages=["numpy"],
                       metrics={"accuracy": 0.5}, alias="staging")

    run = training()
    builder_step = run.steps["bundle_builder"]
    tag = builder_step.outputs["bundle"].load()
    record = store.get(tag)
    version = dk.models.get("fashion_mnist:staging")

    # run -> model: the version was produced by this run's bundle_builder step, from the trainer's artifact
    assert version.run_id == run.id and version.step_run_id == builder_step.id
    assert version.artifact_id == run.steps["trainer"].outputs["output"].id
    assert version.metrics == {"accuracy": 0.5} and version.labels == {"framework": "pytorch"}
    # model -> bundle: the bundle packs that version and records the run and step
    assert record.run_id == run.id and record.step_run_id == builder_step.id
    assert [m["id"] for m in record.models] == [version.id]
    assert [b.id for b in get_store().bundles.bundles_with_model_version(version.id)] == [record.id]
    bundle = Bundle.open(Path(record.path))
    assert bundle.info["labels"] == {"framework": "pytorch"}
    assert bundle.info["lineage"]["run_id"] == run.id
    net = bundle.path / "models" / "fashion_mnist" / str(version.version)
    assert (net / "weights.safetensors").is_file()
