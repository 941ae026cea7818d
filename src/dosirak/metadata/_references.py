"""Which files the store refers to, and which runs are still running: what ``dosirak gc`` keeps.

Written as SQL text on the store's driver (like what a run records, :mod:`dosirak.metadata._runs`), so a
pipeline run can clean up after a killed one without importing SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor

#: Ids per ``IN (...)`` list, well below every database's limit on parameters.
_CHUNK = 500


def _chunks(ids: Collection[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """``(:id_0, :id_1, ...)`` lists and their parameters, at most :data:`_CHUNK` ids each."""
    items = sorted(set(ids))
    for start in range(0, len(items), _CHUNK):
        params = {f"id_{i}": v for i, v in enumerate(items[start:start + _CHUNK])}
        yield "(" + ", ".join(":" + k for k in params) + ")", params


class References(Concept):
    """Reads of what rows refer to on disk, for cleaning up what no row does."""

    def run_states(self, run_ids: Collection[str] | None = None) -> dict[str, str]:
        """``{run id: status}`` of the runs among ``run_ids`` that have a row (all runs when None)."""
        with self.sql.read() as cur:
            if run_ids is None:
                return {r["id"]: r["status"] for r in cur.execute("SELECT id, status FROM pipeline_runs")}
            found: dict[str, str] = {}
            for in_ids, params in _chunks(run_ids):
                found.update({r["id"]: r["status"] for r in cur.execute(
                    f"SELECT id, status FROM pipeline_runs WHERE id IN {in_ids}", params)})
            return found

    def artifact_uris(self, run_ids: Collection[str] | None = None) -> set[str]:
        """The URI of every artifact, or of those produced by the steps of ``run_ids``."""
        with self.sql.read() as cur:
            if run_ids is None:
                return {r["uri"] for r in cur.execute("SELECT uri FROM artifacts")}
            uris: set[str] = set()
            for in_ids, params in _chunks(run_ids):
                uris.update(r["uri"] for r in cur.execute(
                    "SELECT artifacts.uri FROM artifacts JOIN step_runs ON step_runs.id = artifacts.producer_step_run_id "
                    f"WHERE step_runs.run_id IN {in_ids}", params))
            return uris

    def bundle_paths(self) -> set[str]:
        """The directory of every recorded bundle."""
        with self.sql.read() as cur:
            return {r["path"] for r in cur.execute("SELECT path FROM bundles")}

    def model_version_uris(self) -> set[str]:
        """The directory of every recorded model version."""
        with self.sql.read() as cur:
            return _model_uris(cur)

    @contextmanager
    def model_versions_held(self) -> Iterator[set[str]]:
        """The directory of every model version, while no process can record another.

        The store's write lock is held until the block ends. A model version's directory is
        moved into place inside the transaction that records it, under that same lock, so
        a directory found in the model store without a row here is not one being saved.
        """
        with self.sql.write() as cur:
            yield _model_uris(cur)


def _model_uris(cur: Cursor) -> set[str]:
    return {r["uri"] for r in cur.execute("SELECT uri FROM model_versions")}


__all__ = ["References"]
