"""Read-only summaries across runs, steps and artifacts, shaped for overviews.

The dashboard and ``--json`` listings need aggregate figures (how many steps of each run
finished, how long recent runs took) for many runs at once. Each method here answers
with one or two queries, however many runs it covers, and never writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dosirak.metadata.database import Concept
from dosirak.metadata.driver import in_list
from dosirak.metadata.like import type_named


class Overview(Concept):
    """Aggregate reads over runs, step runs and artifacts."""


    def step_status_counts(self, run_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """For each run id, how many of its steps are in each status (one query)."""
        ids = list(run_ids)
        counts: dict[str, dict[str, int]] = {rid: {} for rid in ids}
        if not ids:
            return counts
        in_ids, params = in_list("run", ids)
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT run_id, status, count(*) AS n FROM step_runs WHERE run_id IN {in_ids} "
                               "GROUP BY run_id, status", params)
        for r in rows:
            counts[r["run_id"]][r["status"]] = int(r["n"])
        return counts

    def run_timeline(self, pipeline_name: str, *, limit: int = 200) -> list[tuple[str, str, str, datetime, datetime | None]]:
        """The newest ``limit`` runs of a pipeline as (id, name, status, start, end), oldest first.

        Only the columns a timeline needs are read, so this stays fast for long histories.
        """
        with self.sql.read() as cur:
            rows = cur.execute(
                "SELECT pipeline_runs.id, pipeline_runs.name, pipeline_runs.status, pipeline_runs.start_time, "
                "pipeline_runs.end_time FROM pipeline_runs JOIN pipelines ON pipelines.id = pipeline_runs.pipeline_id "
                "WHERE pipelines.name = :pipeline_name ORDER BY pipeline_runs.start_time DESC LIMIT :limit",
                {"pipeline_name": pipeline_name, "limit": limit})
        return [(r["id"], r["name"], r["status"], r["start_time"], r["end_time"]) for r in reversed(rows)]

    def store_counts(self) -> dict[str, int]:
        """How many pipelines, runs, step runs and artifacts the store holds."""
        tables = {"pipelines": "pipelines", "runs": "pipeline_runs", "step_runs": "step_runs",
                  "artifacts": "artifacts"}
        counts = ", ".join(f"(SELECT count(*) FROM {table}) AS {name}" for name, table in tables.items())
        with self.sql.read() as cur:
            (row,) = cur.execute(f"SELECT {counts}")
        return {name: int(row[name]) for name in tables}

    def count_artifacts_of_type(self, type_name: str) -> int:
        """How many artifacts have this type (qualified, or its last dotted part)."""
        condition, params = type_named("type", type_name)
        with self.sql.read() as cur:
            return int(cur.execute(f"SELECT count(*) AS n FROM artifacts WHERE {condition}", params)[0]["n"])

    def step_run_names(self, step_run_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each step run id, its (step name, run id)."""
        ids = list(step_run_ids)
        if not ids:
            return {}
        in_ids, params = in_list("step", ids)
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT id, name, run_id FROM step_runs WHERE id IN {in_ids}", params)
        return {r["id"]: (r["name"], r["run_id"]) for r in rows}


__all__ = ["Overview"]
