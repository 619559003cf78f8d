"""config reload: the outcome of each reload of the YAML declarations

Revision ID: feec26115af7
Revises: 5d5d0dd09361
Create Date: 2026-12-04 15:35:39.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "feec26115af7"
down_revision = "5d5d0dd09361"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_reload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("trigger", sa.String(length=255), nullable=False),
        sa.Column("config_dir", sa.String(length=1024), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_reload")),
    )
    op.create_index(
        op.f("ix_config_reload_started_at"),
        "config_reload",
        ["started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_config_reload_started_at"), table_name="config_reload")
    op.drop_table("config_reload")
