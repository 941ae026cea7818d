"""Records are filled from the columns of their names, with computed values given beside them."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

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
