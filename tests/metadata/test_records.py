"""Records are filled from the columns of their names, with computed values given beside them;
``str(record)`` is a short line a user can read, ``repr`` keeps every field."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

import dosirak as dk
from dosirak.metadata import tables
from dosirak.metadata.records import (
    ArtifactRecord,
    BundleRecord,
    ComponentRecord,
    DeploymentRecord,
    ImageRecord,
    ModelVersionRecord,
    PipelineRecord,
    RunRecord,
    StepRunRecord,
    from_row,
)
from dosirak.metadata.store import get_store
from dosirak.metadata.timeutil import utcnow
from tests._pipelines.layered import train

NOW = datetime(2026, 12, 1, tzinfo=UTC)

#: Each record, its table, and the fields the store computes rather than reads from a column of that table.
RECORDS = [
    (PipelineRecord, tables.PIPELINES, set()),
    (RunRecord, tables.PIPELINE_RUNS, {"pipeline_name"}),
    (StepRunRecord, tables.STEP_RUNS, {"inputs", "outputs"}),
    (ArtifactRecord, tables.ARTIFACTS, set()),
    (ComponentRecord, tables.STACK_COMPONENTS, set()),
    (ModelVersionRecord, tables.MODEL_VERSIONS, {"name", "aliases"}),
    (BundleRecord, tables.BUNDLES, set()),
    (ImageRecord, tables.BUNDLE_IMAGES, {"bundle_tag"}),
    (DeploymentRecord, tables.DEPLOYMENTS, set()),
]


@pytest.mark.parametrize(("record", "table", "computed"), RECORDS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_field_a_record_reads_is_a_column_of_its_table(record: type, table: tables.TableSpec,
                                                             computed: set[str]) -> None:
    read = {f.name for f in fields(record)} - computed
    assert read - set(table.column_names) == set()


def test_a_record_takes_each_field_from_its_column_and_ignores_other_columns() -> None:
    row = {"id": 3, "name": "p", "created_at": NOW, "extra": {"x": 1}, "unrelated": 7}
    assert from_row(PipelineRecord, row) == PipelineRecord(id=3, name="p", created_at=NOW)


def test_a_null_in_a_json_column_that_holds_empty_values_reads_as_that_empty_value() -> None:
    row = {"id": "b", "name": "svc", "version": "1", "path": "/b", "service": "s:S", "created_at": NOW, "size": 0,
           "manifest_hash": "h", "labels": None, "apis": None, "models": None, "run_id": None,
           "step_run_id": None, "imported": False, "extra": None}
    record = from_row(BundleRecord, row)
    assert (record.labels, record.apis, record.models, record.extra) == ({}, [], [], {})


def test_values_given_beside_the_row_fill_computed_fields_and_win_over_columns() -> None:
    row = {"id": "i", "bundle_id": "b", "reference": "r", "location": "local", "digest": "sha256:" + "0" * 64,
           "image_id": None, "builder": "docker", "size": 1, "base_image": "python", "created_at": NOW,
           "extra": {}, "bundle_tag": "ignored"}
    assert from_row(ImageRecord, row, bundle_tag="svc:1").bundle_tag == "svc:1"


def test_a_saved_model_version_prints_as_its_tag_and_keeps_a_detailed_repr(capsys: object) -> None:
    dk.models.save("fashion_mnist", {"w": [1]})
    dk.models.save("fashion_mnist", {"w": [2]})
    version = dk.models.save("fashion_mnist", {"w": [3]}, metrics={"accuracy": 0.91})
    print(version)
    assert capsys.readouterr().out == "fashion_mnist:3\n"  # type: ignore[attr-defined]
    assert repr(version).startswith("ModelVersion(id=") and "accuracy" in repr(version)
    assert str(dk.models.get("fashion_mnist:latest")) == "fashion_mnist:3"
    record = get_store().models.get_model_version("fashion_mnist", "3")
    assert str(record) == "fashion_mnist:3" and repr(record).startswith("ModelVersionRecord(")
    (model,) = get_store().models.list_models()
    assert str(model) == "fashion_mnist"


def test_runs_step_runs_and_artifacts_print_name_short_id_and_status() -> None:
    run = train.run()
    short = run.id[:8]
    assert str(run) == f"{run.name} ({short}) completed" == str(run.record)
    assert repr(run) == f"<run {run.name} completed>"
    assert repr(run.record).startswith("RunRecord(id=")
    step = run.steps["fit"]
    assert str(step) == f"fit ({step.id[:8]}) completed" == str(step.record)
    artifact = step.output
    assert str(artifact) == f"output ({artifact.id[:8]}) builtins.float"
    assert repr(artifact.record).startswith("ArtifactRecord(")


def test_bundles_deployments_stacks_and_components_print_one_short_line(dosirak_home: Path) -> None:
    store = get_store()
    bundle = store.bundles.create_bundle(
        bundle_id=str(uuid.uuid4()), name="clf", version="v1", path=str(dosirak_home), service="service.py:Clf",
        created_at=utcnow(), size=1, manifest_hash="0" * 64, labels={}, models=[], apis=[], model_version_ids=[])
    assert str(bundle) == "clf:v1" and repr(bundle).startswith("BundleRecord(")
    deployment = store.deployments.create_deployment(name="clf", deployer="local_deployer", flavor="local", status="running",
                                         bundle_id=bundle.id, url="http://127.0.0.1:3001")
    assert str(deployment) == f"clf ({deployment.id[:8]}) running at http://127.0.0.1:3001"
    assert repr(deployment).startswith("DeploymentRecord(")
    stack = store.stacks.get_stack("default")
    assert str(stack) == "default"
    assert str(stack.components["artifact-store"]) == "default (artifact-store, flavor local)"


def test_alias_moves_pipelines_and_opened_bundles_print_one_short_line(tmp_path: Path) -> None:
    from dosirak.bundles.bundle import Bundle
    from dosirak.client import Client
    from tests.bundles._fixtures import build_echo_bundle

    dk.models.save("clf", {"w": [1]})
    dk.models.save("clf", {"w": [2]})
    assert str(dk.models.alias("clf:1", "production")) == "production: None -> 1"
    assert str(dk.models.alias("clf:2", "production")) == "production: 1 -> 2"
    train.run()
    assert str(Client().get_pipeline("train")) == "train"
    bundle = Bundle.open(build_echo_bundle(tmp_path / "svc"))
    assert str(bundle) == bundle.tag and repr(bundle).startswith("Bundle(path=")
