"""Schema migrations: an empty database is brought to the head; a newer store is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from dosirak.errors import StoreVersionError
from dosirak.metadata import schema
from dosirak.metadata.engine import MIGRATIONS_DIR, current_revision, known_revisions
from dosirak.metadata.store import MetadataStore


def test_schema_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_heads() == [schema.SCHEMA_REVISION]
    assert known_revisions()[-1] == schema.SCHEMA_REVISION


def test_migrations_create_every_table_from_empty(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert current_revision(store.engine) == schema.SCHEMA_REVISION
        tables = set(inspect(store.engine).get_table_names())
        assert set(schema.metadata.tables) <= tables
        assert store.stacks.get_stack().name == "default"
        assert set(store.stacks.get_stack().components) == {"orchestrator", "artifact-store"}
    finally:
        store.close()


def test_migrated_schema_matches_the_table_definitions(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = MetadataStore(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert diff == []
    finally:
        store.close()


def test_reopening_an_up_to_date_store_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    first = MetadataStore(url)
    first.stacks.set_value("marker", {"kept": True})
    first.close()
    second = MetadataStore(url)
    try:
        assert second.stacks.get_value("marker") == {"kept": True}
    finally:
        second.close()


def test_a_store_with_an_unknown_newer_revision_raises_store_version_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    store = MetadataStore(url)
    with store.sql.write() as cur:
        cur.execute("UPDATE alembic_version SET version_num = '9999'")
    store.close()
    with pytest.raises(StoreVersionError, match=r"schema revision '9999'.*created by a newer dosirak; upgrade dosirak"):
        MetadataStore(url)


def test_a_store_at_an_older_revision_is_upgraded_in_place(tmp_path: Path) -> None:
    from sqlalchemy import text

    from dosirak.metadata.engine import make_engine, upgrade
    from dosirak.metadata.store import MetadataStore
    from dosirak.metadata.tables import SCHEMA_REVISION

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    engine.dispose()

    store = MetadataStore(url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_REVISION
        indexes = {row[1] for row in conn.execute(text("PRAGMA index_list('artifacts')"))}
    assert "ix_artifacts_created_at" in indexes
    assert store.stacks.get_stack("default").name == "default"  # seeded data survived the upgrade
    store.close()
