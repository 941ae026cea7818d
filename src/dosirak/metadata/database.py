"""The connection every part of the metadata store shares: engine, transactions, key/values.

Each concept's store operations (``_runs.py``, ``_stacks.py`` ...) subclass
:class:`Database`, and :class:`~dosirak.metadata.store.MetadataStore` combines them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, CursorResult

from dosirak.errors import StoreError
from dosirak.metadata import schema as t
from dosirak.metadata.engine import ensure_schema, make_engine, read_connection, write_transaction


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key an ``INSERT`` just created."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table we insert into has a primary key
        raise StoreError("the database returned no primary key for an insert")
    return int(key[0])


class Database:
    """An opened metadata database (schema created or upgraded on open)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        ensure_schema(self.engine, url)

    def _write(self) -> AbstractContextManager[Connection]:
        """One write transaction: committed on success, rolled back on error."""
        return write_transaction(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for reads (one consistent snapshot until it closes)."""
        return read_connection(self.engine)

    def get_value(self, key: str, default: Any = None) -> Any:
        """A setting kept in the store (e.g. the active stack)."""
        with self._read() as conn:
            row = conn.execute(select(t.kv.c.value).where(t.kv.c.key == key)).first()
        return default if row is None else row[0]

    def set_value(self, key: str, value: Any) -> None:
        with self._write() as conn:
            conn.execute(delete(t.kv).where(t.kv.c.key == key))
            conn.execute(insert(t.kv).values(key=key, value=value))

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "inserted_id"]
