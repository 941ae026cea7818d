"""Stacks, stack components and the store's key/values (the active stack).

What a run reads (the active stack and its components) is SQL text on the store's driver;
registering and listing use SQLAlchemy Core, imported when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dosirak import names
from dosirak.errors import NotFoundError, StackError
from dosirak.metadata.database import Concept, inserted_id
from dosirak.metadata.driver import Cursor
from dosirak.metadata.records import ComponentRecord, StackRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.settings import env_value

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

COMPONENT_TYPES = ("orchestrator", "artifact-store", "model-deployer")
REQUIRED_TYPES = ("orchestrator", "artifact-store")
ACTIVE_STACK_KEY = "active_stack"


def check_name(kind: str, name: str) -> None:
    """Stack and component names follow the one name grammar (:mod:`dosirak.names`)."""
    names.check_name(name, f"{kind} name", error=StackError)


def check_type(component_type: str) -> None:
    if component_type not in COMPONENT_TYPES:
        raise StackError(f"unknown component type '{component_type}'; known: {', '.join(COMPONENT_TYPES)}")


def _value(cur: Cursor, key: str, default: Any) -> Any:
    rows = cur.execute("SELECT value FROM kv WHERE key = :key", {"key": key})
    return default if not rows else rows[0]["value"]


def _active_stack(cur: Cursor) -> str:
    """``DOSIRAK_STACK``, or the stack ``dosirak stack set`` made active (``default`` at first)."""

    return env_value("DOSIRAK_STACK") or str(_value(cur, ACTIVE_STACK_KEY, "default"))


class Stacks(Concept):
    """Stacks, their components, and the store's key/values."""

    # -- key/values and the stack -----------------------------------------------------
    def get_value(self, key: str, default: Any = None) -> Any:
        """A setting kept in the store (e.g. the active stack)."""
        with self.sql.read() as cur:
            return _value(cur, key, default)

    def set_value(self, key: str, value: Any) -> None:
        with self.sql.write() as cur:
            cur.execute("DELETE FROM kv WHERE key = :key", {"key": key})
            cur.execute("INSERT INTO kv (key, value) VALUES (:key, :value)", {"key": key, "value": value})

    def active_stack_name(self) -> str:
        with self.sql.read() as cur:
            return _active_stack(cur)

    def get_stack(self, name: str | None = None) -> StackRecord:
        """A stack with its components; the active stack when ``name`` is None."""
        with self.sql.read() as cur:
            active = _active_stack(cur)
            name = name or active
            stacks = cur.execute("SELECT * FROM stacks WHERE name = :name", {"name": name})
            if not stacks:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
            stack = stacks[0]
            rows = cur.execute(
                "SELECT stack_components.* FROM stack_components JOIN stack_members "
                "ON stack_members.component_id = stack_components.id WHERE stack_members.stack_id = :stack_id",
                {"stack_id": stack["id"]})
        return StackRecord(id=stack["id"], name=stack["name"], components={r["type"]: from_row(ComponentRecord, r) for r in rows},
                           created_at=stack["created_at"], active=stack["name"] == active)

    # -- components -----------------------------------------------------------------
    def register_component(self, component_type: str, name: str, flavor: str, config: dict[str, Any]) -> ComponentRecord:
        from sqlalchemy import insert

        from dosirak.metadata import schema as t
        from dosirak.stack.credentials import refuse_clear_text  # only when a component is written

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

    def update_component(self, component_type: str, name: str, config: dict[str, Any], *,
                         flavor: str | None = None) -> ComponentRecord:
        """Replace a component's options (and, given ``flavor``, its flavor); stacks using it follow."""
        from sqlalchemy import update

        from dosirak.metadata import schema as t
        from dosirak.stack.credentials import refuse_clear_text

        refuse_clear_text(config, f"{component_type} '{name}'")
        with self._write() as conn:
            row = self._component_row(conn, component_type, name)
            if row is None:
                raise self._no_component(component_type, name)
            conn.execute(update(t.stack_components).where(t.stack_components.c.id == row.id).values(
                config=config, flavor=flavor or row.flavor))
            row = self._component_row(conn, component_type, name)
        return from_row(ComponentRecord, row._mapping)

    @staticmethod
    def _component_row(conn: Connection, component_type: str, name: str) -> Any:
        from sqlalchemy import select

        from dosirak.metadata import schema as t

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
        from sqlalchemy import select

        from dosirak.metadata import schema as t

        query = select(*t.stack_components.c).order_by(t.stack_components.c.type, t.stack_components.c.name)
        if component_type is not None:
            check_type(component_type)
            query = query.where(t.stack_components.c.type == component_type)
        with self._read() as conn:
            return [from_row(ComponentRecord, r._mapping) for r in conn.execute(query).all()]

    def delete_component(self, component_type: str, name: str) -> None:
        from sqlalchemy import delete, select

        from dosirak.metadata import schema as t

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
        from sqlalchemy import delete, insert, select

        from dosirak.metadata import schema as t

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
                raise StackError(f"a stack named '{name}' already exists with other components; `--replace` "
                                 "(replace=True) redefines it, or pick another name")
            if existing is None:
                existing = inserted_id(conn.execute(insert(t.stacks).values(name=name, created_at=utcnow())))
            else:
                conn.execute(delete(t.stack_members).where(t.stack_members.c.stack_id == existing))
            conn.execute(insert(t.stack_members), [{"stack_id": existing, "component_id": cid} for cid in ids])
        return self.get_stack(name)

    def list_stacks(self) -> list[StackRecord]:
        from sqlalchemy import select

        from dosirak.metadata import schema as t

        with self._read() as conn:
            names = conn.execute(select(t.stacks.c.name).order_by(t.stacks.c.name)).scalars().all()
        return [self.get_stack(n) for n in names]

    def delete_stack(self, name: str) -> None:
        from sqlalchemy import delete, select

        from dosirak.metadata import schema as t

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
        from sqlalchemy import select

        from dosirak.metadata import schema as t

        with self._read() as conn:
            if conn.execute(select(t.stacks.c.id).where(t.stacks.c.name == name)).first() is None:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
        self.set_value(ACTIVE_STACK_KEY, name)


__all__ = ["ACTIVE_STACK_KEY", "COMPONENT_TYPES", "REQUIRED_TYPES", "Stacks", "check_name", "check_type"]
