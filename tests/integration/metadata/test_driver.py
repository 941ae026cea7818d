"""The store's driver on a real PostgreSQL server hands back every column kind as on SQLite."""

from __future__ import annotations

import pytest

from dosirak.metadata.driver import EngineDriver, SqliteDriver
from dosirak.metadata.store import MetadataStore, get_store
from tests.metadata.test_driver import check_column_kinds

pytestmark = pytest.mark.integration


def test_the_engine_driver_on_postgresql_gives_every_column_kind_as_the_sqlite_driver_does(postgres_url: str) -> None:
    sqlite = get_store()
    assert isinstance(sqlite.sql, SqliteDriver)
    check_column_kinds(sqlite)
    postgres = MetadataStore(postgres_url)
    try:
        assert isinstance(postgres.sql, EngineDriver)
        check_column_kinds(postgres)
    finally:
        postgres.close()
