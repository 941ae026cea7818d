"""SQL text on the metadata database: the one way every concept of the store reads and writes.

A pipeline run records a handful of rows per step, and a CLI command reads a few. Importing
SQLAlchemy alone takes 0.25-0.45 s on a small machine, longer than a whole run of ten
steps, so every operation of the store (``store.runs``, ``.artifacts``, ``.stacks``,
``.references``, ``.models``, ``.bundles``, ``.deployments``, ``.overview``) is written
once as portable SQL text (``:name`` parameters, ``RETURNING``, ``LIKE ... ESCAPE``,
``IN`` lists spelled out by :func:`in_list`) and run by one of two drivers:

* :class:`SqliteDriver`: the standard library's ``sqlite3`` on a SQLite file, with the
  same pragmas and ``BEGIN IMMEDIATE`` writes as the SQLAlchemy engine
  (:mod:`dosirak.metadata.engine`);
* :class:`EngineDriver`: a SQLAlchemy engine (PostgreSQL, or any other URL).

Both hand back rows as plain dicts with the values SQLAlchemy's column types would give:
JSON columns parsed, times as aware UTC datetimes, booleans as ``bool``. Which column holds
what is known by its name, from the one description of the tables
(:data:`dosirak.metadata.tables.JSON_COLUMNS` ...), so a parameter or a result column
must be named after the column it stands for (``AS created_at``) to be converted.
SQLAlchemy Core is not used for queries: the tables it knows (:mod:`dosirak.metadata.schema`)
are for alembic's migrations.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dosirak import disk
from dosirak.errors import NotFoundError, StoreError
from dosirak.metadata.like import LIKE_ESCAPE, like_prefix
from dosirak.metadata.sqlite import BUSY_CODES, configure_sqlite, primary_code
from dosirak.metadata.tables import BOOL_COLUMNS, JSON_COLUMNS, TIME_COLUMNS
from dosirak.metadata.timeutil import as_utc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

Row = dict[str, Any]
_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")
#: How SQLAlchemy's DateTime stores a (UTC) time in SQLite, so both read each other's rows.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
#: Rows fetched at a time by ``Cursor.stream``.
_STREAM_BATCH = 10_000


class Cursor(Protocol):
    """One open transaction: statements with ``:name`` parameters, rows as dicts."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]], *, plain: bool = False) -> None:
        """One statement for each row. ``plain``: every value is a number, text or None (no
        JSON or time column), passed as it is: for long batches (metric points)."""
        ...

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """The rows of a query one at a time, as plain tuples (no conversion): for long
        results read once (a metric series), never held whole in memory."""
        ...


class Driver(Protocol):
    """Transactions on one metadata database."""

    def write(self) -> AbstractContextManager[Cursor]: ...

    def read(self) -> AbstractContextManager[Cursor]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------- SQLite
def _sqlite_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):
        return as_utc(value).strftime(_SQLITE_TIME)  # type: ignore[union-attr]
    return value


def _typed(name: str, value: Any, json_text: bool = True) -> Any:
    """A value read through untyped SQL text, as the column's SQLAlchemy type would give it.

    ``json_text``: the database hands back a JSON column's text (SQLite), not parsed values
    (PostgreSQL's driver parses them itself).
    """
    if value is None:
        return None
    if name in JSON_COLUMNS:
        # a JSON column has numeric affinity in SQLite: the text "1" comes back as the number 1
        return json.loads(value) if json_text and isinstance(value, str) else value
    if name in TIME_COLUMNS:
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    if name in BOOL_COLUMNS:
        return bool(value)
    return value


def _from_sqlite(names: Sequence[str], values: Sequence[Any]) -> Row:
    return {name: _typed(name, value) for name, value in zip(names, values, strict=True)}


class _SqliteCursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        values = {k: _sqlite_value(k, v) for k, v in (params or {}).items()}
        cur = self._conn.execute(sql, values)
        if cur.description is None:
            return []
        names = [d[0] for d in cur.description]
        return [_from_sqlite(names, r) for r in cur.fetchall()]

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]], *, plain: bool = False) -> None:
        if plain:
            self._conn.executemany(sql, rows)
            return
        self._conn.executemany(sql, [{k: _sqlite_value(k, v) for k, v in r.items()} for r in rows])

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        cur = self._conn.execute(sql, {k: _sqlite_value(k, v) for k, v in (params or {}).items()})
        while batch := cur.fetchmany(_STREAM_BATCH):
            yield from batch


_ADVICE = {  # what a user can do about a SQLite error, by its primary result code
    **dict.fromkeys(BUSY_CODES, "another process has held it locked for longer than the busy timeout; stop that "
                           "process or wait for it, or point DOSIRAK_HOME or DOSIRAK_METADATA_URL elsewhere"),
    **dict.fromkeys((sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT),
                    "move that file aside (an empty store is created in its place) or point DOSIRAK_HOME "
                    "or DOSIRAK_METADATA_URL elsewhere"),
    **dict.fromkeys((sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM),
                    "check that its directory exists and is writable, or point DOSIRAK_HOME or "
                    "DOSIRAK_METADATA_URL elsewhere"),
}


def _store_error(what: str, exc: sqlite3.Error, path: str) -> StoreError:
    """A StoreError saying what failed and what to do; "disk full" when the disk holding ``path`` is."""
    if disk.out_of_space(exc, path):
        return StoreError(disk.full_message(path, "writing the metadata store", exc))
    advice = _ADVICE.get(primary_code(exc))
    return StoreError(f"{what}: {exc}; {advice}" if advice else f"{what}: {exc}")


class SqliteDriver:
    """A SQLite file through the standard library: WAL, a busy timeout, one writer at a time.

    One connection per process, shared by its threads under a lock; a forked child opens
    its own on first use.
    """

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self.path = path
        self._timeout = busy_timeout_s
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        _drivers.add(self)

    def _after_fork_in_child(self) -> None:
        # another thread (a run's heartbeat) may have held the lock at the fork: it never returns here
        self._lock = threading.RLock()
        self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of the metadata store '{self.path}': {exc}; "
                                 "point DOSIRAK_HOME or DOSIRAK_METADATA_URL somewhere writable") from exc
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                       check_same_thread=False)
                configure_sqlite(conn, self._timeout)
            except sqlite3.Error as exc:
                raise _store_error(f"cannot open the metadata store '{self.path}'", exc, self.path) from exc
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Cursor]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(begin)
                try:
                    yield _SqliteCursor(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error that matters is exc
                raise _store_error(f"the metadata store '{self.path}' failed a transaction", exc, self.path) from exc

    def write(self) -> AbstractContextManager[Cursor]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[Cursor]:
        """A read transaction: one consistent snapshot until it ends."""
        return self._transaction("BEGIN")

    def revision(self) -> str | None:
        """The schema revision alembic recorded, or None for a database without one."""
        with self.read() as cur:
            if not cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"):
                return None
            rows = cur.execute("SELECT version_num FROM alembic_version")
        return rows[0]["version_num"] if rows else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


_drivers: weakref.WeakSet[SqliteDriver] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for driver in list(_drivers):
        driver._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)


# ------------------------------------------------------------------------ SQLAlchemy
class _EngineCursor:
    def __init__(self, conn: Connection, statements: dict[str, Any]) -> None:
        self._conn = conn
        self._statements = statements
        self._json_text = conn.dialect.name != "postgresql"

    def _statement(self, sql: str) -> Any:
        statement = self._statements.get(sql)
        if statement is None:
            from sqlalchemy import JSON, bindparam, text

            from dosirak.metadata.schema import UTC as UTC_TIME

            names = dict.fromkeys(_PARAM.findall(sql))
            typed = [bindparam(n, type_=JSON) for n in names if n in JSON_COLUMNS]
            typed += [bindparam(n, type_=UTC_TIME) for n in names if n in TIME_COLUMNS]
            statement = self._statements[sql] = text(sql).bindparams(*typed)
        return statement

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        result = self._conn.execute(self._statement(sql), dict(params or {}))
        if not result.returns_rows:
            return []
        return [{name: _typed(name, value, self._json_text) for name, value in row._mapping.items()} for row in result]

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]], *, plain: bool = False) -> None:
        self._conn.execute(self._statement(sql), [dict(r) for r in rows])

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        result = self._conn.execution_options(stream_results=True).execute(self._statement(sql), dict(params or {}))
        for row in result:
            yield tuple(row)


class EngineDriver:
    """The same transactions on a SQLAlchemy engine (PostgreSQL: writers queue on an advisory lock)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._statements: dict[str, Any] = {}

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        from dosirak.metadata.engine import write_transaction

        with write_transaction(self.engine) as conn:
            yield _EngineCursor(conn, self._statements)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        from dosirak.metadata.engine import read_connection

        with read_connection(self.engine) as conn:
            yield _EngineCursor(conn, self._statements)

    def close(self) -> None:
        self.engine.dispose()


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name_0, :name_1, ...)`` and its parameters, for ``column IN (...)``."""
    params = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(":" + k for k in params) + ")", params


def one_by_id_or_prefix(cur: Cursor, select: str, column: str, key: str, what: str) -> Row | None:
    """The row whose ``column`` is ``key``, or the one row whose id starts with it (4+ characters)."""
    rows = cur.execute(f"{select} WHERE {column} = :key", {"key": key})
    if not rows and len(key) >= 4:
        rows = cur.execute(f"{select} WHERE {column} LIKE :prefix ESCAPE '{LIKE_ESCAPE}' LIMIT 2",
                           {"prefix": like_prefix(key)})
        if len(rows) > 1:
            raise NotFoundError(f"{what} id prefix '{key}' is ambiguous; give more characters")
    return rows[0] if rows else None


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///PATH`` URL (or ``sqlite+pysqlite``), or None for any other URL
    (memory, a URL with options, another driver): those go through SQLAlchemy."""
    scheme, sep, path = url.partition(":///")
    if scheme not in ("sqlite", "sqlite+pysqlite") or not sep or "?" in path:
        return None
    return path if path and path != ":memory:" else None


__all__ = ["Cursor", "Driver", "EngineDriver", "Row", "SqliteDriver", "in_list", "one_by_id_or_prefix", "sqlite_path"]
