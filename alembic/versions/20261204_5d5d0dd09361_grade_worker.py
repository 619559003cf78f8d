"""grade worker: claims, pending scores, dead links, worker passes

Revision ID: 5d5d0dd09361
Revises: 2f7039b826f1
Create Date: 2026-12-04 15:27:17.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "5d5d0dd09361"
down_revision = "2f7039b826f1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("grade_link") as batch:
        batch.add_column(sa.Column("pending_score", sa.Double(), nullable=True))
        batch.add_column(sa.Column("last_sent_sourcedid", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("dead_at", sa.DateTime(), nullable=True))
    op.create_index(
        op.f("ix_grade_link_activity_id"), "grade_link", ["activity_id"], unique=False
    )
    op.create_table(
        "worker_pass",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("activities_synced", sa.Integer(), nullable=False),
        sa.Column("activities_skipped", sa.Integer(), nullable=False),
        sa.Column("activities_failed", sa.Integer(), nullable=False),
        sa.Column("grades_sent", sa.Integer(), nullable=False),
        sa.Column("grades_failed", sa.Integer(), nullable=False),
        sa.Column("lms_requests", sa.Integer(), nullable=False),
        sa.Column("wims_requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_pass")),
    )
    op.create_index(
        op.f("ix_worker_pass_started_at"), "worker_pass", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_pass_started_at"), table_name="worker_pass")
    op.drop_table("worker_pass")
    op.drop_index(op.f("ix_grade_link_activity_id"), table_name="grade_link")
    with op.batch_alter_table("grade_link") as batch:
        batch.drop_column("dead_at")
        batch.drop_column("last_message")
        batch.drop_column("last_sent_sourcedid")
        batch.drop_column("pending_score")
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
