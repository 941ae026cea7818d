"""Deployments in the metadata store: what a deployer started, where, and what became of it."""

from __future__ import annotations

import uuid
from typing import Any

from dosirak.errors import DeploymentError, NotFoundError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, Row, in_list
from dosirak.metadata.like import LIKE_ESCAPE, like_prefix
from dosirak.metadata.records import DeploymentRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.names import check_name
from dosirak.statuses import LIVE_DEPLOYMENT_STATUSES, DeploymentStatus

_COLUMNS = frozenset(tables.DEPLOYMENTS.column_names) - {"id", "created_at"}
_INSERT = tables.DEPLOYMENTS.insert_sql()
_BY_ID = "SELECT * FROM deployments WHERE id = :id"


class Deployments(Concept):
    """Store operations on deployments (one transaction per change)."""


    def create_deployment(self, *, name: str, deployer: str, flavor: str, status: DeploymentStatus = "starting",
                          **fields: Any) -> DeploymentRecord:
        """Record a new deployment (any column of ``deployments`` may be given as a keyword)."""
        check_name(name, "deployment name", error=DeploymentError)
        unknown = set(fields) - _COLUMNS
        if unknown:
            raise DeploymentError(f"unknown deployment field(s): {', '.join(sorted(unknown))}")
        deployment_id = str(uuid.uuid4())
        values = {"config": {}, "extra": {}, **fields}
        with self.sql.write() as cur:
            cur.execute(_INSERT, tables.DEPLOYMENTS.row(dict(
                id=deployment_id, name=name, deployer=deployer, flavor=flavor, status=status, created_at=utcnow(),
                **values)))
            row = cur.execute(_BY_ID, {"id": deployment_id})[0]
        return from_row(DeploymentRecord, row)

    def update_deployment(self, deployment_id: str, *, status: DeploymentStatus | None = None,
                          extra: dict[str, Any] | None = None, **changes: Any) -> DeploymentRecord:
        """Change columns of one deployment; ``extra`` is merged into the stored dict."""
        if status is not None:
            changes["status"] = status
        unknown = set(changes) - _COLUMNS
        if unknown:
            raise DeploymentError(f"unknown deployment field(s): {', '.join(sorted(unknown))}")
        with self.sql.write() as cur:
            row = self._deployment_row(cur, deployment_id)
            if extra:
                changes["extra"] = {**(row["extra"] or {}), **extra}
            if changes:
                _update(cur, row["id"], changes)
            row = cur.execute(_BY_ID, {"id": row["id"]})[0]
        return from_row(DeploymentRecord, row)

    def switch_deployments(self, new_id: str, old_ids: list[str], *, port: int | None = None) -> DeploymentRecord:
        """In one transaction: mark ``new_id`` running and ``old_ids`` stopping, replaced by it."""
        with self.sql.write() as cur:
            _update(cur, new_id, {"status": "running"})
            for old in old_ids:
                row = self._deployment_row(cur, old)
                _update(cur, old, {"status": "stopping", "extra": {**(row["extra"] or {}), "replaced_by": new_id}})
            rows = cur.execute(_BY_ID, {"id": new_id})
            if not rows:
                raise NotFoundError(f"no deployment with id '{new_id}' to switch to")
        return from_row(DeploymentRecord, rows[0])

    @staticmethod
    def _deployment_row(cur: Cursor, deployment_id: str) -> Row:
        """By full id, unique id prefix, or name (the newest deployment of that name)."""
        rows = cur.execute(f"SELECT * FROM deployments WHERE id = :id OR id LIKE :prefix ESCAPE '{LIKE_ESCAPE}' "
                           "LIMIT 2", {"id": deployment_id, "prefix": like_prefix(deployment_id)})
        exact = [r for r in rows if r["id"] == deployment_id]
        if exact:
            return exact[0]
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise DeploymentError(f"deployment id prefix '{deployment_id}' is ambiguous; give more characters")
        rows = cur.execute("SELECT * FROM deployments WHERE name = :name ORDER BY created_at DESC LIMIT 1",
                           {"name": deployment_id})
        if not rows:
            raise NotFoundError(f"no deployment '{deployment_id}'; `dosirak deployment list` shows them")
        return rows[0]

    def get_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A deployment by id, id prefix, or name (then the newest of that name)."""
        with self.sql.read() as cur:
            return from_row(DeploymentRecord, self._deployment_row(cur, deployment_id))

    def list_deployments(
        self,
        *,
        name: str | None = None,
        model_name: str | None = None,
        pipeline_name: str | None = None,
        step_name: str | None = None,
        deployer: str | None = None,
        statuses: tuple[DeploymentStatus, ...] | None = None,
    ) -> list[DeploymentRecord]:
        """Deployments matching every given filter, newest first."""
        given = {"name": name, "model_name": model_name, "pipeline_name": pipeline_name, "step_name": step_name,
                 "deployer": deployer}
        params: dict[str, Any] = {column: value for column, value in given.items() if value is not None}
        where = [f"{column} = :{column}" for column in params]
        if statuses is not None:
            in_statuses, status_params = in_list("status", statuses)
            where.append(f"status IN {in_statuses}" if statuses else "1 = 0")
            params.update(status_params)
        query = "SELECT * FROM deployments " + ("WHERE " + " AND ".join(where) + " " if where else "")
        with self.sql.read() as cur:
            rows = cur.execute(query + "ORDER BY created_at DESC", params)
        return [from_row(DeploymentRecord, r) for r in rows]

    def delete_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Forget a deployment; refused while its status says its process runs."""
        with self.sql.write() as cur:
            row = self._deployment_row(cur, deployment_id)
            if row["status"] in LIVE_DEPLOYMENT_STATUSES:
                raise DeploymentError(f"deployment {row['id'][:8]} is {row['status']}; stop it first "
                                      f"(`dosirak deployment stop {row['id'][:8]}`)")
            cur.execute("DELETE FROM deployments WHERE id = :id", {"id": row["id"]})
        return from_row(DeploymentRecord, row)


def _update(cur: Cursor, deployment_id: str, changes: dict[str, Any]) -> None:
    """Set ``changes`` (column names checked against :data:`_COLUMNS` by the caller) on one deployment."""
    sets = ", ".join(f"{column} = :{column}" for column in changes)
    cur.execute(f"UPDATE deployments SET {sets} WHERE id = :_deployment_id", {**changes, "_deployment_id": deployment_id})


__all__ = ["Deployments"]
