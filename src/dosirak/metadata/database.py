"""The connection every part of the metadata store shares: its driver and its schema.

Each concept's operations (``store.runs``, ``store.stacks``, ``store.models`` ...) are a
:class:`Concept` on one :class:`Database`, which
:class:`~dosirak.metadata.store.MetadataStore` opens. There is one way in: SQL text
through the database's driver (:mod:`dosirak.metadata.driver`), ``sql.read()`` and
``sql.write()``, one transaction each. A SQLite file is driven by the standard library's
``sqlite3``; any other URL (PostgreSQL) by a SQLAlchemy engine. SQLAlchemy (and alembic)
are imported for a SQLite file only when its schema must be created or upgraded.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from dosirak.metadata.driver import Driver, EngineDriver, SqliteDriver, sqlite_path
from dosirak.metadata.sqlite import SQLITE_BUSY_TIMEOUT_S
from dosirak.metadata.tables import SCHEMA_REVISION

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


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
        """The SQLAlchemy engine, created (and SQLAlchemy imported) on first use: the driver of a
        non-SQLite URL, and what migrations run on."""
        from dosirak.metadata.engine import make_engine

        return make_engine(self.url)

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


__all__ = ["Concept", "Database"]
