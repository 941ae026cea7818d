"""Opening the metadata database: engine options, SQLite pragmas, transactions, migrations.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of failing with
"database is locked". PostgreSQL keeps the same contract: a write transaction first takes
a transaction-scoped advisory lock, so writers queue one after another and the store's
read-then-write steps (the next model version, a pipeline created by its first run) never
race; a read runs in one read-only REPEATABLE READ snapshot, as a SQLite read transaction
does; sessions use UTC. An up-to-date store is recognised by one query, so alembic is
imported only when the schema must be created or upgraded.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

from dosirak import disk
from dosirak.errors import StoreError, StoreVersionError
from dosirak.metadata.sqlite import SQLITE_BUSY_TIMEOUT_S, configure_sqlite
from dosirak.metadata.tables import SCHEMA_REVISION

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock keys: schema migrations (session lock), writes (transaction lock).
PG_MIGRATION_LOCK = 727001
PG_WRITE_LOCK = 727002
#: PostgreSQL's SQLSTATE for "disk full".
PG_DISK_FULL = "53100"


def known_revisions() -> list[str]:
    """Revision ids of the migrations shipped with this dosirak, oldest first."""
    versions = MIGRATIONS_DIR / "versions"
    return sorted(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite files get WAL, a busy timeout and FK checks."""
    is_sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        if url.startswith("postgresql"):
            # timestamps are timestamptz; a UTC session keeps any server-side conversion in UTC
            kwargs["connect_args"] = {"options": "-c timezone=UTC"}
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot open metadata store at '{_redact(url)}': {exc}; check DOSIRAK_METADATA_URL "
            "(PostgreSQL needs `pip install 'dosirak[postgres]'`)"
        ) from exc
    if is_sqlite:
        _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        configure_sqlite(dbapi_conn, SQLITE_BUSY_TIMEOUT_S)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any error.

    A SQLite file on a full disk, or a PostgreSQL server out of disk space (SQLSTATE
    53100), is a StoreError saying "disk full"; nothing of the transaction is written.
    """
    try:
        with engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        # writers queue here, like SQLite's BEGIN IMMEDIATE; released at commit/rollback
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK})
                    yield conn
            finally:
                conn.info["write"] = False
    except DBAPIError as exc:
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        if path and path != ":memory:" and disk.out_of_space(exc, path):
            raise StoreError(disk.full_message(path, "writing the metadata store", exc.orig)) from exc
        if getattr(exc.orig, "sqlstate", None) == PG_DISK_FULL:
            server = f"{engine.url.host or 'localhost'}:{engine.url.port or 5432}/{engine.url.database}"
            first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "no detail"
            raise StoreError(
                f"disk full: the PostgreSQL server of the metadata store ({server}) has no space left "
                f"({first_line}); nothing of this change was written. Free space on the database server's "
                "disk (or the tablespace holding this database) and try again") from exc
        raise


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (one consistent snapshot until it closes)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        yield conn


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision, or None for an empty database."""
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            conn.rollback()
    except (OperationalError, ProgrammingError):
        return None
    return row[0] if row else None


def ensure_schema(engine: Engine, url: str) -> None:
    """Create or upgrade the schema; refuse a store written by a newer dosirak."""
    revision = current_revision(engine)
    if revision == SCHEMA_REVISION:
        return
    known = known_revisions()
    if revision is not None and revision not in known:
        raise StoreVersionError(
            f"the metadata store at '{_redact(url)}' has schema revision '{revision}', which this "
            f"dosirak (knows up to '{SCHEMA_REVISION}') does not know: it was created by a newer "
            "dosirak; upgrade dosirak (`pip install -U dosirak`) or point DOSIRAK_METADATA_URL elsewhere"
        )
    with _migration_lock(url, engine):
        if current_revision(engine) == SCHEMA_REVISION:
            return
        upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the shipped alembic migrations up to ``revision`` (tests build older stores with it)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    log.debug("upgrading metadata store schema to %s", revision)
    with engine.connect() as conn:
        conn.info["write"] = False
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create or upgrade the metadata store schema: {exc}") from exc


@contextmanager
def _migration_lock(url: str, engine: Engine) -> Iterator[None]:
    """Serialise schema creation between processes."""
    if url.startswith("sqlite") and "///" in url and not url.endswith(":memory:"):
        lock_path = url.split("///", 1)[1].split("?", 1)[0] + ".migrate.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_MIGRATION_LOCK})
                conn.commit()
    else:
        yield


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
