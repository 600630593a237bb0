"""ingest history: zip members, decoder and update time per activity, compact run series

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("container_member", sa.Text(), nullable=True))
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decoder", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "activity_series",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], ondelete="CASCADE",
            name=op.f("fk_activity_series_activity_id_activities"),
        ),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_activity_series")),
    )


def downgrade() -> None:
    op.drop_table("activity_series")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("decoder")
    with op.batch_alter_table("source_files", schema=None) as batch_op:
        batch_op.drop_column("container_member")
