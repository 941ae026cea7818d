"""Runs, steps and artifacts written straight into the store, for dashboard tests.

Real pipelines are used where the test is about the engine's output; these helpers give
exact control over statuses, timings and hostile names.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from dosirak.metadata.records import ArtifactRecord
from dosirak.metadata.store import MetadataStore
from dosirak.metadata.timeutil import utcnow

JSON_MAT = "dosirak.artifacts.materializers.builtins:JSONMaterializer"


def chain_dag(names: list[str], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    steps = []
    for i, name in enumerate(names):
        inputs = {"data": {"step": names[i - 1], "output": "output"}} if i else {}
        steps.append({"name": name, "inputs": inputs, "outputs": ["output"], "parameters": parameters or {}})
    return {"steps": steps}


def json_artifact(root: Path, value: Any, *, name: str = "output", producer: str | None = None) -> ArtifactRecord:
    aid = str(uuid.uuid4())
    uri = root / "artifacts" / aid
    uri.mkdir(parents=True)
    data = json.dumps(value).encode()
    (uri / "data.json").write_bytes(data)
    summary = {"value": value} if isinstance(value, int | float) else {"length": len(value)} if hasattr(value, "__len__") else {}
    return ArtifactRecord(id=aid, uri=str(uri), type=f"builtins.{type(value).__name__}", materializer=JSON_MAT,
                          materializer_version="1", content_hash=uuid.uuid4().hex * 2, size=len(data),
                          producer_step_run_id=producer, name=name, created_at=utcnow(), summary=summary)


def seed_run(
    store: MetadataStore,
    root: Path,
    *,
    pipeline: str = "training",
    steps: list[str] | None = None,
    statuses: dict[str, str] | None = None,
    run_status: str | None = "completed",
    parameters: dict[str, Any] | None = None,
    log_lines: dict[str, str] | None = None,
    run_name: str | None = None,
) -> tuple[str, dict[str, str]]:
    """One run of a chain of steps; returns (run id, step name -> step run id).

    ``statuses`` overrides a step's final status (default completed); ``run_status`` None
    leaves the run running.
    """
    names = steps or ["load", "split", "train", "evaluate"]
    statuses = statuses or {}
    run_id = str(uuid.uuid4())
    ids = {n: str(uuid.uuid4()) for n in names}
    store.runs.create_run(run_id=run_id, name=run_name or f"{pipeline}-{run_id[:8]}", pipeline_name=pipeline,
                     parameters=parameters or {"lr": 0.001}, config={}, dag=chain_dag(names, parameters),
                     stack_name="default", orchestrator="local",
                     steps=[{"id": ids[n], "name": n, "step_type": f"tests.{n}", "parameters": parameters or {}}
                            for n in names])
    previous: ArtifactRecord | None = None
    for i, name in enumerate(names):
        status = statuses.get(name, "completed")
        if status == "pending":
            continue
        if status == "skipped":
            store.runs.skip_steps(run_id, [name], "an upstream step failed")
            continue
        store.runs.start_step(ids[name], cache_key=uuid.uuid4().hex, cache_parts={"source": "abc", "params": "def"},
                         source_code=f"def {name}(data):\n    return data\n",
                         inputs={"data": previous.id} if previous else {})
        if status == "running":
            continue
        log_uri = None
        if log_lines and name in log_lines:
            log_path = root / "logs" / run_id / f"{name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(log_lines[name])
            log_uri = str(log_path)
        if status == "failed":
            store.runs.finish_step(ids[name], status="failed", logs_uri=log_uri, error="ValueError: bad data",
                              traceback="Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad data")
            continue
        art = json_artifact(root, 0.5 + i / 100, producer=ids[name])
        store.runs.finish_step(ids[name], status=status, new_artifacts=[art], outputs={"output": art.id}, logs_uri=log_uri)
        previous = art
    if run_status is not None:
        store.runs.finish_run(run_id, status=run_status)
    return run_id, ids


def shift_times(store: MetadataStore, run_id: str, seconds: float) -> None:
    """Move a run's recorded times into the past (for ordering and durations)."""
    with store.sql.write() as cur:
        (row,) = cur.execute("SELECT start_time FROM pipeline_runs WHERE id = :id", {"id": run_id})
        cur.execute("UPDATE pipeline_runs SET start_time = :start_time WHERE id = :id",
                    {"start_time": row["start_time"] - timedelta(seconds=seconds), "id": run_id})


__all__ = ["chain_dag", "json_artifact", "seed_run", "shift_times"]
