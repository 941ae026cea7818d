"""Runs side by side: what ``dosirak runs compare`` prints and the dashboard's ``/api/compare`` answers.

One function, :func:`compare_runs`, builds the comparison as JSON-ready data, so the CLI's
``--json`` and the API give exactly the same document:

* ``runs``: each run's id, name, pipeline, status, times and duration;
* ``parameters``: every run parameter with each run's value, the differing ones first;
* ``metrics``: every logged metric (``step.metric``) with each run's summary;
* ``steps``: each step's status, duration, cache hit, source hash and, where the source
  differs from the first run's, a unified diff of the step's source (the store keeps it);
  and the input artifacts whose content differs.

Values are lists with one entry per run, in the order the runs were given (None where a
run does not have it). Numbers that are not finite are the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (JSON has no such numbers).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dosirak.errors import ConfigError
from dosirak.pipelines.metrics import json_number

if TYPE_CHECKING:
    from dosirak.metadata.records import RunRecord, StepRunRecord
    from dosirak.metadata.store import MetadataStore

#: The most runs one comparison takes (a wider table is not read anyway).
MAX_RUNS = 20
#: A step's source diff is cut after this many lines.
MAX_DIFF_LINES = 400


def compare_runs(store: MetadataStore, run_refs: Sequence[str]) -> dict[str, Any]:
    """Compare the runs ``run_refs`` (ids or unambiguous id prefixes), the first one as the baseline.

    Raises:
        ConfigError: fewer than 2 runs, more than :data:`MAX_RUNS`, or the same run twice.
        NotFoundError: a run that does not exist.
    """
    if len(run_refs) < 2:
        raise ConfigError(f"compare needs at least 2 runs, got {len(run_refs)}; give two or more run ids")
    if len(run_refs) > MAX_RUNS:
        raise ConfigError(f"compare takes at most {MAX_RUNS} runs, got {len(run_refs)}; give fewer run ids")
    runs = [store.runs.get_run(ref) for ref in run_refs]
    ids = [r.id for r in runs]
    for i, run_id in enumerate(ids):
        if run_id in ids[:i]:
            raise ConfigError(f"run {run_id[:8]} is given twice ('{run_refs[ids.index(run_id)]}' and "
                              f"'{run_refs[i]}'); give each run once")
    steps = [{s.name: s for s in store.runs.get_steps(r.id)} for r in runs]
    return {
        "runs": [_run(r) for r in runs],
        "parameters": _parameters(runs),
        "metrics": _metrics(store, runs),
        "steps": _steps(store, runs, steps),
    }


def _run(run: RunRecord) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "pipeline": run.pipeline_name, "status": run.status,
            "start_time": run.start_time.isoformat(), "end_time": run.end_time.isoformat() if run.end_time else None,
            "duration_s": run.duration_s}


def _parameters(runs: list[RunRecord]) -> list[dict[str, Any]]:
    names = sorted({n for r in runs for n in r.parameters})
    rows = []
    for name in names:
        values = [r.parameters.get(name) for r in runs]
        present = [name in r.parameters for r in runs]
        differs = any(v != values[0] or p != present[0] for v, p in zip(values, present, strict=True))
        rows.append({"name": name, "values": values, "differs": differs})
    rows.sort(key=lambda row: not row["differs"])  # stable: differences first, each part by name
    return rows


def _metrics(store: MetadataStore, runs: list[RunRecord]) -> list[dict[str, Any]]:
    index = {r.id: i for i, r in enumerate(runs)}
    by_key: dict[str, dict[str, Any]] = {}
    for s in store.metrics.summaries([r.id for r in runs]):
        row = by_key.get(s.key)
        if row is None:
            row = by_key[s.key] = {"key": s.key, "step": s.step_name, "name": s.name,
                                   **{f: [None] * len(runs) for f in ("latest", "latest_step", "lowest", "highest",
                                                                      "points")}}
        i = index[s.run_id]
        row["latest"][i] = json_number(s.latest)
        row["latest_step"][i] = s.latest_step
        row["lowest"][i] = json_number(s.lowest)
        row["highest"][i] = json_number(s.highest)
        row["points"][i] = s.points
    rows = [by_key[k] for k in sorted(by_key)]
    for row in rows:
        row["differs"] = any(v != row["latest"][0] for v in row["latest"])
    return rows


def _steps(store: MetadataStore, runs: list[RunRecord], steps: list[dict[str, StepRunRecord]]) -> list[dict[str, Any]]:
    order: list[str] = []
    for by_name in steps:
        order += [n for n in by_name if n not in order]
    artifact_ids = {a for by_name in steps for s in by_name.values() for a in s.inputs.values()}
    artifacts = store.artifacts.get_artifacts(artifact_ids) if artifact_ids else {}
    out = []
    for name in order:
        these = [by_name.get(name) for by_name in steps]
        sources = [s.cache_parts.get("source") if s else None for s in these]
        out.append({
            "name": name,
            "status": [s.status if s else None for s in these],
            "duration_s": [s.duration_s if s else None for s in these],
            "cache_hit": [s.status == "cached" if s else None for s in these],
            "cached_from": [s.cached_from if s else None for s in these],
            "source_hash": sources,
            "source_differs": any(h != sources[0] for h in sources),
            "source_diffs": _source_diffs(runs, these, sources),
            "inputs": _inputs(these, artifacts),
        })
    return out


def _source_diffs(runs: list[RunRecord], these: list[StepRunRecord | None],
                  sources: list[Any]) -> list[dict[str, Any]]:
    """A unified diff of the step's source from the first run to each run whose source hash differs."""
    base = these[0]
    diffs = []
    for i in range(1, len(these)):
        other = these[i]
        if base is None or other is None or sources[i] == sources[0]:
            continue
        lines = list(difflib.unified_diff(
            (base.source_code or "").splitlines(keepends=True), (other.source_code or "").splitlines(keepends=True),
            fromfile=f"{base.name} @ {runs[0].id[:8]}", tofile=f"{other.name} @ {runs[i].id[:8]}"))
        truncated = len(lines) > MAX_DIFF_LINES
        diffs.append({"from_run": runs[0].id, "to_run": runs[i].id,
                      "diff": "".join(line if line.endswith("\n") else line + "\n" for line in lines[:MAX_DIFF_LINES]),
                      "truncated": truncated})
    return diffs


def _inputs(these: list[StepRunRecord | None], artifacts: dict[str, Any]) -> list[dict[str, Any]]:
    """The step's input artifacts whose content differs between runs (by content hash)."""
    names = sorted({n for s in these if s for n in s.inputs})
    out = []
    for name in names:
        found = [artifacts.get(s.inputs[name]) if s and name in s.inputs else None for s in these]
        hashes = [a.content_hash if a else None for a in found]
        if all(h == hashes[0] for h in hashes):
            continue
        out.append({"name": name, "artifact_id": [a.id if a else None for a in found], "content_hash": hashes})
    return out


__all__ = ["MAX_RUNS", "compare_runs"]
