"""Frozen records handed out by the metadata store (never live database rows).

A record's fields are filled from the columns of the same name (:func:`from_row`), so a
table's description in :mod:`dosirak.metadata.tables` is the only place a column is
spelled out; a record adds what is computed (a joined name, links, aliases).

``str(record)`` is a short line a user can read (``fashion_mnist:3``); ``repr`` keeps every field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from dosirak.metadata.tables import empty_value
from dosirak.statuses import DeploymentStatus, RunStatus, StepStatus

RecordT = TypeVar("RecordT")


_FIELDS: dict[type[Any], tuple[tuple[str, Callable[[], Any] | None], ...]] = {}


def _fields_of(record_type: type[Any]) -> tuple[tuple[str, Callable[[], Any] | None], ...]:
    """Each field's name and the empty value of the JSON column of that name (None if there is none)."""
    plan = _FIELDS.get(record_type)
    if plan is None:
        plan = _FIELDS[record_type] = tuple((f.name, empty_value(f.name)) for f in fields(record_type))
    return plan


def from_row(record_type: type[RecordT], row: Mapping[Any, Any], **values: Any) -> RecordT:
    """A ``record_type`` from a row: each field from ``values`` or else the column of its name.

    Rows come typed from the store's driver (JSON parsed, times aware UTC, booleans ``bool``); a
    NULL in a JSON column that holds ``{}`` or ``[]`` when empty becomes that empty value.
    A field that is in neither keeps its default.
    """
    kwargs: dict[str, Any] = {}
    for name, empty in _fields_of(record_type):
        if name in values:
            kwargs[name] = values[name]
        elif name in row:
            value = row[name]
            kwargs[name] = empty() if value is None and empty is not None else value
    return record_type(**kwargs)


@dataclass(frozen=True)
class PipelineRecord:
    id: int
    name: str
    created_at: datetime

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    pipeline_name: str
    status: RunStatus
    parameters: dict[str, Any]
    config: dict[str, Any]
    dag: dict[str, Any]
    stack_name: str | None
    orchestrator: str | None
    start_time: datetime
    end_time: datetime | None
    hostname: str | None
    pid: int | None
    error: str | None

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def __str__(self) -> str:
        """``NAME (ID8) STATUS``, as ``dosirak run`` prints it; ``repr`` has every field."""
        return f"{self.name} ({self.id[:8]}) {self.status}"


@dataclass(frozen=True)
class StepRunRecord:
    id: str
    run_id: str
    name: str
    step_type: str
    status: StepStatus
    parameters: dict[str, Any]
    cache_key: str | None
    cache_parts: dict[str, Any]
    cache_enabled: bool
    cached_from: str | None
    start_time: datetime | None
    end_time: datetime | None
    attempts: int
    logs_uri: str | None
    error: str | None
    traceback: str | None
    source_code: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # name -> artifact id
    outputs: dict[str, str] = field(default_factory=dict)  # name -> artifact id
    extra: dict[str, Any] = field(default_factory=dict)
    #: Where the step computed: the machine, the worker on it, the resources it asked for
    #: (``cpus``, ``gpus``, ``memory`` in bytes, custom ones); empty for a step that did not
    #: compute (cached, skipped, pending).
    host: str | None = None
    worker: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def __str__(self) -> str:
        return f"{self.name} ({self.id[:8]}) {self.status}"


@dataclass(frozen=True)
class ArtifactRecord:
    id: str
    uri: str
    type: str
    materializer: str
    materializer_version: str
    content_hash: str
    size: int
    producer_step_run_id: str | None
    name: str
    created_at: datetime
    summary: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} ({self.id[:8]}) {self.type}"


@dataclass(frozen=True)
class ComponentRecord:
    id: int
    name: str
    type: str
    flavor: str
    config: dict[str, Any]
    created_at: datetime

    def __str__(self) -> str:
        return f"{self.name} ({self.type}, flavor {self.flavor})"


@dataclass(frozen=True)
class StackRecord:
    id: int
    name: str
    components: dict[str, ComponentRecord]  # type -> component
    created_at: datetime
    active: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    created_at: datetime
    description: str | None
    version_count: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ModelVersionRecord:
    id: str
    name: str
    version: int
    framework: str
    uri: str
    created_at: datetime
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    labels: dict[str, Any]
    signatures: dict[str, Any]
    libraries: dict[str, str]
    files: dict[str, Any]  # relative path -> {"sha256": ..., "size": ...}
    run_id: str | None
    step_run_id: str | None
    artifact_id: str | None
    trusted: bool
    aliases: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    def __str__(self) -> str:
        """The tag, ``fashion_mnist:3``; ``repr`` has every field."""
        return self.tag


@dataclass(frozen=True)
class AliasMoveRecord:
    alias: str
    from_version: int | None
    to_version: int | None
    moved_at: datetime
    actor: str | None

    def __str__(self) -> str:
        return f"{self.alias}: {self.from_version} -> {self.to_version}"


@dataclass(frozen=True)
class BundleRecord:
    id: str
    name: str
    version: str
    path: str
    service: str
    created_at: datetime
    size: int
    manifest_hash: str
    labels: dict[str, Any]
    apis: list[Any]
    models: list[Any]
    run_id: str | None
    step_run_id: str | None
    imported: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    def __str__(self) -> str:
        return self.tag


@dataclass(frozen=True)
class ImageRecord:
    """A container image of a bundle: built into a builder's local storage, or pushed to a registry.

    ``reference`` is what ``docker run`` takes (``localhost/svc:1``, or
    ``REGISTRY/REPO@sha256:...`` once pushed); ``digest`` is the image manifest's digest
    there; ``size`` the image's size in bytes as its builder reports it.
    """

    id: str
    bundle_id: str
    bundle_tag: str
    reference: str
    location: str  # "local" | "registry"
    digest: str
    image_id: str | None
    builder: str
    size: int
    base_image: str
    created_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.reference


@dataclass(frozen=True)
class DeploymentRecord:
    """A model service a deployer started: where it runs, what it serves, who deployed it."""

    id: str
    name: str
    deployer: str
    flavor: str
    bundle_id: str | None
    model_name: str | None
    model_version_id: str | None
    pipeline_name: str | None
    run_id: str | None
    step_name: str | None
    status: DeploymentStatus
    host: str | None
    port: int | None
    url: str | None
    pid: int | None
    pid_start: int | None
    log_path: str | None
    config: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    error: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_url(self) -> str | None:
        """The service's Swagger UI; None for a SageMaker endpoint (only /invocations is reachable there)."""
        return f"{self.url}/docs" if self.url and self.flavor != "sagemaker" else None

    def __str__(self) -> str:
        """``NAME (ID8) STATUS`` and the URL when it has one."""
        return f"{self.name} ({self.id[:8]}) {self.status}" + (f" at {self.url}" if self.url else "")


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one step run, summarised: its value at the highest step, range and count.

    ``latest`` is NaN when the value at the highest step was NaN; ``lowest``/``highest`` are
    over the finite values only (None when none was finite). ``key`` is ``"step.metric"``.
    """

    run_id: str
    step_run_id: str
    step_name: str
    name: str
    latest: float
    latest_step: int
    lowest: float | None
    highest: float | None
    points: int

    @property
    def key(self) -> str:
        return f"{self.step_name}.{self.name}"


@dataclass(frozen=True)
class MetricSeries:
    """A metric's points ``(step, value, wall_time)`` ordered by step, maybe downsampled.

    ``total`` is how many points the store holds (after ``after_step`` when one was given);
    ``downsampled`` says whether ``points`` is a subset keeping each bucket's min and max.
    """

    points: list[tuple[int, float, float]]
    total: int
    downsampled: bool


__all__ = [
    "AliasMoveRecord", "ArtifactRecord", "BundleRecord", "ComponentRecord", "DeploymentRecord", "ImageRecord",
    "MetricSeries", "MetricSummary",
    "ModelRecord", "ModelVersionRecord", "PipelineRecord", "RunRecord", "StackRecord", "StepRunRecord", "from_row",
]
