"""The metadata store's tables (SQLAlchemy Core), shared by the store and alembic.

Every table is created by a migration in ``migrations/versions``; :data:`SCHEMA_REVISION`
names the newest one, so an up-to-date store is recognised without importing alembic.
JSON columns hold open-ended data (parameters, configs, labels); ``extra`` columns let
a feature add fields without a migration while it settles.
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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from dosirak.metadata.database import SCHEMA_REVISION
from dosirak.metadata.driver import LIKE_ESCAPE, escape_like, like_prefix
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


def id_startswith(column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, taken literally and in lower case (see :func:`like_prefix`)."""
    return column.like(like_prefix(prefix), escape=LIKE_ESCAPE)  # type: ignore[no-any-return]


def type_named(column: Any, type_name: str) -> ColumnElement[bool]:
    """``column`` holds the qualified type ``type_name`` or one whose last dotted parts are it, taken literally."""
    return or_(column == type_name, column.like("%." + escape_like(type_name), escape=LIKE_ESCAPE))

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTC, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("config", JSON, nullable=False, default=dict),
    Column("dag", JSON, nullable=False, default=dict),
    Column("stack_name", String(255)),
    Column("orchestrator", String(64)),
    Column("start_time", UTC, nullable=False),
    Column("end_time", UTC),
    Column("hostname", String(255)),
    Column("pid", Integer),
    Column("pid_start", BigInteger),
    Column("heartbeat_at", UTC),
    Column("error", Text),
    Column("extra", JSON, nullable=False, default=dict),
    Index("ix_pipeline_runs_pipeline_start", "pipeline_id", "start_time"),
    Index("ix_pipeline_runs_status", "status"),
    Index("ix_pipeline_runs_start_time", "start_time"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("step_type", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("cache_key", String(64)),
    Column("cache_parts", JSON, nullable=False, default=dict),
    Column("cache_enabled", Boolean, nullable=False, default=True),
    Column("cached_from", String(36)),
    Column("source_code", Text),
    Column("start_time", UTC),
    Column("end_time", UTC),
    Column("attempts", Integer, nullable=False, default=0),
    Column("logs_uri", Text),
    Column("error", Text),
    Column("traceback", Text),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("run_id", "name", name="uq_step_runs_run_name"),
    Index("ix_step_runs_cache_key", "cache_key", "status"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("uri", Text, nullable=False),
    Column("type", String(512), nullable=False),
    Column("materializer", String(512), nullable=False),
    Column("materializer_version", String(32), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("producer_step_run_id", String(36)),
    Column("name", String(255), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("summary", JSON, nullable=False, default=dict),
    Column("extra", JSON, nullable=False, default=dict),
    Index("ix_artifacts_producer", "producer_step_run_id"),
    Index("ix_artifacts_hash", "content_hash"),
    Index("ix_artifacts_created_at", "created_at"),
)

step_run_io = Table(
    "step_run_io",
    metadata,
    Column("step_run_id", String(36), ForeignKey("step_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("kind", String(8), primary_key=True),  # "input" | "output"
    Column("artifact_id", String(36), ForeignKey("artifacts.id"), nullable=False),
    Index("ix_step_run_io_artifact", "artifact_id"),
)

stack_components = Table(
    "stack_components",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("type", String(64), nullable=False),
    Column("flavor", String(128), nullable=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("created_at", UTC, nullable=False),
    UniqueConstraint("type", "name", name="uq_stack_components_type_name"),
)

stacks = Table(
    "stacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTC, nullable=False),
)

stack_members = Table(
    "stack_members",
    metadata,
    Column("stack_id", Integer, ForeignKey("stacks.id", ondelete="CASCADE"), primary_key=True),
    Column("component_id", Integer, ForeignKey("stack_components.id"), primary_key=True),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", JSON),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTC, nullable=False),
    Column("description", Text),
    Column("extra", JSON, nullable=False, default=dict),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("framework", String(64), nullable=False),
    Column("uri", Text, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("metrics", JSON, nullable=False, default=dict),
    Column("labels", JSON, nullable=False, default=dict),
    Column("signatures", JSON, nullable=False, default=dict),
    Column("libraries", JSON, nullable=False, default=dict),
    Column("files", JSON, nullable=False, default=dict),
    Column("run_id", String(36)),
    Column("step_run_id", String(36)),
    Column("artifact_id", String(36)),
    Column("trusted", Boolean, nullable=False, default=True),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("model_version_id", String(36), ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", UTC, nullable=False),
)

model_alias_history = Table(
    "model_alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version_id", String(36)),
    Column("to_version_id", String(36)),
    Column("moved_at", UTC, nullable=False),
    Column("actor", String(255)),
)

bundles = Table(
    "bundles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("service", String(512), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("manifest_hash", String(64), nullable=False),
    Column("labels", JSON, nullable=False, default=dict),
    Column("apis", JSON, nullable=False, default=list),
    Column("models", JSON, nullable=False, default=list),
    Column("run_id", String(36)),
    Column("step_run_id", String(36)),
    Column("imported", Boolean, nullable=False, default=False),
    Column("extra", JSON, nullable=False, default=dict),
    UniqueConstraint("name", "version", name="uq_bundles_name_version"),
)

bundle_models = Table(
    "bundle_models",
    metadata,
    Column("bundle_id", String(36), ForeignKey("bundles.id", ondelete="CASCADE"), primary_key=True),
    Column("model_version_id", String(36), ForeignKey("model_versions.id"), primary_key=True),
)

bundle_images = Table(
    "bundle_images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("bundle_id", String(36), ForeignKey("bundles.id", ondelete="CASCADE"), nullable=False),
    Column("reference", Text, nullable=False),
    Column("location", String(16), nullable=False),  # "local" (a builder's storage) | "registry" (pushed)
    Column("digest", String(128), nullable=False),
    Column("image_id", String(128)),
    Column("builder", String(32), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("base_image", Text, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
    Index("ix_bundle_images_bundle", "bundle_id"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("deployer", String(255), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("bundle_id", String(36), ForeignKey("bundles.id")),
    Column("model_name", String(255)),
    Column("model_version_id", String(36)),
    Column("pipeline_name", String(255)),
    Column("run_id", String(36)),
    Column("step_name", String(255)),
    Column("status", String(16), nullable=False),
    Column("host", String(255)),
    Column("port", Integer),
    Column("url", Text),
    Column("pid", Integer),
    Column("pid_start", BigInteger),
    Column("log_path", Text),
    Column("config", JSON, nullable=False, default=dict),
    Column("created_at", UTC, nullable=False),
    Column("started_at", UTC),
    Column("stopped_at", UTC),
    Column("error", Text),
    Column("extra", JSON, nullable=False, default=dict),
    Index("ix_deployments_lookup", "pipeline_name", "step_name", "model_name"),
)

__all__ = [
    "SCHEMA_REVISION",
    "UTCDateTime",
    "artifacts",
    "bundle_images",
    "bundle_models",
    "bundles",
    "deployments",
    "id_startswith",
    "kv",
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
    "step_runs",
]
