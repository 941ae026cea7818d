"""Alembic environment: runs migrations on the connection dosirak hands over."""

from __future__ import annotations

from alembic import context

from dosirak.metadata.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic revision --autogenerate` from a developer's shell
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
