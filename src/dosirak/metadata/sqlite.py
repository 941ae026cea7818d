"""How every connection to a SQLite metadata file is set up (stdlib ``sqlite3`` or SQLAlchemy's).

The store's driver (:mod:`dosirak.metadata.driver`) and the SQLAlchemy engine that migrates
a file or drives a SQLite URL with options (:mod:`dosirak.metadata.engine`) call
:func:`configure_sqlite` on each new connection, so they share WAL mode, the busy timeout
and foreign-key checks.
"""

from __future__ import annotations

import sqlite3
import time

SQLITE_BUSY_TIMEOUT_S = 60.0
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def primary_code(exc: sqlite3.Error) -> int:
    """The SQLite result code of ``exc`` without its extended bits (``SQLITE_BUSY_SNAPSHOT`` is busy)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def configure_sqlite(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Put a new SQLite connection in WAL mode, with NORMAL sync and FK checks.

    ``conn`` was opened with ``timeout=busy_timeout_s``. Switching a new file to WAL needs an
    exclusive lock, and SQLite answers "database is locked" at once, without waiting, when
    another process is creating the same file at that moment (waiting could deadlock). So
    the switch is retried until the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout_s
    pause = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if primary_code(exc) not in BUSY_CODES or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


__all__ = ["BUSY_CODES", "SQLITE_BUSY_TIMEOUT_S", "configure_sqlite", "primary_code"]
