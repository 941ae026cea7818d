"""reset PostgreSQL id sequences past the default stack seeded with explicit ids

Revision 0001 inserts the default stack's rows with explicit ids (components 1 and 2,
stack 1). PostgreSQL does not advance a serial column's sequence for explicit ids, so the
first component or stack registered afterwards was given id 1 again and failed with a
duplicate key. This moves every integer id sequence past the largest id in its table.
SQLite picks max(id) + 1 by itself: there this migration does nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Tables whose ``id`` is an autoincrementing integer (a serial column on PostgreSQL).
SERIAL_ID_TABLES = ("pipelines", "stack_components", "stacks", "models", "model_alias_history")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in SERIAL_ID_TABLES:
        # setval(seq, max + 1, false): the next nextval() returns max + 1 (1 for an empty table)
        bind.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
        ))


def downgrade() -> None:
    """Nothing to undo: the sequences stay valid for the older schema."""
