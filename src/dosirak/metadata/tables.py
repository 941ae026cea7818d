"""The one description of the metadata store's tables, in plain Python (no SQLAlchemy).

Everything else follows from it: the SQLAlchemy ``Table`` objects alembic migrates and
compares against (:mod:`dosirak.metadata.schema`), the ``INSERT`` text and the conversions
the store's driver applies to JSON, time and boolean columns (:meth:`TableSpec.insert_sql`,
:mod:`dosirak.metadata.driver`), and the records the
store hands out (:func:`dosirak.metadata.records.from_row` fills a record's fields from the
columns of the same name). Adding a column is a migration in ``migrations/versions`` and
one :func:`column` line here; a record shows it once it declares a field of that name.

:data:`SCHEMA_REVISION` names the newest migration, so an up-to-date store is recognised
by one query, without importing alembic or SQLAlchemy. JSON columns hold open-ended data
(parameters, configs, labels); ``extra`` columns let a feature add fields without a
migration while it settles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: The newest migration's revision id. A test checks it equals alembic's head.
SCHEMA_REVISION = "0005"

#: What a column holds; ``time`` is an aware UTC datetime, ``json`` any JSON value,
#: ``float`` a double (SQLite stores NaN as NULL, so a nullable float column reads NULL as NaN
#: where the store says so).
ColumnKind = Literal["integer", "bigint", "float", "string", "text", "json", "time", "boolean"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, what it holds, and its constraints."""

    name: str
    kind: ColumnKind
    length: int | None = None
    nullable: bool = True
    primary_key: bool = False
    autoincrement: bool = False
    unique: bool = False
    #: A Python-side default: a value, or a callable (``dict``) called for each insert.
    default: Any = None
    #: ``"table.column"`` this column references, and what a delete there does here.
    references: str | None = None
    on_delete: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns, named unique constraints and indexes."""

    name: str
    columns: tuple[ColumnSpec, ...]
    unique: tuple[tuple[str, tuple[str, ...]], ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table '{self.name}' has no column '{name}'")

    def insert_sql(self) -> str:
        """``INSERT`` of every column but an autoincremented key, as SQL text with ``:column`` parameters."""
        names = [c.name for c in self.columns if not c.autoincrement]
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` for :meth:`insert_sql`, each column not given at its default (None without one).

        SQL text thus fills a new column with its default, from this description alone.
        """
        unknown = values.keys() - set(self.column_names)
        if unknown:
            raise KeyError(f"table '{self.name}' has no column {', '.join(sorted(unknown))}")
        row: dict[str, Any] = {}
        for c in self.columns:
            if c.autoincrement:
                continue
            if c.name in values:
                row[c.name] = values[c.name]
            else:
                row[c.name] = c.default() if callable(c.default) else c.default
        return row


def column(name: str, kind: ColumnKind, length: int | None = None, *, null: bool = True, key: bool = False,
           auto: bool = False, unique: bool = False, default: Any = None, references: str | None = None,
           on_delete: str | None = None) -> ColumnSpec:
    """A column; JSON columns default to ``{}`` and are NOT NULL unless told otherwise."""
    if kind == "json" and default is None and not null:
        default = dict
    return ColumnSpec(name, kind, length, nullable=null and not key, primary_key=key, autoincrement=auto,
                      unique=unique, default=default, references=references, on_delete=on_delete)


def _id(kind: ColumnKind = "string") -> ColumnSpec:
    if kind == "integer":
        return column("id", "integer", key=True, auto=True)
    return column("id", "string", 36, key=True)


def _extra() -> ColumnSpec:
    return column("extra", "json", null=False)


def _created() -> ColumnSpec:
    return column("created_at", "time", null=False)


PIPELINES = TableSpec("pipelines", (
    _id("integer"),
    column("name", "string", 255, null=False, unique=True),
    _created(),
    _extra(),
))

PIPELINE_RUNS = TableSpec("pipeline_runs", (
    _id(),
    column("name", "string", 255, null=False),
    column("pipeline_id", "integer", null=False, references="pipelines.id", on_delete="CASCADE"),
    column("status", "string", 16, null=False),
    column("parameters", "json", null=False),
    column("config", "json", null=False),
    column("dag", "json", null=False),
    column("stack_name", "string", 255),
    column("orchestrator", "string", 64),
    column("start_time", "time", null=False),
    column("end_time", "time"),
    column("hostname", "string", 255),
    column("pid", "integer"),
    column("pid_start", "bigint"),
    column("heartbeat_at", "time"),
    column("error", "text"),
    _extra(),
), indexes=(
    ("ix_pipeline_runs_pipeline_start", ("pipeline_id", "start_time")),
    ("ix_pipeline_runs_status", ("status",)),
    ("ix_pipeline_runs_start_time", ("start_time",)),
))

STEP_RUNS = TableSpec("step_runs", (
    _id(),
    column("run_id", "string", 36, null=False, references="pipeline_runs.id", on_delete="CASCADE"),
    column("name", "string", 255, null=False),
    column("step_type", "string", 512, null=False),
    column("status", "string", 16, null=False),
    column("parameters", "json", null=False),
    column("cache_key", "string", 64),
    column("cache_parts", "json", null=False),
    column("cache_enabled", "boolean", null=False, default=True),
    column("cached_from", "string", 36),
    column("source_code", "text"),
    column("start_time", "time"),
    column("end_time", "time"),
    column("attempts", "integer", null=False, default=0),
    column("logs_uri", "text"),
    column("error", "text"),
    column("traceback", "text"),
    _extra(),
    # Where the step ran (migration 0005): the machine, the worker on it (a thread of the
    # driving process, or a Ray worker and node), and the resources it asked for.
    column("host", "string", 255),
    column("worker", "string", 255),
    column("resources", "json", null=False),
), unique=(("uq_step_runs_run_name", ("run_id", "name")),),
   indexes=(("ix_step_runs_cache_key", ("cache_key", "status")),))

ARTIFACTS = TableSpec("artifacts", (
    _id(),
    column("uri", "text", null=False),
    column("type", "string", 512, null=False),
    column("materializer", "string", 512, null=False),
    column("materializer_version", "string", 32, null=False),
    column("content_hash", "string", 64, null=False),
    column("size", "bigint", null=False),
    column("producer_step_run_id", "string", 36),
    column("name", "string", 255, null=False),
    _created(),
    column("summary", "json", null=False),
    _extra(),
), indexes=(
    ("ix_artifacts_producer", ("producer_step_run_id",)),
    ("ix_artifacts_hash", ("content_hash",)),
    ("ix_artifacts_created_at", ("created_at",)),
))

STEP_RUN_IO = TableSpec("step_run_io", (
    column("step_run_id", "string", 36, key=True, references="step_runs.id", on_delete="CASCADE"),
    column("name", "string", 255, key=True),
    column("kind", "string", 8, key=True),  # "input" | "output"
    column("artifact_id", "string", 36, null=False, references="artifacts.id"),
), indexes=(("ix_step_run_io_artifact", ("artifact_id",)),))

STACK_COMPONENTS = TableSpec("stack_components", (
    _id("integer"),
    column("name", "string", 255, null=False),
    column("type", "string", 64, null=False),
    column("flavor", "string", 128, null=False),
    column("config", "json", null=False),
    _created(),
), unique=(("uq_stack_components_type_name", ("type", "name")),))

STACKS = TableSpec("stacks", (
    _id("integer"),
    column("name", "string", 255, null=False, unique=True),
    _created(),
))

STACK_MEMBERS = TableSpec("stack_members", (
    column("stack_id", "integer", key=True, references="stacks.id", on_delete="CASCADE"),
    column("component_id", "integer", key=True, references="stack_components.id"),
))

KV = TableSpec("kv", (
    column("key", "string", 255, key=True),
    column("value", "json"),
))

MODELS = TableSpec("models", (
    _id("integer"),
    column("name", "string", 255, null=False, unique=True),
    _created(),
    column("description", "text"),
    _extra(),
))

MODEL_VERSIONS = TableSpec("model_versions", (
    _id(),
    column("model_id", "integer", null=False, references="models.id", on_delete="CASCADE"),
    column("version", "integer", null=False),
    column("framework", "string", 64, null=False),
    column("uri", "text", null=False),
    _created(),
    column("metadata", "json", null=False),
    column("metrics", "json", null=False),
    column("labels", "json", null=False),
    column("signatures", "json", null=False),
    column("libraries", "json", null=False),
    column("files", "json", null=False),
    column("run_id", "string", 36),
    column("step_run_id", "string", 36),
    column("artifact_id", "string", 36),
    column("trusted", "boolean", null=False, default=True),
    _extra(),
), unique=(("uq_model_versions_model_version", ("model_id", "version")),))

MODEL_ALIASES = TableSpec("model_aliases", (
    column("model_id", "integer", key=True, references="models.id", on_delete="CASCADE"),
    column("alias", "string", 64, key=True),
    column("model_version_id", "string", 36, null=False, references="model_versions.id"),
    column("updated_at", "time", null=False),
))

MODEL_ALIAS_HISTORY = TableSpec("model_alias_history", (
    _id("integer"),
    column("model_id", "integer", null=False, references="models.id", on_delete="CASCADE"),
    column("alias", "string", 64, null=False),
    column("from_version_id", "string", 36),
    column("to_version_id", "string", 36),
    column("moved_at", "time", null=False),
    column("actor", "string", 255),
))

BUNDLES = TableSpec("bundles", (
    _id(),
    column("name", "string", 255, null=False),
    column("version", "string", 64, null=False),
    column("path", "text", null=False),
    column("service", "string", 512, null=False),
    _created(),
    column("size", "bigint", null=False, default=0),
    column("manifest_hash", "string", 64, null=False),
    column("labels", "json", null=False),
    column("apis", "json", null=False, default=list),
    column("models", "json", null=False, default=list),
    column("run_id", "string", 36),
    column("step_run_id", "string", 36),
    column("imported", "boolean", null=False, default=False),
    _extra(),
), unique=(("uq_bundles_name_version", ("name", "version")),))

BUNDLE_MODELS = TableSpec("bundle_models", (
    column("bundle_id", "string", 36, key=True, references="bundles.id", on_delete="CASCADE"),
    column("model_version_id", "string", 36, key=True, references="model_versions.id"),
))

BUNDLE_IMAGES = TableSpec("bundle_images", (
    _id(),
    column("bundle_id", "string", 36, null=False, references="bundles.id", on_delete="CASCADE"),
    column("reference", "text", null=False),
    column("location", "string", 16, null=False),  # "local" (a builder's storage) | "registry" (pushed)
    column("digest", "string", 128, null=False),
    column("image_id", "string", 128),
    column("builder", "string", 32, null=False),
    column("size", "bigint", null=False, default=0),
    column("base_image", "text", null=False),
    _created(),
    _extra(),
), indexes=(("ix_bundle_images_bundle", ("bundle_id",)),))

DEPLOYMENTS = TableSpec("deployments", (
    _id(),
    column("name", "string", 255, null=False),
    column("deployer", "string", 255, null=False),
    column("flavor", "string", 64, null=False),
    column("bundle_id", "string", 36, references="bundles.id"),
    column("model_name", "string", 255),
    column("model_version_id", "string", 36),
    column("pipeline_name", "string", 255),
    column("run_id", "string", 36),
    column("step_name", "string", 255),
    column("status", "string", 16, null=False),
    column("host", "string", 255),
    column("port", "integer"),
    column("url", "text"),
    column("pid", "integer"),
    column("pid_start", "bigint"),
    column("log_path", "text"),
    column("config", "json", null=False),
    _created(),
    column("started_at", "time"),
    column("stopped_at", "time"),
    column("error", "text"),
    _extra(),
), indexes=(("ix_deployments_lookup", ("pipeline_name", "step_name", "model_name")),))

METRICS = TableSpec("metrics", (
    _id("integer"),
    column("step_run_id", "string", 36, null=False, references="step_runs.id", on_delete="CASCADE"),
    column("name", "string", 255, null=False),
    column("step", "bigint", null=False),
    column("number", "float"),  # NULL is NaN (SQLite cannot store NaN); +-inf are stored as such
    column("wall_time", "float", null=False),  # seconds since the epoch, as time.time() gives
), indexes=(("ix_metrics_series", ("step_run_id", "name", "step")),))

#: One row per (step run, metric): what a run page, a runs table and a comparison show
#: without reading the series. ``latest`` is the value at the highest ``step``.
METRIC_SUMMARIES = TableSpec("metric_summaries", (
    column("step_run_id", "string", 36, key=True, references="step_runs.id", on_delete="CASCADE"),
    column("name", "string", 255, key=True),
    column("run_id", "string", 36, null=False, references="pipeline_runs.id", on_delete="CASCADE"),
    column("latest", "float"),
    column("latest_step", "bigint", null=False),
    column("lowest", "float"),  # NULL when no finite value was logged
    column("highest", "float"),
    column("points", "bigint", null=False),
), indexes=(("ix_metric_summaries_run", ("run_id", "name")),))

#: JSON a step logged with ``dk.log_metadata``: about its step run, one of its output
#: artifacts, or a model version (``target``), newest entry of a key winning.
LOGGED_METADATA = TableSpec("logged_metadata", (
    _id("integer"),
    column("step_run_id", "string", 36, null=False, references="step_runs.id", on_delete="CASCADE"),
    column("target", "string", 16, null=False),  # "step" | "artifact" | "model"
    column("target_id", "string", 36, null=False),
    column("key", "string", 255, null=False),
    column("entry", "json"),
    _created(),
), indexes=(("ix_logged_metadata_target", ("target", "target_id")),
            ("ix_logged_metadata_step_run", ("step_run_id",))))

#: Every table, in an order where a table comes after those it references.
TABLES: tuple[TableSpec, ...] = (
    PIPELINES, PIPELINE_RUNS, STEP_RUNS, ARTIFACTS, STEP_RUN_IO, STACK_COMPONENTS, STACKS, STACK_MEMBERS, KV,
    MODELS, MODEL_VERSIONS, MODEL_ALIASES, MODEL_ALIAS_HISTORY, BUNDLES, BUNDLE_MODELS, BUNDLE_IMAGES, DEPLOYMENTS,
    METRICS, METRIC_SUMMARIES, LOGGED_METADATA,
)


def _columns_of(kind: ColumnKind) -> frozenset[str]:
    return frozenset(c.name for t in TABLES for c in t.columns if c.kind == kind)


#: Column names holding JSON, times and booleans, in every table. A name means one kind
#: everywhere (a test checks it), so SQL text can convert values by parameter or column name.
JSON_COLUMNS = _columns_of("json")
TIME_COLUMNS = _columns_of("time")
BOOL_COLUMNS = _columns_of("boolean")


def empty_value(name: str) -> Callable[[], Any] | None:
    """What a NOT NULL JSON column named ``name`` holds when empty (``dict`` or ``list``), else None."""
    for t in TABLES:
        for c in t.columns:
            if c.name == name and c.kind == "json" and not c.nullable and callable(c.default):
                return c.default  # type: ignore[no-any-return]
    return None


__all__ = [
    "ARTIFACTS", "BOOL_COLUMNS", "BUNDLES", "BUNDLE_IMAGES", "BUNDLE_MODELS", "DEPLOYMENTS", "JSON_COLUMNS", "KV", "LOGGED_METADATA", "METRICS", "METRIC_SUMMARIES",
    "MODELS", "MODEL_ALIASES", "MODEL_ALIAS_HISTORY", "MODEL_VERSIONS", "PIPELINES", "PIPELINE_RUNS",
    "SCHEMA_REVISION", "STACKS", "STACK_COMPONENTS", "STACK_MEMBERS", "STEP_RUNS", "STEP_RUN_IO", "TABLES",
    "TIME_COLUMNS", "ColumnKind", "ColumnSpec", "TableSpec", "column", "empty_value",
]
