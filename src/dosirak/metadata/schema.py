"""The metadata store's tables as SQLAlchemy Core objects, built from :mod:`dosirak.metadata.tables`.

For alembic (migrations) and the tests that compare a migrated database with them; the
store's queries are SQL text (:mod:`dosirak.metadata.driver`), whose SQLAlchemy driver
borrows :data:`UTC` from here to bind times. Nothing here describes a column: every table is made by :func:`table` from its
one description, and created by a migration in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from dosirak.metadata import tables as d
from dosirak.metadata.tables import SCHEMA_REVISION
from dosirak.metadata.timeutil import as_utc

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores and returns aware UTC on every database.

    A naive value is taken to be UTC (PostgreSQL would read it in the session's time zone)
    and an aware one is converted to UTC (SQLite would drop its offset).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value)


UTC = UTCDateTime()


_TYPES: dict[str, Any] = {
    "integer": Integer, "bigint": BigInteger, "float": Double, "text": Text, "json": JSON, "boolean": Boolean,
}


def _column(spec: d.ColumnSpec) -> Column[Any]:
    if spec.kind == "string":
        type_: Any = String(spec.length)
    elif spec.kind == "time":
        type_ = UTC
    else:
        type_ = _TYPES[spec.kind]
    args: list[Any] = [type_]
    if spec.references is not None:
        args.append(ForeignKey(spec.references, ondelete=spec.on_delete))
    kwargs: dict[str, Any] = {"primary_key": spec.primary_key}
    if spec.primary_key:
        if spec.autoincrement:
            kwargs["autoincrement"] = True
    else:
        kwargs["nullable"] = spec.nullable
    if spec.unique:
        kwargs["unique"] = True
    if spec.default is not None:
        kwargs["default"] = spec.default
    return Column(spec.name, *args, **kwargs)


def table(spec: d.TableSpec) -> Table:
    """The SQLAlchemy table of ``spec``, in :data:`metadata`."""
    return Table(
        spec.name, metadata, *(_column(c) for c in spec.columns),
        *(UniqueConstraint(*columns, name=name) for name, columns in spec.unique),
        *(Index(name, *columns) for name, columns in spec.indexes),
    )


pipelines = table(d.PIPELINES)
pipeline_runs = table(d.PIPELINE_RUNS)
step_runs = table(d.STEP_RUNS)
artifacts = table(d.ARTIFACTS)
step_run_io = table(d.STEP_RUN_IO)
stack_components = table(d.STACK_COMPONENTS)
stacks = table(d.STACKS)
stack_members = table(d.STACK_MEMBERS)
kv = table(d.KV)
models = table(d.MODELS)
model_versions = table(d.MODEL_VERSIONS)
model_aliases = table(d.MODEL_ALIASES)
model_alias_history = table(d.MODEL_ALIAS_HISTORY)
bundles = table(d.BUNDLES)
bundle_models = table(d.BUNDLE_MODELS)
bundle_images = table(d.BUNDLE_IMAGES)
deployments = table(d.DEPLOYMENTS)
metrics = table(d.METRICS)
metric_summaries = table(d.METRIC_SUMMARIES)
logged_metadata = table(d.LOGGED_METADATA)

__all__ = [
    "SCHEMA_REVISION",
    "UTCDateTime",
    "artifacts",
    "bundle_images",
    "bundle_models",
    "bundles",
    "deployments",
    "kv",
    "logged_metadata",
    "metric_summaries",
    "metrics",
    "metadata",
    "model_alias_history",
    "model_aliases",
    "model_versions",
    "models",
    "pipeline_runs",
    "pipelines",
    "stack_components",
    "stack_members",
    "stacks",
    "step_run_io",
    "table",
    "step_runs",
]
