"""Deployments in the metadata store: what a deployer started, where, and what became of it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from dosirak.errors import DeploymentError, NotFoundError
from dosirak.metadata import schema as t
from dosirak.metadata.database import Concept
from dosirak.metadata.records import DeploymentRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.names import check_name
from dosirak.statuses import LIVE_DEPLOYMENT_STATUSES, DeploymentStatus

_COLUMNS = frozenset(c.name for c in t.deployments.columns) - {"id", "created_at"}


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
        with self._write() as conn:
            conn.execute(insert(t.deployments).values(id=deployment_id, name=name, deployer=deployer, flavor=flavor,
                                                      status=status, created_at=utcnow(), **values))
            row = conn.execute(select(*t.deployments.c).where(t.deployments.c.id == deployment_id)).one()
        return from_row(DeploymentRecord, row._mapping)

    def update_deployment(self, deployment_id: str, *, status: DeploymentStatus | None = None,
                          extra: dict[str, Any] | None = None, **changes: Any) -> DeploymentRecord:
        """Change columns of one deployment; ``extra`` is merged into the stored dict."""
        if status is not None:
            changes["status"] = status
        unknown = set(changes) - _COLUMNS
        if unknown:
            raise DeploymentError(f"unknown deployment field(s): {', '.join(sorted(unknown))}")
        with self._write() as conn:
            row = self._deployment_row(conn, deployment_id)
            if extra:
                changes["extra"] = {**(row.extra or {}), **extra}
            if changes:
                conn.execute(update(t.deployments).where(t.deployments.c.id == row.id).values(**changes))
            row = conn.execute(select(*t.deployments.c).where(t.deployments.c.id == row.id)).one()
        return from_row(DeploymentRecord, row._mapping)

    def switch_deployments(self, new_id: str, old_ids: list[str], *, port: int | None = None) -> DeploymentRecord:
        """In one transaction: mark ``new_id`` running and ``old_ids`` stopping, replaced by it."""
        with self._write() as conn:
            conn.execute(update(t.deployments).where(t.deployments.c.id == new_id).values(status="running"))
            for old in old_ids:
                row = self._deployment_row(conn, old)
                conn.execute(update(t.deployments).where(t.deployments.c.id == old).values(
                    status="stopping", extra={**(row.extra or {}), "replaced_by": new_id}))
            row = conn.execute(select(*t.deployments.c).where(t.deployments.c.id == new_id)).one()
        return from_row(DeploymentRecord, row._mapping)

    @staticmethod
    def _deployment_row(conn: Connection, deployment_id: str) -> Row[Any]:
        """By full id, unique id prefix, or name (the newest deployment of that name)."""
        rows = conn.execute(select(*t.deployments.c).where(
            or_(t.deployments.c.id == deployment_id, t.id_startswith(t.deployments.c.id, deployment_id))
        ).limit(2)).all()
        exact = [r for r in rows if r.id == deployment_id]
        if exact:
            return exact[0]
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise DeploymentError(f"deployment id prefix '{deployment_id}' is ambiguous; give more characters")
        row = conn.execute(select(*t.deployments.c).where(t.deployments.c.name == deployment_id)
                           .order_by(t.deployments.c.created_at.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(f"no deployment '{deployment_id}'; `dosirak deployment list` shows them")
        return row

    def get_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A deployment by id, id prefix, or name (then the newest of that name)."""
        with self._read() as conn:
            return from_row(DeploymentRecord, self._deployment_row(conn, deployment_id)._mapping)

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
        c = t.deployments.c
        query = select(*t.deployments.c).order_by(c.created_at.desc())
        for column, value in ((c.name, name), (c.model_name, model_name), (c.pipeline_name, pipeline_name),
                              (c.step_name, step_name), (c.deployer, deployer)):
            if value is not None:
                query = query.where(column == value)
        if statuses is not None:
            query = query.where(c.status.in_(statuses))
        with self._read() as conn:
            return [from_row(DeploymentRecord, r._mapping) for r in conn.execute(query).all()]

    def delete_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Forget a deployment; refused while its status says its process runs."""
        with self._write() as conn:
            row = self._deployment_row(conn, deployment_id)
            if row.status in LIVE_DEPLOYMENT_STATUSES:
                raise DeploymentError(f"deployment {row.id[:8]} is {row.status}; stop it first "
                                      f"(`dosirak deployment stop {row.id[:8]}`)")
            conn.execute(delete(t.deployments).where(t.deployments.c.id == row.id))
        return from_row(DeploymentRecord, row._mapping)


__all__ = ["Deployments"]
