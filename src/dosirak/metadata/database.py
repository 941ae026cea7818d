"""The connection every part of the metadata store shares: drivers, transactions, schema.

Each concept's operations (``store.runs``, ``store.stacks``, ``store.models`` ...) are a
:class:`Concept` on one :class:`Database`, which
:class:`~dosirak.metadata.store.MetadataStore` opens. Two ways in, on the same tables:

* ``sql``: SQL text through :mod:`dosirak.metadata.driver` (``sqlite3`` for a SQLite
  file), for the concepts a pipeline run uses (runs, artifacts, stacks, references), so a
  run never waits for SQLAlchemy to import;
* ``read()`` / ``write()``: SQLAlchemy Core connections, for models, bundles, deployments
  and overviews, and for the listings of the others. The engine is created on first use.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dosirak.errors import StoreError
from dosirak.metadata.driver import Driver, EngineDriver, SqliteDriver, sqlite_path
from dosirak.metadata.sqlite import SQLITE_BUSY_TIMEOUT_S
from dosirak.metadata.tables import SCHEMA_REVISION

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult, Engine


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
        from dosirak.metadata.engine import ensure_schema

        ensure_schema(self.engine, self.url)

    @cached_property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use."""
        from dosirak.metadata.engine import make_engine

        return make_engine(self.url)

    def write(self) -> AbstractContextManager[Connection]:
        """One write transaction: committed on success, rolled back on error."""
        from dosirak.metadata.engine import write_transaction

        return write_transaction(self.engine)

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for reads (one consistent snapshot until it closes)."""
        from dosirak.metadata.engine import read_connection

        return read_connection(self.engine)

    def close(self) -> None:
        self.sql.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


class Concept:
    """One concept's operations on the store's database (``store.runs``, ``store.models`` ...)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def sql(self) -> Driver:
        """SQL text on the database (see :mod:`dosirak.metadata.driver`)."""
        return self.db.sql

    def _write(self) -> AbstractContextManager[Connection]:
        return self.db.write()

    def _read(self) -> AbstractContextManager[Connection]:
        return self.db.read()


__all__ = ["Concept", "Database", "inserted_id"]
