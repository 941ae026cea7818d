"""Stacks and stack components in the metadata store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from dosirak import names
from dosirak.errors import NotFoundError, StackError
from dosirak.metadata import schema as t
from dosirak.metadata.database import inserted_id
from dosirak.metadata.recorder import ACTIVE_STACK_KEY, RunRecorder
from dosirak.metadata.records import ComponentRecord, StackRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.stack.credentials import refuse_clear_text

COMPONENT_TYPES = ("orchestrator", "artifact-store", "model-deployer")
REQUIRED_TYPES = ("orchestrator", "artifact-store")


def check_name(kind: str, name: str) -> None:
    """Stack and component names follow the one name grammar (:mod:`dosirak.names`)."""
    names.check_name(name, f"{kind} name", error=StackError)


def check_type(component_type: str) -> None:
    if component_type not in COMPONENT_TYPES:
        raise StackError(f"unknown component type '{component_type}'; known: {', '.join(COMPONENT_TYPES)}")


class StacksMixin(RunRecorder):
    """Store operations on stacks and their components."""


    # -- components -----------------------------------------------------------------
    def register_component(self, component_type: str, name: str, flavor: str, config: dict[str, Any]) -> ComponentRecord:
        check_type(component_type)
        check_name(component_type, name)
        refuse_clear_text(config, f"{component_type} '{name}'")
        with self._write() as conn:
            if self._component_row(conn, component_type, name) is not None:
                raise StackError(
                    f"{component_type} '{name}' already exists; pick another name or "
                    f"`dosirak {component_type} delete {name}` first"
                )
            conn.execute(insert(t.stack_components).values(
                name=name, type=component_type, flavor=flavor, config=config, created_at=utcnow()))
            row = self._component_row(conn, component_type, name)
        return from_row(ComponentRecord, row._mapping)

    def update_component(self, component_type: str, name: str, config: dict[str, Any]) -> ComponentRecord:
        refuse_clear_text(config, f"{component_type} '{name}'")
        with self._write() as conn:
            row = self._component_row(conn, component_type, name)
            if row is None:
                raise self._no_component(component_type, name)
            conn.execute(update(t.stack_components).where(t.stack_components.c.id == row.id).values(config=config))
            row = self._component_row(conn, component_type, name)
        return from_row(ComponentRecord, row._mapping)

    @staticmethod
    def _component_row(conn: Connection, component_type: str, name: str) -> Any:
        return conn.execute(select(*t.stack_components.c).where(
            t.stack_components.c.type == component_type, t.stack_components.c.name == name)).first()

    @staticmethod
    def _no_component(component_type: str, name: str) -> NotFoundError:
        return NotFoundError(
            f"no {component_type} named '{name}'; `dosirak {component_type} list` shows them, "
            f"`dosirak {component_type} register {name} --flavor=...` makes one"
        )

    def get_component(self, component_type: str, name: str) -> ComponentRecord:
        check_type(component_type)
        with self._read() as conn:
            row = self._component_row(conn, component_type, name)
        if row is None:
            raise self._no_component(component_type, name)
        return from_row(ComponentRecord, row._mapping)

    def list_components(self, component_type: str | None = None) -> list[ComponentRecord]:
        query = select(*t.stack_components.c).order_by(t.stack_components.c.type, t.stack_components.c.name)
        if component_type is not None:
            check_type(component_type)
            query = query.where(t.stack_components.c.type == component_type)
        with self._read() as conn:
            return [from_row(ComponentRecord, r._mapping) for r in conn.execute(query).all()]

    def delete_component(self, component_type: str, name: str) -> None:
        with self._write() as conn:
            row = self._component_row(conn, component_type, name)
            if row is None:
                raise self._no_component(component_type, name)
            users = conn.execute(select(t.stacks.c.name).join(
                t.stack_members, t.stack_members.c.stack_id == t.stacks.c.id
            ).where(t.stack_members.c.component_id == row.id)).scalars().all()
            if users:
                raise StackError(
                    f"{component_type} '{name}' is used by stack(s) {', '.join(sorted(users))}; "
                    "delete those stacks or register them with another component first"
                )
            conn.execute(delete(t.stack_components).where(t.stack_components.c.id == row.id))

    # -- stacks ---------------------------------------------------------------------
    def register_stack(self, name: str, components: dict[str, str], *, replace: bool = False) -> StackRecord:
        """Create (or with ``replace``, redefine) a stack from component names by type."""
        check_name("stack", name)
        for required in REQUIRED_TYPES:
            if not components.get(required):
                raise StackError(f"stack '{name}' needs an {required} (e.g. `-o default -a default`)")
        with self._write() as conn:
            ids: list[int] = []
            for component_type, component_name in components.items():
                if not component_name:
                    continue
                check_type(component_type)
                row = self._component_row(conn, component_type, component_name)
                if row is None:
                    raise self._no_component(component_type, component_name)
                ids.append(row.id)
            existing = conn.execute(select(t.stacks.c.id).where(t.stacks.c.name == name)).scalar()
            if existing is not None and not replace:
                raise StackError(f"a stack named '{name}' already exists; pick another name or delete it first")
            if existing is None:
                existing = inserted_id(conn.execute(insert(t.stacks).values(name=name, created_at=utcnow())))
            else:
                conn.execute(delete(t.stack_members).where(t.stack_members.c.stack_id == existing))
            conn.execute(insert(t.stack_members), [{"stack_id": existing, "component_id": cid} for cid in ids])
        return self.get_stack(name)

    def list_stacks(self) -> list[StackRecord]:
        with self._read() as conn:
            names = conn.execute(select(t.stacks.c.name).order_by(t.stacks.c.name)).scalars().all()
        return [self.get_stack(n) for n in names]

    def delete_stack(self, name: str) -> None:
        if name == self.active_stack_name():
            raise StackError(f"stack '{name}' is active; `dosirak stack set OTHER` first")
        if name == "default":
            raise StackError("the 'default' stack cannot be deleted")
        with self._write() as conn:
            stack_id = conn.execute(select(t.stacks.c.id).where(t.stacks.c.name == name)).scalar()
            if stack_id is None:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
            conn.execute(delete(t.stack_members).where(t.stack_members.c.stack_id == stack_id))
            conn.execute(delete(t.stacks).where(t.stacks.c.id == stack_id))

    def set_active_stack(self, name: str) -> None:
        with self._read() as conn:
            if conn.execute(select(t.stacks.c.id).where(t.stacks.c.name == name)).first() is None:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
        self.set_value(ACTIVE_STACK_KEY, name)


__all__ = ["COMPONENT_TYPES", "REQUIRED_TYPES", "StacksMixin", "check_name", "check_type"]
