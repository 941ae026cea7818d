"""step placement (host, worker, resources) and metrics logged by steps

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("resources", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Double(), nullable=True),
        sa.Column("wall_time", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["step_run_id"], ["step_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metrics_series", "metrics", ["step_run_id", "name", "step"])
    op.create_table(
        "metric_summaries",
        sa.Column("step_run_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("latest", sa.Double(), nullable=True),
        sa.Column("latest_step", sa.BigInteger(), nullable=False),
        sa.Column("lowest", sa.Double(), nullable=True),
        sa.Column("highest", sa.Double(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["step_run_id"], ["step_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("step_run_id", "name"),
    )
    op.create_index("ix_metric_summaries_run", "metric_summaries", ["run_id", "name"])
    op.create_table(
        "logged_metadata",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_run_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["step_run_id"], ["step_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_logged_metadata_target", "logged_metadata", ["target", "target_id"])
    op.create_index("ix_logged_metadata_step_run", "logged_metadata", ["step_run_id"])


def downgrade() -> None:
    op.drop_index("ix_logged_metadata_step_run", table_name="logged_metadata")
    op.drop_index("ix_logged_metadata_target", table_name="logged_metadata")
    op.drop_table("logged_metadata")
    op.drop_index("ix_metric_summaries_run", table_name="metric_summaries")
    op.drop_table("metric_summaries")
    op.drop_index("ix_metrics_series", table_name="metrics")
    op.drop_table("metrics")
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("resources")
        batch.drop_column("worker")
        batch.drop_column("host")
