"""indexes for newest-first listings of artifacts and runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_created_at", "artifacts", ["created_at"])
    op.create_index("ix_pipeline_runs_start_time", "pipeline_runs", ["start_time"])


def downgrade() -> None:
    op.drop_index("ix_pipeline_runs_start_time", table_name="pipeline_runs")
    op.drop_index("ix_artifacts_created_at", table_name="artifacts")
