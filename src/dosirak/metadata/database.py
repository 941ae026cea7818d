"""The connection every part of the metadata store shares: drivers, transactions, schema.

Each concept's store operations (``recorder.py``, ``_runs.py``, ``_stacks.py`` ...) subclass
:class:`Database`, and :class:`~dosirak.metadata.store.MetadataStore` combines them. Two
ways in, on the same database:

* ``self.sql``: SQL text through :mod:`dosirak.metadata.driver` (``sqlite3`` for a SQLite
  file), for what a pipeline run does, so a run never waits for SQLAlchemy to import;
* ``self._read()`` / ``self._write()``: SQLAlchemy Core connections, for everything else.
  The engine is created on first use.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dosirak.errors import StoreError
from dosirak.metadata.driver import Driver, EngineDriver, SqliteDriver, sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult, Engine

#: The newest migration's revision id. A test checks it equals alembic's head.
SCHEMA_REVISION = "0004"
SQLITE_BUSY_TIMEOUT_S = 60.0


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
        path = sqlite_path(url)
        self.sql: Driver
        if path is not None:
            driver = SqliteDriver(path, SQLITE_BUSY_TIMEOUT_S)
            if driver.revision() != SCHEMA_REVISION:  # an up-to-date store is one query away
                self._ensure_schema()
            self.sql = driver
        else:
            self._ensure_schema()
            self.sql = EngineDriver(self.engine)

    def _ensure_schema(self) -> None:
        from dosirak.metadata.engine import ensure_schema  # lazy: cycle

        ensure_schema(self.engine, self.url)

    @cached_property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use."""
        from dosirak.metadata.engine import make_engine  # lazy: cycle

        return make_engine(self.url)

    def _write(self) -> AbstractContextManager[Connection]:
        """One write transaction: committed on success, rolled back on error."""
        from dosirak.metadata.engine import write_transaction  # lazy: cycle

        return write_transaction(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for reads (one consistent snapshot until it closes)."""
        from dosirak.metadata.engine import read_connection  # lazy: cycle

        return read_connection(self.engine)

    def close(self) -> None:
        self.sql.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


__all__ = ["SCHEMA_REVISION", "Database", "inserted_id"]
