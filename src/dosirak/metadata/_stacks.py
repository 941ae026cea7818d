"""Stacks, stack components and the store's key/values (the active stack), as SQL text on the store's driver."""

from __future__ import annotations

from typing import Any

from dosirak import names
from dosirak.errors import NotFoundError, StackError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, Row
from dosirak.metadata.records import ComponentRecord, StackRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.settings import env_value

COMPONENT_TYPES = ("orchestrator", "artifact-store", "model-deployer")
REQUIRED_TYPES = ("orchestrator", "artifact-store")
ACTIVE_STACK_KEY = "active_stack"
_INSERT_COMPONENT = tables.STACK_COMPONENTS.insert_sql()
_INSERT_STACK = tables.STACKS.insert_sql() + " RETURNING id"
_INSERT_MEMBER = tables.STACK_MEMBERS.insert_sql()
_COMPONENT = "SELECT * FROM stack_components WHERE type = :type AND name = :name"


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
        from dosirak.stack.credentials import refuse_clear_text  # lazy: startup: a run only reads components

        check_type(component_type)
        check_name(component_type, name)
        refuse_clear_text(config, f"{component_type} '{name}'")
        with self.sql.write() as cur:
            if self._component_row(cur, component_type, name) is not None:
                raise StackError(
                    f"{component_type} '{name}' already exists; pick another name or "
                    f"`dosirak {component_type} delete {name}` first"
                )
            cur.execute(_INSERT_COMPONENT, tables.STACK_COMPONENTS.row(
                {"name": name, "type": component_type, "flavor": flavor, "config": config, "created_at": utcnow()}))
            row = cur.execute(_COMPONENT, {"type": component_type, "name": name})[0]
        return from_row(ComponentRecord, row)

    def update_component(self, component_type: str, name: str, config: dict[str, Any], *,
                         flavor: str | None = None) -> ComponentRecord:
        """Replace a component's options (and, given ``flavor``, its flavor); stacks using it follow."""
        from dosirak.stack.credentials import refuse_clear_text  # lazy: startup: a run only reads components

        refuse_clear_text(config, f"{component_type} '{name}'")
        with self.sql.write() as cur:
            row = self._component_row(cur, component_type, name)
            if row is None:
                raise self._no_component(component_type, name)
            cur.execute("UPDATE stack_components SET config = :config, flavor = :flavor WHERE id = :id",
                        {"config": config, "flavor": flavor or row["flavor"], "id": row["id"]})
            row = cur.execute(_COMPONENT, {"type": component_type, "name": name})[0]
        return from_row(ComponentRecord, row)

    @staticmethod
    def _component_row(cur: Cursor, component_type: str, name: str) -> Row | None:
        rows = cur.execute(_COMPONENT, {"type": component_type, "name": name})
        return rows[0] if rows else None

    @staticmethod
    def _no_component(component_type: str, name: str) -> NotFoundError:
        return NotFoundError(
            f"no {component_type} named '{name}'; `dosirak {component_type} list` shows them, "
            f"`dosirak {component_type} register {name} --flavor=...` makes one"
        )

    def get_component(self, component_type: str, name: str) -> ComponentRecord:
        check_type(component_type)
        with self.sql.read() as cur:
            row = self._component_row(cur, component_type, name)
        if row is None:
            raise self._no_component(component_type, name)
        return from_row(ComponentRecord, row)

    def list_components(self, component_type: str | None = None) -> list[ComponentRecord]:
        where, params = "", {}
        if component_type is not None:
            check_type(component_type)
            where, params = "WHERE type = :type ", {"type": component_type}
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT * FROM stack_components {where}ORDER BY type, name", params)
        return [from_row(ComponentRecord, r) for r in rows]

    def delete_component(self, component_type: str, name: str) -> None:
        with self.sql.write() as cur:
            row = self._component_row(cur, component_type, name)
            if row is None:
                raise self._no_component(component_type, name)
            users = [r["name"] for r in cur.execute(
                "SELECT stacks.name FROM stacks JOIN stack_members ON stack_members.stack_id = stacks.id "
                "WHERE stack_members.component_id = :component_id", {"component_id": row["id"]})]
            if users:
                raise StackError(
                    f"{component_type} '{name}' is used by stack(s) {', '.join(sorted(users))}; "
                    "delete those stacks or register them with another component first"
                )
            cur.execute("DELETE FROM stack_components WHERE id = :id", {"id": row["id"]})

    # -- stacks ---------------------------------------------------------------------
    def register_stack(self, name: str, components: dict[str, str], *, replace: bool = False) -> StackRecord:
        """Create (or with ``replace``, redefine) a stack from component names by type."""
        check_name("stack", name)
        for required in REQUIRED_TYPES:
            if not components.get(required):
                raise StackError(f"stack '{name}' needs an {required} (e.g. `-o default -a default`)")
        with self.sql.write() as cur:
            ids: list[int] = []
            for component_type, component_name in components.items():
                if not component_name:
                    continue
                check_type(component_type)
                row = self._component_row(cur, component_type, component_name)
                if row is None:
                    raise self._no_component(component_type, component_name)
                ids.append(row["id"])
            existing = _stack_id(cur, name)
            if existing is not None and not replace:
                raise StackError(f"a stack named '{name}' already exists with other components; `--replace` "
                                 "(replace=True) redefines it, or pick another name")
            if existing is None:
                existing = int(cur.execute(_INSERT_STACK, {"name": name, "created_at": utcnow()})[0]["id"])
            else:
                cur.execute("DELETE FROM stack_members WHERE stack_id = :stack_id", {"stack_id": existing})
            if ids:
                cur.executemany(_INSERT_MEMBER, [{"stack_id": existing, "component_id": cid} for cid in ids])
        return self.get_stack(name)

    def list_stacks(self) -> list[StackRecord]:
        with self.sql.read() as cur:
            names = [r["name"] for r in cur.execute("SELECT name FROM stacks ORDER BY name")]
        return [self.get_stack(n) for n in names]

    def delete_stack(self, name: str) -> None:
        if name == self.active_stack_name():
            raise StackError(f"stack '{name}' is active; `dosirak stack set OTHER` first")
        if name == "default":
            raise StackError("the 'default' stack cannot be deleted")
        with self.sql.write() as cur:
            stack_id = _stack_id(cur, name)
            if stack_id is None:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
            cur.execute("DELETE FROM stack_members WHERE stack_id = :stack_id", {"stack_id": stack_id})
            cur.execute("DELETE FROM stacks WHERE id = :stack_id", {"stack_id": stack_id})

    def set_active_stack(self, name: str) -> None:
        with self.sql.read() as cur:
            if _stack_id(cur, name) is None:
                raise NotFoundError(f"no stack named '{name}'; `dosirak stack list` shows them")
        self.set_value(ACTIVE_STACK_KEY, name)


def _stack_id(cur: Cursor, name: str) -> int | None:
    rows = cur.execute("SELECT id FROM stacks WHERE name = :name", {"name": name})
    return int(rows[0]["id"]) if rows else None


__all__ = ["ACTIVE_STACK_KEY", "COMPONENT_TYPES", "REQUIRED_TYPES", "Stacks", "check_name", "check_type"]
