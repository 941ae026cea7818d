"""Frozen records handed out by the metadata store (never live database rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PipelineRecord:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    pipeline_name: str
    status: str
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


@dataclass(frozen=True)
class StepRunRecord:
    id: str
    run_id: str
    name: str
    step_type: str
    status: str
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

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


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


@dataclass(frozen=True)
class ComponentRecord:
    id: int
    name: str
    type: str
    flavor: str
    config: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class StackRecord:
    id: int
    name: str
    components: dict[str, ComponentRecord]  # type -> component
    created_at: datetime
    active: bool = False
